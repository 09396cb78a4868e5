"""A DAG for the managed-flavour tests: one task as the customer's admin (``postgres_default``, waiting on the
worker) and one as ``pgcron_app`` (deferred to the triggerer) — an app role, or the admin again on Neon —
each bumping its own counter."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG
from pgcron_airflow.operators.pgcron import PgCronOperator

with DAG(
    dag_id="pgcron_managed",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"admin_table": "public.mgaf_admin", "app_table": "public.mgaf_app"},
) as dag:
    as_admin = PgCronOperator(
        task_id="as_admin",
        sql="UPDATE {{ params.admin_table }} SET n = n + 1",
        deferrable=False,
    )
    as_app = PgCronOperator(
        task_id="as_app_deferred",
        postgres_conn_id="pgcron_app",
        sql="UPDATE {{ params.app_table }} SET n = n + 1",
        deferrable=True,
        poll_interval=5,
    )
    as_admin >> as_app
