"""``PgCronOperator`` end to end on every managed flavour (RDS, Cloud SQL, Azure, Supabase, Neon): real
Airflow 3 (``dag.test()`` in a subprocess, the harness of tests/airflow), one task as the customer's admin on
the worker and one deferred to the triggerer as an app role — as the admin again on Neon, where app roles
cannot schedule (``APP_ROLES_SCHEDULE``); a second Neon run shows an app role's task failing at once with the
grant it lacks. No flavour has the engine's NOTIFY trigger, so every wait polls. Each task's UPDATE runs
exactly once, as the task's connection role, and the engine records it as submitted by that role."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

import pgcron
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tests.airflow.airflow_harness import AirflowHome, make_home
from tests.managed.conftest import APP_ROLES_SCHEDULE, Managed, connect, rows

pytestmark = [pytest.mark.integration, pytest.mark.managed, pytest.mark.acceptance, pytest.mark.slow]

DAG_FILE = Path(__file__).resolve().parent / "dags" / "pgcron_managed_dag.py"
APP = "app_a"
FLAVOURS = ["rds", "cloudsql", "azure", "supabase", "neon"]


@pytest.fixture(scope="session")
def managed_airflow_home(tmp_path_factory: pytest.TempPathFactory) -> AirflowHome:
    home = make_home(tmp_path_factory.mktemp("airflow-managed"))
    shutil.copy(DAG_FILE, home.dags / DAG_FILE.name)
    return home


def _uri(dsn: str) -> str:
    """Airflow reads connections from the environment as URIs (``AIRFLOW_CONN_<ID>``)."""
    p = conninfo_to_dict(dsn)
    return f"postgresql://{quote(str(p['user']))}@{p['host']}:{p['port']}/{quote(str(p['dbname']))}"


def _app_role(managed: Managed) -> str:
    """The role of ``pgcron_app``: an app role where the provider lets one schedule, else the admin (Neon)."""
    return APP if APP_ROLES_SCHEDULE[managed.flavour] else managed.server.admin_role


def _counter(managed: Managed, role: str, name: str) -> sql.Identifier:
    """A one-row counter ``public.<name>`` owned by ``role``."""
    table = sql.Identifier("public", name)
    with connect(managed.dsn(role)) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(sql.SQL("CREATE TABLE {} (n int NOT NULL)").format(table))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (0)").format(table))
    return table


@pytest.mark.parametrize("pgcron_managed", FLAVOURS, indirect=True)
def test_operator_as_the_admin_and_deferred_as_an_app_role(
    managed: Managed, managed_airflow_home: AirflowHome
) -> None:
    roles = {"as_admin": managed.server.admin_role, "as_app_deferred": _app_role(managed)}
    tables = {
        "as_admin": _counter(managed, roles["as_admin"], "mgaf_admin"),
        "as_app_deferred": _counter(managed, roles["as_app_deferred"], "mgaf_app"),
    }
    summary, output = managed_airflow_home.run_dag(
        DAG_FILE.name,
        "pgcron_managed",
        _uri(managed.admin),
        {
            "admin_table": tables["as_admin"].as_string(None),
            "app_table": tables["as_app_deferred"].as_string(None),
        },
        AIRFLOW_CONN_PGCRON_APP=_uri(managed.dsn(roles["as_app_deferred"])),
    )
    assert summary["state"] == "success", output[-4000:]
    tasks = summary["tasks"]
    assert {t: v["state"] for t, v in tasks.items()} == {"as_admin": "success", "as_app_deferred": "success"}
    assert "Pausing task as DEFERRED" in output  # the second task's wait really went through its trigger
    for task_id, role in roles.items():
        dsn = managed.dsn(role)
        count = rows(dsn, sql.SQL("SELECT n FROM {}").format(tables[task_id]).as_string(None))
        assert count == [(1,)], (task_id, count)  # its UPDATE ran exactly once
        xcom = tasks[task_id]["xcom"]
        assert xcom["status"] == "succeeded" and xcom["message"] == "1 row", xcom
        with pgcron.Client.connect(dsn) as client:
            run = client.run(xcom["runid"])  # the XCom names the role's real pg_cron run
        assert run.status is pgcron.RunStatus.SUCCEEDED and run.jobid == xcom["jobid"]
        submitted_as = rows(
            managed.superuser, "SELECT username FROM pgcron.submission WHERE key = %s", (xcom["key"],)
        )
        assert submitted_as == [(role,)], task_id


@pytest.mark.parametrize("pgcron_managed", ["neon"], indirect=True)
def test_app_role_task_fails_naming_the_grant_where_app_roles_cannot_schedule(
    managed: Managed, managed_airflow_home: AirflowHome
) -> None:
    """Neon: the app role's task fails on submission (no USAGE on ``cron``) with the grant it needs, and its
    SQL never runs; the admin's task before it is untouched."""
    assert not APP_ROLES_SCHEDULE[managed.flavour]
    admin_table = _counter(managed, managed.server.admin_role, "mgaf_admin")
    app_table = _counter(managed, APP, "mgaf_app_refused")
    summary, output = managed_airflow_home.run_dag(
        DAG_FILE.name,
        "pgcron_managed",
        _uri(managed.admin),
        {"admin_table": admin_table.as_string(None), "app_table": app_table.as_string(None)},
        AIRFLOW_CONN_PGCRON_APP=_uri(managed.dsn(APP)),
    )
    assert summary["state"] == "failed", output[-4000:]
    tasks = summary["tasks"]
    assert {t: v["state"] for t, v in tasks.items()} == {"as_admin": "success", "as_app_deferred": "failed"}
    assert "Pausing task as DEFERRED" not in output  # refused before anything was submitted or deferred
    refusal = [line for line in output.splitlines() if "task as_app_deferred:" in line]
    assert refusal, output[-4000:]
    assert "PermissionDenied" in output and f"GRANT USAGE ON SCHEMA cron TO {APP}" in refusal[-1], refusal
    assert rows(managed.dsn(APP), sql.SQL("SELECT n FROM {}").format(app_table).as_string(None)) == [(0,)]
    assert rows(managed.admin, sql.SQL("SELECT n FROM {}").format(admin_table).as_string(None)) == [(1,)]
    submitted = rows(managed.superuser, "SELECT count(*) FROM pgcron.submission WHERE username = %s", (APP,))
    assert submitted == [(0,)]
