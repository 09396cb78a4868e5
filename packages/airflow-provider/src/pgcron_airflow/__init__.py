"""Apache Airflow provider for pgcron: push tasks down into PostgreSQL through pg_cron.

The classes are imported on first use, so that Airflow reading the provider's metadata
(``pgcron_airflow.get_provider_info``) does not import Airflow's operator machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "PgCronHook": "pgcron_airflow.hooks.pgcron",
    "PgCronOperator": "pgcron_airflow.operators.pgcron",
    "PgCronJobsOperator": "pgcron_airflow.operators.jobs",
    "PgCronJobSensor": "pgcron_airflow.sensors.pgcron",
    "PgCronRunTrigger": "pgcron_airflow.triggers.pgcron",
    "PgCronJobRunTrigger": "pgcron_airflow.triggers.pgcron",
    "PgCronJobSucceededTrigger": "pgcron_airflow.triggers.pgcron",
}

__all__ = [
    "PgCronHook",
    "PgCronJobRunTrigger",
    "PgCronJobSensor",
    "PgCronJobSucceededTrigger",
    "PgCronJobsOperator",
    "PgCronOperator",
    "PgCronRunTrigger",
    "__version__",
]

if TYPE_CHECKING:
    from pgcron_airflow.hooks.pgcron import PgCronHook
    from pgcron_airflow.operators.jobs import PgCronJobsOperator
    from pgcron_airflow.operators.pgcron import PgCronOperator
    from pgcron_airflow.sensors.pgcron import PgCronJobSensor
    from pgcron_airflow.triggers.pgcron import (
        PgCronJobRunTrigger,
        PgCronJobSucceededTrigger,
        PgCronRunTrigger,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pgcron_airflow' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
