"""Example Dagster definitions for dagster-pgcron (executed by tests/dagster).

* ``daily_sales`` / ``sales_summary``: pushdown assets; materializing runs their SQL inside PostgreSQL.
* ``always_fails``: a pushdown asset whose SQL fails, to show the failure metadata.
* the jobs of ``jobs.yaml`` (the core's jobs-file schema): observed assets, their checks, the run sensor,
  and the explicit ``pg_cron_apply_demo`` job that plans and applies them.

Run: ``PGCRON_DSN=... dagster dev -f examples/dagster/definitions.py``.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster_pgcron import (
    DagsterPgCronTranslator,
    PgCronJobsComponent,
    PgCronResource,
    build_pgcron_assets,
    pgcron_asset,
)

HERE = Path(__file__).parent
translator = DagsterPgCronTranslator(group_name="sales", owners=["team:data"])

sales = build_pgcron_assets(
    name="sales_pushdown",
    specs=[
        translator.get_pushdown_asset_spec(
            ["demo", "daily_sales"],
            "CREATE TABLE IF NOT EXISTS demo_daily_sales (day date PRIMARY KEY, n int);"
            " INSERT INTO demo_daily_sales VALUES (current_date, 1)"
            " ON CONFLICT (day) DO UPDATE SET n = demo_daily_sales.n + 1",
            description="Upsert today's row (runs inside PostgreSQL)",
        ),
        translator.get_pushdown_asset_spec(
            ["demo", "sales_summary"],
            "CREATE TABLE IF NOT EXISTS demo_sales_summary AS SELECT 0::bigint AS total;"
            " UPDATE demo_sales_summary SET total = (SELECT coalesce(sum(n), 0) FROM demo_daily_sales)",
            deps=[dg.AssetKey(["demo", "daily_sales"])],
        ),
    ],
    retry_policy=dg.RetryPolicy(max_retries=1),
)

always_fails = pgcron_asset(["demo", "always_fails"], "SELECT 1/0", group_name="sales")


def _observed() -> dg.Definitions:
    """The jobs file as definitions (one Definitions object may live at module scope)."""
    built = PgCronJobsComponent(jobs_file="jobs.yaml", audit_interval_seconds=600).build_defs_at(HERE)
    assert isinstance(built.resources["pg_cron"], PgCronResource)
    return built


# The component already provides the "pg_cron" resource (PgCronResource(dsn=dg.EnvVar("PGCRON_DSN"))); merging
# a second resource object under the same key would be refused by Definitions.merge.
defs = dg.Definitions.merge(dg.Definitions(assets=[sales, always_fails]), _observed())
