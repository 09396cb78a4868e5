"""Push SQL down into PostgreSQL with ``PgCronOperator``.

Each task hands its SQL to pg_cron (the pgcron pushdown) and its state is the run's outcome. The
``postgres_default`` connection must point at the database named by ``cron.database_name``.
The counter table is a parameter so the test suite can run this DAG against a scratch table.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG
from pgcron_airflow.operators.pgcron import PgCronOperator

with DAG(
    dag_id="pgcron_pushdown",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"counter_table": "public.pgcron_example_counter"},
    tags=["pgcron", "example"],
) as dag:
    # [START howto_pgcron_operator]
    bump = PgCronOperator(
        task_id="bump_counter",
        sql="UPDATE {{ params.counter_table }} SET n = n + 1, updated_at = now()",
        deferrable=False,  # wait on the worker, like SQLExecuteQueryOperator
        retries=2,  # a retry re-attaches to the run instead of running the UPDATE again
    )
    # [END howto_pgcron_operator]

    # [START howto_pgcron_operator_deferrable]
    bump_deferred = PgCronOperator(
        task_id="bump_counter_deferred",
        sql="UPDATE {{ params.counter_table }} SET n = n + 1, updated_at = now()",
        deferrable=True,  # free the worker slot; the triggerer waits for the run
        timeout=3600,  # the database cancels the statement after an hour
        poll_interval=30,
    )
    # [END howto_pgcron_operator_deferrable]

    # [START howto_pgcron_operator_sql_file]
    bump_from_file = PgCronOperator(
        task_id="bump_counter_from_file",
        sql="sql/bump_counter.sql",  # read from the DAG folder and rendered with Jinja
    )
    # [END howto_pgcron_operator_sql_file]

    bump >> bump_deferred >> bump_from_file
