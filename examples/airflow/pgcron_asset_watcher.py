"""Schedule a DAG on a job that runs inside the database: an ``AssetWatcher`` on pg_cron runs.

``PgCronJobSucceededTrigger`` runs in the triggerer and fires for every new succeeded run of the job; each
firing becomes an asset event (its ``extra["payload"]`` holds the run), which schedules
``pgcron_after_purge``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Asset, AssetWatcher, task
from pgcron_airflow.triggers.pgcron import PgCronJobSucceededTrigger

# [START howto_pgcron_asset_watcher]
purged = Asset(
    "pgcron://shop/purge-events",
    watchers=[
        AssetWatcher(
            name="purge_events_succeeded",
            trigger=PgCronJobSucceededTrigger(
                postgres_conn_id="postgres_default", job="shop:purge-events", poll_interval=30
            ),
        )
    ],
)

with DAG(
    dag_id="pgcron_after_purge", schedule=[purged], start_date=datetime(2026, 1, 1), catchup=False
) as dag:

    @task
    def report(triggering_asset_events=None) -> list[int]:  # type: ignore[no-untyped-def]
        # an event's extra is {"from_trigger": True, "payload": {"job": ..., "run": {...}}}; the run has
        # jobid, runid, status, message, start, end, duration
        return [event.extra["payload"]["run"]["runid"] for event in triggering_asset_events[purged]]

    report()
# [END howto_pgcron_asset_watcher]
