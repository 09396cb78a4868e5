"""dagster-pgcron end to end on every managed flavour (RDS, Cloud SQL, Azure, Supabase, Neon), none with the
engine's NOTIFY trigger (waits poll): pushdown assets materialized as the customer's admin and as an app role
in one ``dg.materialize``, and the run sensor reporting an app role's scheduled runs as asset events. On Neon,
where app roles cannot schedule (``APP_ROLES_SCHEDULE``), the "app" resource is the admin's and the sensor
watches the admin's own jobs; a Neon test shows an app role's asset failing at once, naming the grant."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pgcron
import pytest
from dagster_pgcron import (
    DagsterPgCronTranslator,
    PgCronResource,
    build_pgcron_job_checks,
    build_pgcron_run_sensor,
    pgcron_asset,
)
from pgcron.errors import PermissionDenied
from psycopg import sql

from tests.managed.conftest import APP_ROLES_SCHEDULE, Managed, connect, eventually, rows

pytestmark = [pytest.mark.integration, pytest.mark.managed]

FLAVOURS = pytest.mark.parametrize(
    "pgcron_managed", ["rds", "cloudsql", "azure", "supabase", "neon"], indirect=True
)
APP = "app_a"


def _app_role(managed: Managed) -> str:
    """The "app" role: an app role where the provider lets one schedule, else the admin (Neon)."""
    return APP if APP_ROLES_SCHEDULE[managed.flavour] else managed.server.admin_role


def _table(managed: Managed, role: str, name: str) -> sql.Identifier:
    table = sql.Identifier("public", name)
    with connect(managed.dsn(role)) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(sql.SQL("CREATE TABLE {} (n int, who text DEFAULT current_user)").format(table))
    return table


def _insert(table: sql.Identifier, n: int) -> str:
    return (
        sql.SQL("INSERT INTO {} (n) SELECT generate_series(1, {})")
        .format(table, sql.Literal(n))
        .as_string(None)
    )


@FLAVOURS
def test_pushdown_assets_as_the_admin_and_an_app_role(managed: Managed) -> None:
    roles = {"admin": managed.server.admin_role, "app": _app_role(managed)}
    tables = {key: _table(managed, role, f"mgdg_{key}") for key, role in roles.items()}
    assets = [
        pgcron_asset(["mg", "admin"], _insert(tables["admin"], 3)),
        pgcron_asset(["mg", "app"], _insert(tables["app"], 2), resource_key="pg_cron_app"),
    ]
    result = dg.materialize(
        assets,
        resources={
            "pg_cron": PgCronResource(dsn=managed.admin),
            "pg_cron_app": PgCronResource(dsn=managed.dsn(roles["app"])),
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    metadata = {
        e.asset_key.path[-1]: e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    for key, n in (("admin", 3), ("app", 2)):
        role, meta = roles[key], metadata[key]
        assert meta["dagster-pgcron/rows"].value == n
        found = rows(
            managed.dsn(role),
            sql.SQL("SELECT who, count(*) FROM {} GROUP BY who").format(tables[key]).as_string(None),
        )
        assert found == [(role, n)], (key, found)  # ran once, as the resource's role
        with pgcron.Client.connect(managed.dsn(role)) as client:
            run = client.run(int(meta["dagster-pgcron/runid"].value))
        assert run.status is pgcron.RunStatus.SUCCEEDED and run.jobid == meta["dagster-pgcron/jobid"].value
        submitted_as = rows(
            managed.superuser,
            "SELECT username FROM pgcron.submission WHERE key = %s",
            (meta["dagster-pgcron/key"].value,),
        )
        assert submitted_as == [(role,)], key


@pytest.mark.parametrize("pgcron_managed", ["neon"], indirect=True)
def test_app_role_asset_fails_naming_the_grant_where_app_roles_cannot_schedule(managed: Managed) -> None:
    """Neon: an asset on an app role's resource fails on submission (no USAGE on ``cron``) with the grant it
    needs; its SQL never runs and nothing is submitted for the role."""
    assert not APP_ROLES_SCHEDULE[managed.flavour]
    table = _table(managed, APP, "mgdg_app_refused")
    asset = pgcron_asset(["mg", "app_refused"], _insert(table, 2))
    with pytest.raises(PermissionDenied) as err:
        dg.materialize(
            [asset],
            resources={"pg_cron": PgCronResource(dsn=managed.dsn(APP))},
            instance=dg.DagsterInstance.ephemeral(),
        )
    assert f"GRANT USAGE ON SCHEMA cron TO {APP}" in err.value.message, err.value.message
    assert rows(managed.dsn(APP), sql.SQL("SELECT count(*) FROM {}").format(table).as_string(None)) == [(0,)]
    submitted = rows(managed.superuser, "SELECT count(*) FROM pgcron.submission WHERE username = %s", (APP,))
    assert submitted == [(0,)]


@pytest.fixture
def app_jobs(managed: Managed) -> Iterator[tuple[str, str]]:
    """Two jobs of the app role (the admin on Neon) every second: ``mgsensor:ok`` and ``mgsensor:bad``."""
    ok, bad = "mgsensor:ok", "mgsensor:bad"
    dsn = managed.dsn(_app_role(managed))
    with connect(dsn) as conn:
        conn.execute("SELECT cron.schedule(%s, '1 seconds', 'SELECT 1')", (ok,))
        conn.execute("SELECT cron.schedule(%s, '1 seconds', 'SELECT 1/0')", (bad,))
    try:
        yield ok, bad
    finally:
        with connect(dsn) as conn:
            for name in (ok, bad):
                conn.execute("SELECT cron.unschedule(%s)", (name,))


@FLAVOURS
def test_run_sensor_reports_an_app_roles_runs(managed: Managed, app_jobs: tuple[str, str]) -> None:
    ok, bad = app_jobs
    role = _app_role(managed)
    dsn = managed.dsn(role)
    with pgcron.Client.connect(dsn) as client:

        def both_ran() -> bool:
            return all(any(r.status.is_terminal for r in client.runs(job=name, limit=5)) for name in app_jobs)

        assert eventually(both_ran, timeout=30)
        specs = [DagsterPgCronTranslator().get_asset_spec(client.job(name)) for name in app_jobs]
    assert {s.metadata["dagster-pgcron/username"] for s in specs} == {role}  # the jobs of the watched role
    keys = {s.metadata["dagster-pgcron/job_name"]: s.key for s in specs}
    sensor = build_pgcron_run_sensor(specs=specs, name="managed_runs")  # default settings
    resources = {"pg_cron": PgCronResource(dsn=dsn)}
    defs = dg.Definitions(
        assets=specs,
        asset_checks=[build_pgcron_job_checks(specs=specs)],
        sensors=[sensor],
        resources=resources,
    )
    instance = dg.DagsterInstance.ephemeral()
    result = sensor(dg.build_sensor_context(instance=instance, resources=resources, definitions=defs))
    assert isinstance(result, dg.SensorResult)
    for event in result.asset_events:  # what the sensor daemon does with them
        instance.report_runless_asset_event(event)
    materialized = {
        e.metadata["dagster-pgcron/job_name"].value
        for e in result.asset_events
        if isinstance(e, dg.AssetMaterialization)
    }
    assert materialized == {ok}, result.asset_events
    check_key = dg.AssetCheckKey(keys[bad], "pg_cron_run_succeeded")
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key]).get(check_key)
    assert record is not None and record.event is not None
    evaluation = record.event.asset_check_evaluation
    assert evaluation is not None and evaluation.passed is False
    assert "division by zero" in evaluation.metadata["dagster-pgcron/message"].value
    assert result.cursor  # the next tick starts after these runs
