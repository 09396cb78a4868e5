"""DAGs only the acceptance tests use: a failing statement, and a retry after a worker lost mid-wait.

``FlakyPgCronOperator`` simulates the worker dying after the SQL was submitted (its first try raises while
waiting); the second try must re-attach to that run, not execute the SQL again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException
from pgcron_airflow.operators.pgcron import PgCronOperator


class FlakyPgCronOperator(PgCronOperator):
    """Loses its first try right after submitting (a killed worker), like a real crash mid-wait."""

    def execute(self, context: Any) -> Any:
        self._try_number = context["ti"].try_number
        return super().execute(context)

    def _wait(self, client: Any, handle: Any) -> Any:
        if self._try_number == 1:
            raise AirflowException(f"simulated worker loss after submitting {handle.key}")
        return super()._wait(client, handle)


with DAG(
    dag_id="pgcron_test_failure",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
) as failure_dag:
    PgCronOperator(task_id="divide_by_zero", sql="SELECT 1/0", deferrable=False)
    PgCronOperator(
        task_id="missing_table_deferred", sql="SELECT * FROM pgcron_no_such_table", deferrable=True
    )


with DAG(
    dag_id="pgcron_test_retry",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"counter_table": "public.pgcron_example_counter"},
) as retry_dag:
    FlakyPgCronOperator(
        task_id="bump_once",
        # the sleep keeps the run in flight while the retry starts: it must re-attach to a running statement
        sql="SELECT pg_sleep(3); UPDATE {{ params.counter_table }} SET n = n + 1, updated_at = now()",
        deferrable=False,
        retries=1,
        retry_delay=timedelta(seconds=0),
    )
