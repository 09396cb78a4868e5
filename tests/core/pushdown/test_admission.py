"""Slot admission control (migration 0007, docs/adr/0010-slot-admission.md), against real pg_cron in both
execution modes: a burst of pushdowns never has more submission jobs in flight than the budget
(cron.max_running_jobs minus the reserve minus lane workers); the rest wait in a queue that their own role's
waiters and submits admit, oldest first; a queued submission can be canceled and then never runs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime

import pgcron
import psycopg
import pytest
from pgcron.models import RunStatus
from pgcron.pushdown import AsyncPushdown

from .conftest import count, insert_sql, query_one

pytestmark = pytest.mark.integration


def _set_config(dsn: str, name: str, value: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT value FROM pgcron.config WHERE name = %s", (name,)).fetchone()
        assert row is not None, f"pgcron.config has no {name} (migration 0007)"
        conn.execute("UPDATE pgcron.config SET value = %s WHERE name = %s", (value, name))
        return str(row[0])


@pytest.fixture
def budget(engine_dsn: str, request: pytest.FixtureRequest) -> Iterator[int]:
    """Pretend cron.max_running_jobs is reserve + N (reserve 2): a pushdown budget of N (param, default 2)."""
    n = int(getattr(request, "param", 2))
    old_cap = _set_config(engine_dsn, "max_running_jobs", str(2 + n))
    old_reserve = _set_config(engine_dsn, "pushdown_slot_reserve", "2")
    try:
        row = query_one(engine_dsn, "SELECT budget FROM pgcron.admission_status()")
        assert row == (n,)
        yield n
    finally:
        _set_config(engine_dsn, "max_running_jobs", old_cap)
        _set_config(engine_dsn, "pushdown_slot_reserve", old_reserve)


def _max_overlap(spans: list[tuple[datetime, datetime]]) -> int:
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


async def test_a_burst_never_runs_more_than_the_budget_at_once(
    pushdown: AsyncPushdown, engine_dsn: str, token: str, budget: int
) -> None:
    commands = [insert_sql(f"{token}-{i}", "SELECT pg_sleep(0.4)") for i in range(8)]
    handles = [await pushdown.submit(command, key=f"adm-{token}-{i}") for i, command in enumerate(commands)]
    queued_at_submit = [h for h in handles if h.jobid is None]
    assert len(queued_at_submit) >= len(handles) - budget  # the rest waited for a slot, with no job
    assert all(h.status is RunStatus.PENDING for h in queued_at_submit)

    runs = await asyncio.gather(*(pushdown.wait(h, timeout=120) for h in handles))
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * len(handles)
    assert [count(engine_dsn, f"{token}-{i}") for i in range(len(handles))] == [1] * len(handles)
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        spans = conn.execute(
            "SELECT claimed_at, finished_at FROM pgcron.submission WHERE id = ANY(%s)",
            ([h.submission_id for h in handles],),
        ).fetchall()
    # Without admission all eight jobs are due in the same second and their 0.4 s runs overlap.
    assert _max_overlap(spans) <= budget


@pytest.mark.parametrize("budget", [1], indirect=True)
def test_a_queued_submission_is_admitted_by_the_roles_next_submit(
    engine_dsn: str, token: str, budget: int
) -> None:
    with pgcron.Client.connect(engine_dsn) as client:
        first = client.submit(insert_sql(f"{token}-a", "SELECT pg_sleep(1)"), key=f"adm-{token}-a")
        assert first.jobid is not None
        second = client.submit(insert_sql(f"{token}-b"), key=f"adm-{token}-b")
        assert second.jobid is None and second.status is RunStatus.PENDING  # queued, nobody waits for it
        assert client.wait(first, timeout=60).status is RunStatus.SUCCEEDED
        # No waiter on the second: the role's next submit admits it first (oldest first), then queues itself.
        third = client.submit(insert_sql(f"{token}-c"), key=f"adm-{token}-c")
        assert client.attach(second.key).jobid is not None
        assert third.jobid is None
        runs = [client.wait(h, timeout=60) for h in (second, third)]
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
    assert [count(engine_dsn, f"{token}-{x}") for x in "abc"] == [1, 1, 1]


@pytest.mark.parametrize("budget", [1], indirect=True)
def test_a_canceled_queued_submission_never_runs(engine_dsn: str, token: str, budget: int) -> None:
    with pgcron.Client.connect(engine_dsn) as client:
        first = client.submit(insert_sql(f"{token}-a", "SELECT pg_sleep(1)"), key=f"adm-{token}-a")
        queued = client.submit(insert_sql(f"{token}-q"), key=f"adm-{token}-q")
        assert queued.jobid is None
        client.cancel(queued)
        canceled = client.wait(queued, timeout=30)
        assert canceled.status is RunStatus.CANCELED
        assert client.wait(first, timeout=60).status is RunStatus.SUCCEEDED
        later = client.run_now(insert_sql(f"{token}-z"), key=f"adm-{token}-z", timeout=60)
        assert later.status is RunStatus.SUCCEEDED
        assert client.attach(queued.key).jobid is None  # never admitted after its cancel
    assert count(engine_dsn, f"{token}-q") == 0


def test_doctor_reports_how_the_slots_are_shared(engine_dsn: str, token: str) -> None:
    def slots(client: pgcron.Client) -> tuple[str, str]:
        check = next(c for c in client.doctor() if c.name == "slots")
        return check.status.value, check.detail

    real = query_one(engine_dsn, "SELECT current_setting('cron.max_running_jobs')")
    assert real is not None
    with pgcron.Client.connect(engine_dsn) as client:
        status, detail = slots(client)
        assert status == "PASS", detail
        assert f"cron.max_running_jobs {real[0]}: 2 reserved" in detail and "pushdown budget" in detail
        old = _set_config(engine_dsn, "max_running_jobs", "3")
        try:
            status, detail = slots(client)  # the engine assumes 3 where pg_cron has another cap
            assert status == "WARN" and f"cron.max_running_jobs is {real[0]}" in detail, detail
        finally:
            _set_config(engine_dsn, "max_running_jobs", old)
