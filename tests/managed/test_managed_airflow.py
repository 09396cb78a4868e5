"""``PgCronOperator`` end to end on managed flavours: real Airflow 3 (``dag.test()`` in a subprocess, the
harness of tests/airflow), one task as the customer's admin on the worker and one as an app role deferred to
the triggerer — on RDS (background workers) and Supabase (libpq mode); no NOTIFY trigger on either, so both
waits poll. Each task's UPDATE runs exactly once, as the task's connection role."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

import pgcron
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tests.airflow.airflow_harness import AirflowHome, make_home
from tests.managed.conftest import Managed, connect, rows

pytestmark = [pytest.mark.integration, pytest.mark.managed, pytest.mark.acceptance, pytest.mark.slow]

DAG_FILE = Path(__file__).resolve().parent / "dags" / "pgcron_managed_dag.py"
APP = "app_a"


@pytest.fixture(scope="session")
def managed_airflow_home(tmp_path_factory: pytest.TempPathFactory) -> AirflowHome:
    home = make_home(tmp_path_factory.mktemp("airflow-managed"))
    shutil.copy(DAG_FILE, home.dags / DAG_FILE.name)
    return home


def _uri(dsn: str) -> str:
    """Airflow reads connections from the environment as URIs (``AIRFLOW_CONN_<ID>``)."""
    p = conninfo_to_dict(dsn)
    return f"postgresql://{quote(str(p['user']))}@{p['host']}:{p['port']}/{quote(str(p['dbname']))}"


def _counter(managed: Managed, role: str, name: str) -> sql.Identifier:
    """A one-row counter ``public.<name>`` owned by ``role``."""
    table = sql.Identifier("public", name)
    with connect(managed.dsn(role)) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(sql.SQL("CREATE TABLE {} (n int NOT NULL)").format(table))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (0)").format(table))
    return table


@pytest.mark.parametrize("pgcron_managed", ["rds", "supabase"], indirect=True)
def test_operator_as_the_admin_and_deferred_as_an_app_role(
    managed: Managed, managed_airflow_home: AirflowHome
) -> None:
    admin = managed.server.admin_role
    tables = {admin: _counter(managed, admin, "mgaf_admin"), APP: _counter(managed, APP, "mgaf_app")}
    summary, output = managed_airflow_home.run_dag(
        DAG_FILE.name,
        "pgcron_managed",
        _uri(managed.admin),
        {"admin_table": tables[admin].as_string(None), "app_table": tables[APP].as_string(None)},
        AIRFLOW_CONN_PGCRON_APP=_uri(managed.dsn(APP)),
    )
    assert summary["state"] == "success", output[-4000:]
    tasks = summary["tasks"]
    assert {t: v["state"] for t, v in tasks.items()} == {"as_admin": "success", "as_app_deferred": "success"}
    assert "Pausing task as DEFERRED" in output  # the app role's wait really went through its trigger
    for role, task_id in ((admin, "as_admin"), (APP, "as_app_deferred")):
        count = rows(managed.dsn(role), sql.SQL("SELECT n FROM {}").format(tables[role]).as_string(None))
        assert count == [(1,)], (task_id, count)  # its UPDATE ran exactly once
        xcom = tasks[task_id]["xcom"]
        assert xcom["status"] == "succeeded" and xcom["message"] == "1 row", xcom
        with pgcron.Client.connect(managed.dsn(role)) as client:
            run = client.run(xcom["runid"])  # the XCom names the role's real pg_cron run
        assert run.status is pgcron.RunStatus.SUCCEEDED and run.jobid == xcom["jobid"]
        submitted_as = rows(
            managed.superuser, "SELECT username FROM pgcron.submission WHERE key = %s", (xcom["key"],)
        )
        assert submitted_as == [(role,)]
