"""Acceptance: real Airflow 3 (``airflow db migrate`` on SQLite, ``dag.test()`` and ``airflow dags test``)
running the example DAGs against real PostgreSQL + pg_cron.

Each DAG run takes 20-40 s on a small machine, most of it ``dag.test()``'s own start-up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pgcron
import psycopg
import pytest
from airflow_harness import AirflowHome, make_home
from psycopg import sql

pytestmark = [pytest.mark.acceptance, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> AirflowHome:
    return make_home(tmp_path_factory.mktemp("airflow"))


def _counter(dsn: str, table: str) -> int:
    schema, name = table.split(".")
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT n FROM {}").format(sql.Identifier(schema, name))).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def counter_table(job_prefix: str) -> Iterator[Callable[[str], str]]:
    """Creates a one-row counter table ``public.<prefix>counter`` on a server; dropped afterwards."""
    made: list[str] = []
    ident = sql.Identifier("public", f"{job_prefix}counter")

    def make(dsn: str) -> str:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE TABLE {} (n int NOT NULL, updated_at timestamptz)").format(ident))
            conn.execute(sql.SQL("INSERT INTO {} VALUES (0, NULL)").format(ident))
        made.append(dsn)
        return f"public.{job_prefix}counter"

    yield make
    for dsn in made:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))


def test_pushdown_dag_succeeds_deferrable_and_not(
    airflow_home: AirflowHome, pgcron_both_modes_dsn: str, counter_table: Callable[[str], str]
) -> None:
    dsn = pgcron_both_modes_dsn
    table = counter_table(dsn)
    summary, output = airflow_home.run_dag(
        "pgcron_pushdown.py", "pgcron_pushdown", dsn, {"counter_table": table}
    )
    assert summary["state"] == "success", output[-4000:]
    tasks = summary["tasks"]
    assert {t: v["state"] for t, v in tasks.items()} == {
        "bump_counter": "success",
        "bump_counter_deferred": "success",
        "bump_counter_from_file": "success",
    }
    assert "Pausing task as DEFERRED" in output  # the deferrable task really went through its trigger
    assert _counter(dsn, table) == 3  # each task ran its UPDATE exactly once
    with pgcron.Client.connect(dsn) as client:
        for task_id, task in tasks.items():
            xcom = task["xcom"]
            assert xcom["status"] == "succeeded" and xcom["message"] == "1 row", task_id
            assert xcom["key"].startswith(f"airflow:pgcron_pushdown:{task_id}:{summary['run_id']}")
            assert xcom["duration"] >= 0 and xcom["start"] <= xcom["end"]
            run = client.run(xcom["runid"])  # the XCom names the real pg_cron run
            assert run.status is pgcron.RunStatus.SUCCEEDED and run.jobid == xcom["jobid"]
    assert "pg_cron run" in output and "succeeded in" in output  # the run is logged


def test_sql_failure_fails_the_task_with_the_database_message(
    airflow_home: AirflowHome, pgcron_dsn: str
) -> None:
    summary, output = airflow_home.run_dag("pgcron_test_dags.py", "pgcron_test_failure", pgcron_dsn)
    assert summary["state"] == "failed"
    assert {t: v["state"] for t, v in summary["tasks"].items()} == {
        "divide_by_zero": "failed",
        "missing_table_deferred": "failed",
    }
    assert "failed: ERROR: division by zero" in output
    assert 'failed: ERROR: relation "pgcron_no_such_table" does not exist' in output


def test_retry_reattaches_instead_of_running_again(
    airflow_home: AirflowHome, pgcron_dsn: str, counter_table: Callable[[str], str]
) -> None:
    dsn = pgcron_dsn
    table = counter_table(dsn)
    summary, output = airflow_home.run_dag(
        "pgcron_test_dags.py", "pgcron_test_retry", dsn, {"counter_table": table}
    )
    task = summary["tasks"]["bump_once"]
    assert "simulated worker loss" in output  # the first try really died after submitting
    assert summary["state"] == "success" and task["state"] == "success" and task["try_number"] == 2
    assert "re-attaching to pgcron submission" in output
    assert _counter(dsn, table) == 1  # two tries, one execution
    with pgcron.Client.connect(dsn) as client:
        assert client.run(task["xcom"]["runid"]).status is pgcron.RunStatus.SUCCEEDED
        with pytest.raises(pgcron.PgCronError):  # no second attempt was ever submitted
            client.attach(task["xcom"]["key"] + "#2")


def _json_output(proc: Any) -> Any:
    """The JSON document an ``airflow ... -o json`` command printed (log lines may precede it)."""
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert lines, proc.stdout + proc.stderr
    return json.loads(lines[-1])


def _recurring_job(dsn: str, name: str, command: str) -> None:
    with pgcron.Client.connect(dsn) as client:
        client.schedule(pgcron.JobSpec(name=name, schedule="1 seconds", command=command))


def test_sensor_succeeds_on_a_run_after_the_dag_run(
    airflow_home: AirflowHome, pgcron_dsn: str, job_prefix: str
) -> None:
    job = f"{job_prefix}tick"
    _recurring_job(pgcron_dsn, job, "SELECT 1")
    summary, output = airflow_home.run_dag(
        "pgcron_job_sensor.py", "pgcron_job_sensor", pgcron_dsn, {"job": job}
    )
    assert summary["state"] == "success", output[-4000:]
    with pgcron.Client.connect(pgcron_dsn) as client:
        jobid = client.job(job).jobid
        for task in summary["tasks"].values():
            assert task["state"] == "success"
            assert task["xcom"]["jobid"] == jobid and task["xcom"]["status"] == "succeeded"
            assert client.run(task["xcom"]["runid"]).status is pgcron.RunStatus.SUCCEEDED


def test_sensor_fails_fast_when_the_latest_run_failed(
    airflow_home: AirflowHome, pgcron_dsn: str, job_prefix: str
) -> None:
    job = f"{job_prefix}broken"
    _recurring_job(pgcron_dsn, job, "SELECT 1/0")
    summary, output = airflow_home.run_dag(
        "pgcron_job_sensor.py", "pgcron_job_sensor", pgcron_dsn, {"job": job}
    )
    assert summary["state"] == "failed"
    assert {t["state"] for t in summary["tasks"].values()} == {"failed"}
    assert "ERROR: division by zero (fail_fast)" in output
    assert "Timeout" not in output and "timed out" not in output  # failed fast, not at the sensor timeout


def test_asset_watcher_trigger_fires_on_each_succeeded_run(
    airflow_home: AirflowHome, pgcron_dsn: str, job_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the example DAG with its watcher is valid for Airflow: it parses and serializes with no import error
    # (Airflow 3 lists DAGs from the metadata database: parse and serialize the DAGs folder first)
    reserialized = airflow_home.airflow("dags", "reserialize", dsn=pgcron_dsn)
    assert reserialized.returncode == 0, reserialized.stderr
    listed = airflow_home.airflow("dags", "list", "-o", "json", dsn=pgcron_dsn)
    assert listed.returncode == 0, listed.stderr
    assert "pgcron_after_purge" in {d["dag_id"] for d in _json_output(listed)}
    errors = airflow_home.airflow("dags", "list-import-errors", "-o", "json", dsn=pgcron_dsn)
    assert "pgcron_asset_watcher" not in errors.stdout

    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "asset_example", airflow_home.dags / "pgcron_asset_watcher.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    watcher_trigger = module.purged.watchers[0].trigger
    _, kwargs = watcher_trigger.serialize()
    job = f"{job_prefix}watched"
    _recurring_job(pgcron_dsn, job, "SELECT 1")
    trigger = type(watcher_trigger)(**{**kwargs, "job": job, "poll_interval": 0.5, "max_events": 2})
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pgcron_dsn)

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(asyncio.wait_for(collect(), timeout=60))
    runids = [e["run"]["runid"] for e in events]
    assert len(runids) == 2 and runids[0] < runids[1]
    with pgcron.Client.connect(pgcron_dsn) as client:
        jobid = client.job(job).jobid
        for event in events:
            assert event["run"]["jobid"] == jobid and event["run"]["status"] == "succeeded"
            assert client.run(event["run"]["runid"]).status is pgcron.RunStatus.SUCCEEDED


def test_jobs_operator_through_the_airflow_dags_test_cli(
    airflow_home: AirflowHome, pgcron_dsn: str, job_prefix: str
) -> None:
    namespace = f"{job_prefix}ns"
    conf = json.dumps({"namespace": namespace})
    first = airflow_home.airflow("dags", "test", "pgcron_deploy_jobs", "-c", conf, dsn=pgcron_dsn)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    out = first.stdout + first.stderr
    assert "plan for namespace" in out and f"create {namespace}:heartbeat" in out
    with pgcron.Client.connect(pgcron_dsn) as client:
        jobs = {j.name: j for j in client.jobs() if (j.name or "").startswith(namespace + ":")}
    assert set(jobs) == {f"{namespace}:heartbeat", f"{namespace}:vacuum-events"}
    assert jobs[f"{namespace}:heartbeat"].schedule == "*/5 * * * *"
    second = airflow_home.airflow("dags", "test", "pgcron_deploy_jobs", "-c", conf, dsn=pgcron_dsn)
    assert second.returncode == 0
    assert "unchanged 2" in second.stdout + second.stderr and "applied:" not in second.stdout + second.stderr


def test_airflow_providers_list_shows_the_provider(airflow_home: AirflowHome, pgcron_dsn: str) -> None:
    proc = airflow_home.airflow("providers", "list", "-o", "json", dsn=pgcron_dsn)
    assert proc.returncode == 0, proc.stderr
    providers = {p["package_name"]: p for p in _json_output(proc)}
    ours = providers["airflow-provider-pgcron"]
    from importlib import metadata

    assert ours["version"] == metadata.version("airflow-provider-pgcron")
    assert "PostgreSQL" in ours["description"]
