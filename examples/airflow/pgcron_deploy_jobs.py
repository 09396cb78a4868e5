"""Deploy recurring pg_cron jobs from a DAG with ``PgCronJobsOperator`` (plan, log the plan, apply).

``jobs_file=`` takes a jobs file (docs/jobs-file.md); here the jobs are given inline. Jobs are named
``<namespace>:<name>``; nothing outside the namespace is touched.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG
from pgcron_airflow.operators.jobs import PgCronJobsOperator

with DAG(
    dag_id="pgcron_deploy_jobs",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"namespace": "reports"},
    tags=["pgcron", "example"],
) as dag:
    # [START howto_pgcron_jobs_operator]
    deploy = PgCronJobsOperator(
        task_id="deploy_jobs",
        namespace="{{ params.namespace }}",
        specs=[
            {
                "name": "vacuum-events",
                "schedule": "17 3 * * *",
                "command": "VACUUM (ANALYZE) pg_catalog.pg_class",
            },
            {
                "name": "heartbeat",
                "schedule": "*/5 * * * *",
                "command": "SELECT 1",
                "description": "liveness",
            },
        ],
        prune=True,  # delete jobs of the namespace that are no longer declared
    )
    # [END howto_pgcron_jobs_operator]
