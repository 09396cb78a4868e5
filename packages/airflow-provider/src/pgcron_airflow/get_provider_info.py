"""Provider metadata read by Airflow's providers manager through the `apache_airflow_provider` entry point."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Describe this provider to Airflow."""
    return {
        "package-name": "airflow-provider-pgcron",
        "name": "pgcron",
        "description": "Push tasks down into PostgreSQL through pg_cron and see each run as the task's state.",
        "versions": ["0.1.0"],
    }
