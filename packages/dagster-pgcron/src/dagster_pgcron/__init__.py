"""Dagster integration for pgcron: pushdown assets and pg_cron jobs observed as assets.

* ``PgCronResource`` hands out the core ``pgcron.Client``.
* ``pgcron_assets`` / ``build_pgcron_assets`` / ``pgcron_asset``: assets whose materialization runs SQL
  inside PostgreSQL through the core pushdown, once per Dagster run lineage.
* ``DagsterPgCronTranslator``: recurring pg_cron jobs -> ``AssetSpec``s.
* ``build_pgcron_run_sensor`` / ``build_pgcron_job_checks``: runs pg_cron made on its own, as asset events.
* ``PgCronJobsComponent``: a jobs file in YAML -> specs, checks, sensor and an explicit apply job.
"""

from __future__ import annotations

from dagster_shared.libraries import DagsterLibraryRegistry

from dagster_pgcron.assets import build_pgcron_assets as build_pgcron_assets
from dagster_pgcron.assets import pgcron_asset as pgcron_asset
from dagster_pgcron.assets import pgcron_assets as pgcron_assets
from dagster_pgcron.component import PgCronJobsComponent as PgCronJobsComponent
from dagster_pgcron.component import build_apply_job as build_apply_job
from dagster_pgcron.materialize import idempotency_key as idempotency_key
from dagster_pgcron.resource import PgCronResource as PgCronResource
from dagster_pgcron.sensor import SensorSettings as SensorSettings
from dagster_pgcron.sensor import build_pgcron_job_checks as build_pgcron_job_checks
from dagster_pgcron.sensor import build_pgcron_run_sensor as build_pgcron_run_sensor
from dagster_pgcron.translator import CHECK_ON_SCHEDULE as CHECK_ON_SCHEDULE
from dagster_pgcron.translator import CHECK_RUN_SUCCEEDED as CHECK_RUN_SUCCEEDED
from dagster_pgcron.translator import DagsterPgCronTranslator as DagsterPgCronTranslator

__version__ = "0.1.0"

DagsterLibraryRegistry.register("dagster-pgcron", __version__, is_dagster_package=False)

__all__ = [
    "CHECK_ON_SCHEDULE",
    "CHECK_RUN_SUCCEEDED",
    "DagsterPgCronTranslator",
    "PgCronJobsComponent",
    "PgCronResource",
    "SensorSettings",
    "__version__",
    "build_apply_job",
    "build_pgcron_assets",
    "build_pgcron_job_checks",
    "build_pgcron_run_sensor",
    "idempotency_key",
    "pgcron_asset",
    "pgcron_assets",
]
