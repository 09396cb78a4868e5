"""Wait for a recurring pg_cron job with ``PgCronJobSensor`` before using what it produced.

The sensor succeeds when the job has a succeeded run that started at or after the DAG run's
``data_interval_end`` (or, for a manual run without a data interval, its ``run_after``), and fails at once
when the newest such run failed.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG
from pgcron_airflow.sensors.pgcron import PgCronJobSensor

with DAG(
    dag_id="pgcron_job_sensor",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"job": "shop:purge-events"},
    tags=["pgcron", "example"],
) as dag:
    # [START howto_pgcron_job_sensor]
    wait_for_purge = PgCronJobSensor(
        task_id="wait_for_purge",
        job="{{ params.job }}",
        fail_fast=True,  # a failed purge fails this task now, not at the sensor's timeout
        mode="reschedule",
        poll_interval=2,
        timeout=600,
        deferrable=False,
    )
    # [END howto_pgcron_job_sensor]

    # [START howto_pgcron_job_sensor_deferrable]
    wait_for_purge_deferred = PgCronJobSensor(
        task_id="wait_for_purge_deferred",
        job="{{ params.job }}",
        since="data_interval_end",  # or data_interval_start, logical_date, run_after; or after="{{ ... }}"
        poll_interval=2,
        timeout=600,
        deferrable=True,
    )
    # [END howto_pgcron_job_sensor_deferrable]
