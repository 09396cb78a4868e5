"""cancel() and the database-enforced timeout, in both execution modes."""

from __future__ import annotations

import time

import pytest
from pgcron.models import RunStatus
from pgcron.pushdown import AsyncPushdown

from .conftest import JOB_REMOVAL_BOUND_S, count, insert_sql, job_exists, query_one, wait_until

pytestmark = pytest.mark.integration


async def _until_running(pushdown: AsyncPushdown, handle_id: int, engine_dsn: str) -> None:
    def claimed() -> bool:
        row = query_one(
            engine_dsn, "SELECT claimed_at IS NOT NULL FROM pgcron.submission WHERE id = %s", (handle_id,)
        )
        return bool(row and row[0])

    wait_until(claimed, 30, "the run to start")


async def test_cancel_stops_the_running_statement(
    pushdown: AsyncPushdown, engine_dsn: str, token: str
) -> None:
    handle = await pushdown.submit(insert_sql(token, "SELECT pg_sleep(60)"))
    await _until_running(pushdown, handle.submission_id, engine_dsn)
    started = time.monotonic()
    await pushdown.cancel(handle)
    run = await pushdown.wait(handle, timeout=30)
    assert time.monotonic() - started < 30
    assert run.status is RunStatus.CANCELED
    assert run.message is not None and "canceling statement due to user request" in run.message
    assert count(engine_dsn, token) == 0  # the INSERT before the sleep was rolled back with it
    wait_until(lambda: not job_exists(engine_dsn, run.jobid), JOB_REMOVAL_BOUND_S, "temporary job removal")


async def test_cancel_before_start_means_it_never_runs(
    pushdown: AsyncPushdown, engine_dsn: str, token: str
) -> None:
    handle = await pushdown.submit(insert_sql(token))
    await pushdown.cancel(
        handle
    )  # immediately: pg_cron fires '1 seconds' jobs one second after creation at best
    run = await pushdown.wait(handle, timeout=30)
    assert run.status is RunStatus.CANCELED
    wait_until(lambda: not job_exists(engine_dsn, handle.jobid), JOB_REMOVAL_BOUND_S, "temporary job removal")
    assert count(engine_dsn, token) == 0


async def test_timeout_is_enforced_by_the_database_without_a_waiter(
    pushdown: AsyncPushdown, engine_dsn: str, token: str
) -> None:
    # Nobody waits: the engine's maintenance job (watchdog) must cancel the run past its deadline.
    handle = await pushdown.submit(insert_sql(token, "SELECT pg_sleep(60)"), timeout=2)

    def outcome() -> object:
        row = query_one(
            engine_dsn, "SELECT outcome FROM pgcron.submission WHERE id = %s", (handle.submission_id,)
        )
        return row[0] if row else None

    wait_until(lambda: outcome() is not None, 40, "the watchdog")
    assert outcome() == "timed_out"
    run = await pushdown.wait(handle, timeout=30)
    assert run.status is RunStatus.FAILED
    assert run.message is not None and "exceeded its timeout" in run.message
    assert run.duration is not None and 2 <= run.duration.total_seconds() < 20
    assert count(engine_dsn, token) == 0
