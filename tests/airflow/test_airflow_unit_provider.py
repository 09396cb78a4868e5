"""Unit tests (no database): provider discovery, keys, the submit-or-re-attach table, operators, sensor,
triggers, with the shipped in-memory client ``pgcron.testing.FakeClient`` (``PgCronHook.use_client``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import metadata, resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pgcron
import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred
from pgcron import JobSpec, Run, RunStatus
from pgcron.pushdown import attempts
from pgcron.pushdown.attempts import MAX_BASE_KEY_LENGTH, attempt_key
from pgcron.testing import T0, FakeClient
from pgcron_airflow._runs import base_key, sensor_verdict
from pgcron_airflow.get_provider_info import get_provider_info
from pgcron_airflow.hooks.pgcron import PgCronHook, build_conninfo
from pgcron_airflow.operators.pgcron import PgCronOperator
from pgcron_airflow.sensors.pgcron import PgCronJobSensor
from pgcron_airflow.triggers.pgcron import PgCronJobRunTrigger, PgCronJobSucceededTrigger, PgCronRunTrigger


def context(
    run_id: str = "manual__1", map_index: int = -1, try_number: int = 1, **extra: Any
) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id=run_id, map_index=map_index, try_number=try_number)
    return {"ti": ti, **extra}


@pytest.fixture
def client() -> Iterator[FakeClient]:
    """The fake every PgCronHook hands out; its clock a day after the runs the tests record at ``T0``."""
    fake = FakeClient(now=T0 + timedelta(days=1))
    with PgCronHook.use_client(fake):
        yield fake


def job_runs(fake: FakeClient, name: str, *runs: tuple[int, RunStatus]) -> list[Run]:
    """Runs ``(runid, status)`` of the job ``name`` (scheduled when new), started at ``T0``."""
    try:
        job = fake.job(name)
    except pgcron.JobNotFound:
        job = fake.schedule(JobSpec(name, "0 3 * * *", "CALL nightly()"))
    return [fake.record_run(job, status=status, start=T0, runid=runid) for runid, status in runs]


# -- discovery ----


def test_provider_info_matches_airflow_schema_and_distribution() -> None:
    import airflow
    import jsonschema

    info = get_provider_info()
    schema = json.loads(resources.files(airflow).joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    assert info["package-name"] == metadata.metadata("airflow-provider-pgcron")["Name"]
    # Airflow's CLI strips these characters from descriptions: none may be in ours
    assert not set("_`<>") & set(info["description"])


def test_provider_info_modules_import_and_entry_point_is_registered() -> None:
    import importlib

    info = get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    eps = metadata.entry_points(group="apache_airflow_provider")
    ours = [ep for ep in eps if ep.dist is not None and ep.dist.name == "airflow-provider-pgcron"]
    assert [ep.load() for ep in ours] == [get_provider_info]


def test_provider_discovered_by_providers_manager() -> None:
    from airflow.providers_manager import ProvidersManager

    providers = ProvidersManager().providers
    assert "airflow-provider-pgcron" in providers
    assert providers["airflow-provider-pgcron"].version == metadata.version("airflow-provider-pgcron")


def test_package_exports_resolve_lazily() -> None:
    import pgcron_airflow

    assert pgcron_airflow.PgCronOperator is PgCronOperator
    with pytest.raises(AttributeError):
        pgcron_airflow.Nope  # noqa: B018


# -- hook ----


def test_conninfo_keeps_libpq_extras_and_drops_provider_extras() -> None:
    info = build_conninfo(
        host="db",
        port=6432,
        login="etl",
        password="s p",
        schema="app",
        extras={"sslmode": "require", "cursor": "dictcursor", "iam": True},
    )
    assert "sslmode=require" in info and "cursor" not in info and "iam" not in info
    assert "dbname=app" in info and "port=6432" in info and "password='s p'" in info
    assert "application_name=airflow-pgcron" in info


def test_hook_reads_a_postgres_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from pgcron_airflow.hooks.pgcron import PgCronHook

    monkeypatch.setenv("AIRFLOW_CONN_PGX", "postgresql://u:pw@dbhost:5433/crondb?sslmode=disable")
    assert PgCronHook.default_conn_name == "postgres_default"
    info = PgCronHook(postgres_conn_id="pgx").get_conninfo()
    assert (
        "host=dbhost" in info
        and "port=5433" in info
        and "dbname=crondb" in info
        and "sslmode=disable" in info
    )
    assert asyncio.run(PgCronHook(postgres_conn_id="pgx").aget_conninfo()) == info


# -- keys ----


def test_key_is_per_task_instance_not_per_try() -> None:
    key = base_key("d", "t", "manual__1", -1)
    assert key == base_key("d", "t", "manual__1", -1)
    assert (
        len(
            {
                key,
                base_key("d", "t", "manual__2", -1),
                base_key("d", "t", "manual__1", 0),
                base_key("d", "u", "manual__1", -1),
                base_key("e", "t", "manual__1", -1),
            }
        )
        == 5
    )
    long = base_key("d" * 200, "t", "r", 1)
    assert len(long) <= MAX_BASE_KEY_LENGTH and long != base_key("d" * 200, "t", "r", 2)
    # a key at the limit still leaves room for the core's attempt suffix
    assert len(attempt_key(long, attempts.MAX_ATTEMPTS)) <= attempts.MAX_KEY_LENGTH
    assert attempt_key(key, 1) == key and attempt_key(key, 2) != key


# -- operator ----


def test_operator_success_returns_the_run(client: FakeClient) -> None:
    op = PgCronOperator(task_id="t", sql="SELECT 1", deferrable=False)
    client.script("SELECT 1", rows=1, duration=2)
    result = op.execute(context())
    assert result["status"] == "succeeded" and result["message"] == "1 row"
    assert result["duration"] == 2.0 and result["start"] == client.runs()[0].start_time.isoformat()
    assert set(result) >= {"jobid", "runid", "status", "message", "start", "end", "duration"}
    json.dumps(result)
    assert client.submitted == [base_key("d", "t", "manual__1", -1)]


def test_operator_failed_run_fails_the_task_with_the_database_message(client: FakeClient) -> None:
    client.fail("SELECT 1/0", "ERROR: division by zero")
    op = PgCronOperator(task_id="t", sql="SELECT 1/0", deferrable=False)
    with pytest.raises(AirflowException, match="division by zero"):
        op.execute(context())


def test_retry_reattaches_to_a_succeeded_run_without_submitting_again(client: FakeClient) -> None:
    op = PgCronOperator(task_id="t", sql="UPDATE c SET n = n + 1", deferrable=False)
    first = op.execute(context(try_number=1))
    second = op.execute(context(try_number=2))
    assert len(client.submitted) == 1
    assert second["runid"] == first["runid"] and second["status"] == "succeeded"


def test_retry_reattaches_to_an_in_flight_run(client: FakeClient) -> None:
    key = base_key("d", "t", "manual__1", -1)
    client.submit("SELECT pg_sleep(5)", key=key)  # an earlier try submitted, then its worker died
    op = PgCronOperator(task_id="t", sql="SELECT pg_sleep(5)", deferrable=False)
    result = op.execute(context(try_number=2))
    assert client.submitted == [key] and result["status"] == "succeeded"


def test_retry_after_a_failed_run_submits_a_new_attempt(client: FakeClient) -> None:
    client.fail("SELECT flaky()", "ERROR: deadlock detected")
    op = PgCronOperator(task_id="t", sql="SELECT flaky()", deferrable=False)
    with pytest.raises(AirflowException, match="deadlock"):
        op.execute(context(try_number=1))
    client.script("SELECT flaky()")
    assert op.execute(context(try_number=2))["status"] == "succeeded"
    base = base_key("d", "t", "manual__1", -1)
    assert client.submitted == [base, attempt_key(base, 2)]


def test_failed_run_is_not_rerun_when_rerun_failed_is_off(client: FakeClient) -> None:
    client.fail("SELECT flaky()", "ERROR: boom")
    op = PgCronOperator(task_id="t", sql="SELECT flaky()", deferrable=False, rerun_failed=False)
    for try_number in (1, 2):
        with pytest.raises(AirflowException, match="boom"):
            op.execute(context(try_number=try_number))
    assert len(client.submitted) == 1


def test_retry_past_the_attempt_bound_fails_without_retry(
    client: FakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attempts, "MAX_ATTEMPTS", 2)
    client.fail("SELECT flaky()", "ERROR: boom")
    op = PgCronOperator(task_id="t", sql="SELECT flaky()", deferrable=False)
    for try_number in (1, 2):
        with pytest.raises(AirflowException, match="boom"):
            op.execute(context(try_number=try_number))
    with pytest.raises(AirflowFailException, match="at most 2"):
        op.execute(context(try_number=3))
    assert len(client.submitted) == 2


def test_lost_run_fails_without_retry(client: FakeClient) -> None:
    client.script("SELECT x()", status=RunStatus.LOST)
    op = PgCronOperator(task_id="t", sql="SELECT x()", deferrable=False)
    with pytest.raises(AirflowFailException, match="outcome is unknown"):
        op.execute(context())
    with pytest.raises(AirflowFailException):
        op.execute(context(try_number=2))
    assert len(client.submitted) == 1


def test_key_conflict_fails_without_retry(client: FakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from pgcron.pushdown import KeyConflict

    def conflict(*args: Any, **kwargs: Any) -> Any:
        raise KeyConflict("this submission key was already used for a different command")

    monkeypatch.setattr(client, "submit", conflict)
    with pytest.raises(AirflowFailException, match="different command"):
        PgCronOperator(task_id="t", sql="SELECT 2", deferrable=False).execute(context())


def test_deferrable_operator_defers_to_the_run_trigger(client: FakeClient) -> None:
    op = PgCronOperator(task_id="t", sql="SELECT 1", deferrable=True, poll_interval=3, postgres_conn_id="pg")
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    assert deferred.value.method_name == "execute_complete"
    path, kwargs = deferred.value.trigger.serialize()
    assert path == "pgcron_airflow.triggers.pgcron.PgCronRunTrigger"
    assert kwargs == {
        "postgres_conn_id": "pg",
        "key": base_key("d", "t", "manual__1", -1),
        "poll_interval": 3.0,
        "cancel_on_kill": True,
    }
    event = asyncio.run(_first(PgCronRunTrigger(**kwargs)))
    assert op.execute_complete(context(), event.payload)["status"] == "succeeded"


def test_deferrable_operator_does_not_defer_for_a_finished_run(client: FakeClient) -> None:
    op = PgCronOperator(task_id="t", sql="SELECT 1", deferrable=False)
    op.execute(context())
    op.deferrable = True
    assert op.execute(context(try_number=2))["status"] == "succeeded"  # no TaskDeferred


def test_execute_complete_maps_failure_and_error_events() -> None:
    op = PgCronOperator(task_id="t", sql="SELECT 1")
    run = {"runid": 9, "jobid": 3, "status": "failed", "message": 'ERROR: relation "x" does not exist'}
    with pytest.raises(AirflowException, match='relation "x" does not exist'):
        op.execute_complete(context(), {"status": "failed", "run": run})
    with pytest.raises(AirflowException, match="connection refused"):
        op.execute_complete(context(), {"status": "error", "message": "connection refused"})
    with pytest.raises(AirflowException, match="canceled"):
        op.execute_complete(context(), {"status": "canceled", "run": {**run, "status": "canceled"}})


def test_deferrable_default_comes_from_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    module = importlib.reload(sys.modules["pgcron_airflow.operators.pgcron"])
    try:
        assert module.PgCronOperator(task_id="t", sql="SELECT 1").deferrable is True
    finally:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE")
        importlib.reload(module)
    assert module.PgCronOperator(task_id="t", sql="SELECT 1").deferrable is False


def test_sql_is_templated_and_reads_sql_files() -> None:
    assert "sql" in PgCronOperator.template_fields and ".sql" in PgCronOperator.template_ext


def test_on_kill_cancels_the_running_submission(client: FakeClient) -> None:
    client.script("SELECT pg_sleep(60)", hold=True)  # a wait gives up (RunTimeout) until it is canceled
    op = PgCronOperator(task_id="t", sql="SELECT pg_sleep(60)", deferrable=False, poll_interval=0.01)
    key = base_key("d", "t", "manual__1", -1)
    original_wait = client.wait
    calls = 0

    def wait_then_kill(handle: Any, timeout: Any = None) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:  # the task gets killed while it waits
            op.on_kill()
        return original_wait(handle, timeout)

    client.wait = wait_then_kill  # type: ignore[method-assign]
    with pytest.raises(AirflowException, match="canceling statement due to user request"):
        op.execute(context())
    assert client.canceled == [key]


def test_trigger_on_kill_cancels_and_is_off_when_asked(client: FakeClient) -> None:
    key = "airflow:d:t:r:-1"
    client.submit("SELECT pg_sleep(60)", key=key)
    asyncio.run(PgCronRunTrigger(postgres_conn_id="pg", key=key, cancel_on_kill=False).on_kill())
    assert client.canceled == []
    asyncio.run(PgCronRunTrigger(postgres_conn_id="pg", key=key).on_kill())
    assert client.canceled == [key]
    asyncio.run(PgCronRunTrigger(postgres_conn_id="pg", key=key).on_kill())  # already over: nothing to cancel
    assert client.canceled == [key]


def test_run_trigger_reports_an_unknown_key_as_error(client: FakeClient) -> None:
    event = asyncio.run(_first(PgCronRunTrigger(postgres_conn_id="pg", key="nope")))
    assert event.payload["status"] == "error" and "nope" in event.payload["message"]


# -- sensor ----


def test_sensor_verdict_table() -> None:
    ok, bad, running, lost = job_runs(
        FakeClient(),
        "nightly",
        (5, RunStatus.SUCCEEDED),
        (6, RunStatus.FAILED),
        (7, RunStatus.RUNNING),
        (8, RunStatus.LOST),
    )
    assert sensor_verdict(None, None, fail_fast=True) is None
    assert sensor_verdict(running, None, fail_fast=True) is None
    assert sensor_verdict(bad, None, fail_fast=True) == ("failed", bad)
    assert sensor_verdict(bad, None, fail_fast=False) is None
    assert sensor_verdict(bad, ok, fail_fast=True) == ("succeeded", ok)
    assert sensor_verdict(lost, None, fail_fast=True) == ("failed", lost)


def test_sensor_waits_then_succeeds_on_a_run_after_the_data_interval(client: FakeClient) -> None:
    end = T0 + timedelta(hours=1)
    ctx = context(data_interval_end=end)
    sensor = PgCronJobSensor(task_id="s", job="nightly", deferrable=False)
    job = client.schedule(JobSpec("nightly", "0 3 * * *", "CALL nightly()"))
    client.record_run(job, start=end - timedelta(minutes=5))  # before the point
    assert sensor.poke(ctx) is False
    after = client.record_run(job, start=end + timedelta(minutes=1))
    assert sensor.poke(ctx) is True and sensor._result["runid"] == after.runid  # type: ignore[index]


def test_sensor_fails_fast_on_a_failed_latest_run(client: FakeClient) -> None:
    end = T0
    job = client.schedule(JobSpec("nightly", "0 3 * * *", "CALL nightly()"))
    client.record_run(
        job, status=RunStatus.FAILED, message="ERROR: disk full", start=end + timedelta(seconds=1)
    )
    with pytest.raises(AirflowException, match="disk full"):
        PgCronJobSensor(task_id="s", job="nightly", deferrable=False).poke(context(data_interval_end=end))
    quiet = PgCronJobSensor(task_id="s", job="nightly", deferrable=False, fail_fast=False)
    assert quiet.poke(context(data_interval_end=end)) is False


def test_sensor_start_point_choices() -> None:
    start, end = T0, T0 + timedelta(days=1)
    ctx = context(data_interval_start=start, data_interval_end=end)
    assert PgCronJobSensor(task_id="s", job="j").start_point(ctx) == end
    assert PgCronJobSensor(task_id="s", job="j", since="data_interval_start").start_point(ctx) == start
    assert PgCronJobSensor(task_id="s", job="j", after="2026-02-03T04:05:00+00:00").start_point(
        ctx
    ) == datetime(2026, 2, 3, 4, 5, tzinfo=UTC)
    no_interval = context(data_interval_end=None, dag_run=SimpleNamespace(run_after=start))
    assert PgCronJobSensor(task_id="s", job="j").start_point(no_interval) == start
    with pytest.raises(ValueError, match="timezone"):
        PgCronJobSensor(task_id="s", job="j", after="2026-02-03T04:05:00").start_point(ctx)
    with pytest.raises(ValueError, match="since must be one of"):
        PgCronJobSensor(task_id="s", job="j", since="yesterday")


def test_deferrable_sensor_defers_with_a_serializable_trigger(client: FakeClient) -> None:
    job = client.schedule(JobSpec("nightly", "0 3 * * *", "CALL nightly()"))
    sensor = PgCronJobSensor(
        task_id="s", job=str(job.jobid), deferrable=True, poll_interval=0.01, timeout=600
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context(data_interval_end=T0))
    trigger = deferred.value.trigger
    path, kwargs = trigger.serialize()
    assert path.endswith("PgCronJobRunTrigger") and kwargs["job"] == job.jobid
    assert kwargs["after"] == T0.isoformat()
    assert deferred.value.timeout == timedelta(seconds=600)
    run = client.record_run(job, start=T0 + timedelta(seconds=5))
    event = asyncio.run(_first(PgCronJobRunTrigger(**kwargs)))
    assert sensor.execute_complete(context(), event.payload)["runid"] == run.runid  # type: ignore[index]


# -- asset watcher trigger ----


def test_event_trigger_reports_runs_that_end_out_of_runid_order_once_each(client: FakeClient) -> None:
    job_runs(
        client,
        "j",
        (11, RunStatus.FAILED),
        (12, RunStatus.SUCCEEDED),
        (13, RunStatus.RUNNING),  # a long run: 14 ends before it
        (14, RunStatus.SUCCEEDED),
    )

    async def scenario() -> list[int]:
        trigger = PgCronJobSucceededTrigger(
            postgres_conn_id="pg", job="j", poll_interval=0.01, after_runid=10, max_events=3
        )
        gen = trigger.run()
        seen = [(await gen.__anext__()).payload["run"]["runid"] for _ in range(2)]
        client.finish_run(13, RunStatus.SUCCEEDED)
        seen.append((await asyncio.wait_for(gen.__anext__(), 10)).payload["run"]["runid"])
        return seen

    assert asyncio.run(scenario()) == [12, 14, 13]


def test_event_trigger_starts_after_the_newest_finished_run(client: FakeClient) -> None:
    # history before the trigger starts is not replayed; the run still going then is reported when it ends
    job_runs(client, "j", (10, RunStatus.SUCCEEDED), (11, RunStatus.RUNNING))

    async def feed_read() -> None:
        while not client.calls["runs_after"]:
            await asyncio.sleep(0.001)

    async def scenario() -> int:
        trigger = PgCronJobSucceededTrigger(postgres_conn_id="pg", job="j", poll_interval=0.01, max_events=1)
        gen = trigger.run()
        first = asyncio.ensure_future(gen.__anext__())
        await asyncio.wait_for(feed_read(), 10)  # the trigger has chosen where it starts
        client.finish_run(11, RunStatus.SUCCEEDED)
        return int((await asyncio.wait_for(first, 10)).payload["run"]["runid"])

    assert asyncio.run(scenario()) == 11


class FakeAssetStore:
    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


def _collect(trigger: PgCronJobSucceededTrigger) -> list[int]:
    async def collect() -> list[int]:
        return [event.payload["run"]["runid"] async for event in trigger.run()]

    return asyncio.run(collect())


def test_event_trigger_resumes_from_the_asset_state_store(client: FakeClient) -> None:
    job_runs(client, "j", *((r, RunStatus.SUCCEEDED) for r in (20, 21, 22, 23)))
    trigger = PgCronJobSucceededTrigger(postgres_conn_id="pg", job="j", poll_interval=0.01, max_events=2)
    store = FakeAssetStore({"pgcron_run_cursor": "20;22"})  # 22 was reported before 21 ended
    trigger.asset_state_store = store  # type: ignore[assignment]
    assert _collect(trigger) == [21, 23]  # the runs the saved cursor has not settled, not after the newest
    assert store.values["pgcron_run_cursor"] == "23"  # saved once the events were handed over


def test_event_trigger_reads_the_last_runid_saved_before_the_core_cursor(client: FakeClient) -> None:
    job_runs(client, "j", *((r, RunStatus.SUCCEEDED) for r in (20, 21, 22)))
    trigger = PgCronJobSucceededTrigger(postgres_conn_id="pg", job="j", poll_interval=0.01, max_events=2)
    store = FakeAssetStore({"pgcron_last_runid": 20})
    trigger.asset_state_store = store  # type: ignore[assignment]
    assert _collect(trigger) == [21, 22]
    assert store.values["pgcron_run_cursor"] == "22"


def test_event_trigger_is_a_base_event_trigger_and_round_trips() -> None:
    from airflow.triggers.base import BaseEventTrigger

    trigger = PgCronJobSucceededTrigger(postgres_conn_id="pg", job="shop:purge", poll_interval=5)
    assert isinstance(trigger, BaseEventTrigger)
    path, kwargs = trigger.serialize()
    assert PgCronJobSucceededTrigger(**kwargs).serialize() == (path, kwargs)
    BaseEventTrigger.hash(path, kwargs)  # what the scheduler uses to identify a watcher's trigger


async def _first(trigger: Any) -> Any:
    gen = trigger.run()
    try:
        return await gen.__anext__()
    finally:
        await gen.aclose()


# -- jobs operator ----


def test_jobs_operator_reads_a_jobs_file_relative_to_the_dag(tmp_path: Any) -> None:
    import shutil

    from airflow.sdk import DAG
    from pgcron_airflow.operators.jobs import PgCronJobsOperator

    root = Path(__file__).resolve().parents[2] / "examples"
    shutil.copy(root / "jobs.toml", tmp_path / "jobs.toml")
    shutil.copytree(root / "sql", tmp_path / "sql")
    dag_file = tmp_path / "deploy.py"
    dag_file.write_text("")
    with DAG("deploy", schedule=None) as dag:
        op = PgCronJobsOperator(task_id="deploy", jobs_file="jobs.toml")
    dag.fileloc = str(dag_file)
    namespace, specs, lane_workers = op._declared()
    assert namespace == "shop"
    assert {"expire-reservations", "purge-events", "refresh-daily-sales"} <= {s.name for s in specs}
    assert lane_workers is None  # no [lanes]: the operator's apply leaves lanes alone
    (tmp_path / "lanes.toml").write_text((root / "lanes.toml").read_text())
    with DAG("deploy_lanes", schedule=None) as lanes_dag:
        with_lanes = PgCronJobsOperator(task_id="deploy", jobs_file="lanes.toml")
    lanes_dag.fileloc = str(dag_file)
    assert with_lanes._declared()[2] == 2  # examples/lanes.toml: [lanes] workers = 2, planned with the jobs
    wrong = PgCronJobsOperator(task_id="deploy2", jobs_file=str(tmp_path / "jobs.toml"), namespace="billing")
    with pytest.raises(AirflowFailException, match="does not match the file's namespace"):
        wrong._declared()


def test_jobs_operator_arguments_are_checked() -> None:
    from pgcron_airflow.operators.jobs import PgCronJobsOperator

    with pytest.raises(ValueError, match="exactly one of"):
        PgCronJobsOperator(task_id="a")
    with pytest.raises(ValueError, match="needs namespace"):
        PgCronJobsOperator(task_id="b", specs=[{"name": "x", "schedule": "* * * * *", "command": "SELECT 1"}])
    op = PgCronJobsOperator(task_id="c", namespace="n", specs=[{"name": "x", "schedul": "* * * * *"}])
    with pytest.raises(AirflowFailException, match="a job spec must have name, schedule, command"):
        op._declared()
