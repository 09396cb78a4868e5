"""Integration: killing a task cancels its statement in PostgreSQL — operator ``on_kill`` on a worker, and
trigger ``on_kill`` in the triggerer (which ``dag.test()`` never calls, so it is driven directly here)."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import Any

import pgcron
import pytest
from airflow.sdk.exceptions import AirflowException
from pgcron_airflow._runs import base_key
from pgcron_airflow.operators.pgcron import PgCronOperator
from pgcron_airflow.triggers.pgcron import PgCronRunTrigger

pytestmark = [pytest.mark.integration]


def _wait_running(client: pgcron.Client, key: str, deadline_s: float = 60) -> pgcron.RunHandle:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            handle = client.attach(key)
        except pgcron.PgCronError:
            handle = None
        if handle is not None and handle.status is pgcron.RunStatus.RUNNING:
            return handle
        time.sleep(0.2)
    raise AssertionError(f"submission {key} did not start running within {deadline_s} s")


def test_operator_on_kill_cancels_the_running_statement(
    pgcron_both_modes_dsn: str, job_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pgcron_both_modes_dsn)
    op = PgCronOperator(task_id="sleepy", sql="SELECT pg_sleep(60)", deferrable=False, poll_interval=0.5)
    ti = SimpleNamespace(dag_id=f"{job_prefix}dag", task_id="sleepy", run_id="r1", map_index=-1, try_number=1)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = op.execute({"ti": ti})  # type: ignore[arg-type]
        except AirflowException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    key = base_key(ti.dag_id, ti.task_id, ti.run_id, -1)
    with pgcron.Client.connect(pgcron_both_modes_dsn) as client:
        handle = _wait_running(client, key)
        op.on_kill()  # what Airflow calls when the task is killed, marked failed or cleared
        worker.join(60)
        assert not worker.is_alive()
        assert isinstance(outcome.get("error"), AirflowException) and "canceled" in str(outcome["error"])
        run = client.wait(client.attach(key), timeout=30)
    assert run.status is pgcron.RunStatus.CANCELED
    assert handle.runid is None or run.runid == handle.runid  # the very run that was running


def test_trigger_is_safe_to_run_twice_and_on_kill_cancels(
    pgcron_both_modes_dsn: str, job_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_DEFAULT", pgcron_both_modes_dsn)
    key = f"{job_prefix}trigger-kill"
    with pgcron.Client.connect(pgcron_both_modes_dsn) as client:
        client.submit("SELECT pg_sleep(60)", key=key)
        _wait_running(client, key)

    async def scenario() -> list[dict[str, Any]]:
        # two copies of the same trigger, as after a triggerer fail-over: both only wait
        first = PgCronRunTrigger(postgres_conn_id="postgres_default", key=key, poll_interval=1)
        second = PgCronRunTrigger(**first.serialize()[1])
        tasks = [asyncio.ensure_future(_first_event(t)) for t in (first, second)]
        await asyncio.sleep(1.5)
        assert not any(t.done() for t in tasks)  # still waiting on the running statement
        await first.on_kill()  # the user marked the task failed
        return list(await asyncio.wait_for(asyncio.gather(*tasks), timeout=60))

    events = asyncio.run(scenario())
    assert [e["status"] for e in events] == ["canceled", "canceled"]
    assert events[0]["run"]["runid"] == events[1]["run"]["runid"]


async def _first_event(trigger: PgCronRunTrigger) -> dict[str, Any]:
    gen = trigger.run()
    try:
        event = await gen.__anext__()
        return dict(event.payload)
    finally:
        await gen.aclose()
