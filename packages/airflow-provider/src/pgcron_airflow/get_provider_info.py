"""Provider metadata read by Airflow's providers manager through the ``apache_airflow_provider`` entry point.

Connections are the postgres provider's ``postgres`` type: this provider registers no connection type of
its own. The version shown by ``airflow providers list`` comes from the installed distribution.
"""

from __future__ import annotations

from typing import Any

INTEGRATION = "PostgreSQL pg_cron"


def _modules(*names: str) -> list[dict[str, Any]]:
    return [{"integration-name": INTEGRATION, "python-modules": list(names)}]


def get_provider_info() -> dict[str, Any]:
    """Describe this provider to Airflow (schema: ``airflow/provider_info.schema.json``)."""
    return {
        "package-name": "airflow-provider-pgcron",
        "name": "pgcron",
        # `airflow providers list` deletes every "_", "`", "<" and ">" from the description: write none
        "description": (
            "Run tasks inside PostgreSQL through its cron extension and see each run as the task's state."
        ),
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://github.com/citusdata/pg_cron",
                "tags": ["software"],
            }
        ],
        "hooks": _modules("pgcron_airflow.hooks.pgcron"),
        "operators": _modules("pgcron_airflow.operators.pgcron", "pgcron_airflow.operators.jobs"),
        "sensors": _modules("pgcron_airflow.sensors.pgcron"),
        "triggers": _modules("pgcron_airflow.triggers.pgcron"),
    }
