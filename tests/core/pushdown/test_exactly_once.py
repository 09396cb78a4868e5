"""Exactly once per key, against real pg_cron in both execution modes (params bgw / libpq)."""

from __future__ import annotations

import asyncio
import secrets

import psycopg
import pytest
from pgcron.errors import RunFailed, RunTimeout
from pgcron.models import RunStatus
from pgcron.pushdown import AsyncPushdown, KeyConflict, Pushdown, SubmissionNotFound

from .conftest import JOB_REMOVAL_BOUND_S, count, insert_sql, job_exists, query_one, wait_until

pytestmark = pytest.mark.integration


async def test_run_now_runs_once_and_the_run_row_is_the_record(
    pushdown: AsyncPushdown, engine_dsn: str, token: str
) -> None:
    run = await pushdown.run_now(insert_sql(token))
    assert run.status is RunStatus.SUCCEEDED
    assert run.rows == 1
    assert count(engine_dsn, token) == 1
    # The record of truth: the run's own row in cron.job_run_details, executed by the claiming backend.
    row = query_one(
        engine_dsn,
        "SELECT d.status, d.job_pid, s.claimed_pid FROM cron.job_run_details d "
        "JOIN pgcron.submission s ON s.jobid = d.jobid WHERE d.runid = %s",
        (run.runid,),
    )
    assert row is not None and row[0] == "succeeded" and row[1] == row[2] == run.job_pid
    # Nothing left behind: the temporary job is removed by the maintenance job.
    wait_until(lambda: not job_exists(engine_dsn, run.jobid), JOB_REMOVAL_BOUND_S, "temporary job removal")
    # Repeat firings (if any) are purged: the job's history holds exactly the one run that executed the SQL.
    rows = query_one(engine_dsn, "SELECT count(*) FROM cron.job_run_details WHERE jobid = %s", (run.jobid,))
    assert rows == (1,)


async def test_resubmitting_a_key_reattaches_and_never_runs_again(
    pushdown: AsyncPushdown, engine_dsn: str, token: str
) -> None:
    key = f"k-{token}"
    command = insert_sql(token)
    first, second = await asyncio.gather(pushdown.submit(command, key=key), pushdown.submit(command, key=key))
    assert first.submission_id == second.submission_id and first.jobid == second.jobid
    run = await pushdown.wait(first, timeout=60)
    assert run.status is RunStatus.SUCCEEDED
    again = await pushdown.submit(command, key=key)  # after completion: still the same submission
    assert again.submission_id == first.submission_id
    assert again.status is RunStatus.SUCCEEDED
    assert (await pushdown.wait(again, timeout=10)).runid == run.runid
    assert count(engine_dsn, token) == 1
    attached = await pushdown.attach(key)
    assert attached.submission_id == first.submission_id and attached.runid == run.runid


async def test_sql_longer_than_the_interval_runs_once(
    pushdown: AsyncPushdown, engine_dsn: str, token: str
) -> None:
    # 3 s on a '1 seconds' schedule: pg_cron queues a repeat firing; the claim turns it into a no-op.
    run = await pushdown.run_now(insert_sql(token, "SELECT pg_sleep(3)"), key=f"k-{token}")
    assert run.status is RunStatus.SUCCEEDED
    assert run.duration is not None and run.duration.total_seconds() >= 3
    wait_until(lambda: not job_exists(engine_dsn, run.jobid), JOB_REMOVAL_BOUND_S, "temporary job removal")
    assert count(engine_dsn, token) == 1


async def test_the_guard_without_neutralising_the_schedule(
    pushdown: AsyncPushdown, engine_dsn: str, token: str
) -> None:
    # Undo the neutralisation while the run is in progress: the job keeps firing every second and every
    # firing after the first must find the claim and run nothing.
    handle = await pushdown.submit(insert_sql(token, "SELECT pg_sleep(4)"))
    wait_until(
        lambda: (
            query_one(
                engine_dsn,
                "SELECT claimed_at IS NOT NULL FROM pgcron.submission WHERE id = %s",
                (handle.submission_id,),
            )
            or (False,)
        )[0],
        30,
        "the claim",
    )
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute("SELECT cron.alter_job(%s, schedule := '1 seconds')", (handle.jobid,))

    def fired_again() -> bool:  # seen before maintenance removes the job and deletes the no-op rows
        row = query_one(
            engine_dsn, "SELECT count(*) FROM cron.job_run_details WHERE jobid = %s", (handle.jobid,)
        )
        return row is not None and int(row[0]) >= 2  # type: ignore[call-overload]

    wait_until(fired_again, 15, "a repeat firing")
    run = await pushdown.wait(handle, timeout=60)
    assert run.status is RunStatus.SUCCEEDED
    assert count(engine_dsn, token) == 1


async def test_failing_sql_runs_once_and_reports_the_normalized_error(
    pushdown: AsyncPushdown, engine_dsn: str, token: str
) -> None:
    # A sequence is not transactional: it counts executions of a command that fails and rolls back.
    seq = f"pushdown_seq_{token}"
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE SEQUENCE {}").format(psycopg.sql.Identifier(seq)))
    try:
        command = (
            psycopg.sql.SQL("SELECT nextval({}); SELECT 1/0").format(psycopg.sql.Literal(seq)).as_string(None)
        )
        with pytest.raises(RunFailed) as info:
            await pushdown.run_now(command, key=f"k-{token}")
        run = info.value.run  # type: ignore[attr-defined]
        assert run.status is RunStatus.FAILED
        assert run.message == "ERROR: division by zero"  # same text in both modes, without our context line
        again = await pushdown.submit(command, key=f"k-{token}")
        assert again.status is RunStatus.FAILED and again.runid == run.runid
        wait_until(
            lambda: not job_exists(engine_dsn, run.jobid), JOB_REMOVAL_BOUND_S, "temporary job removal"
        )
        last = query_one(
            engine_dsn,
            psycopg.sql.SQL("SELECT last_value, is_called FROM {}")
            .format(psycopg.sql.Identifier(seq))
            .as_string(None),
        )
        assert last == (1, True)  # executed exactly once
    finally:
        with psycopg.connect(engine_dsn, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("DROP SEQUENCE {}").format(psycopg.sql.Identifier(seq)))


async def test_same_key_different_command_is_refused(pushdown: AsyncPushdown, token: str) -> None:
    await pushdown.submit("SELECT 1", key=f"k-{token}")
    with pytest.raises(KeyConflict, match="different command"):
        await pushdown.submit("SELECT 2", key=f"k-{token}")


async def test_attach_unknown_key(pushdown: AsyncPushdown, token: str) -> None:
    with pytest.raises(SubmissionNotFound, match=token):
        await pushdown.attach(f"missing-{token}")


async def test_concurrent_submissions_run_once_each_and_share_two_connections(
    pushdown: AsyncPushdown, engine_dsn: str
) -> None:
    tokens = [f"t{secrets.token_hex(6)}" for _ in range(12)]
    handles = await asyncio.gather(*(pushdown.submit(insert_sql(t, "SELECT pg_sleep(1)")) for t in tokens))
    runs = await asyncio.gather(*(pushdown.wait(h, timeout=120) for h in handles))
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * len(tokens)
    assert [count(engine_dsn, t) for t in tokens] == [1] * len(tokens)
    hub = pushdown.hub
    assert hub is not None and hub.connections <= 2


async def test_wait_timeout_gives_up_waiting_not_the_run(
    pushdown: AsyncPushdown, engine_dsn: str, token: str
) -> None:
    handle = await pushdown.submit(insert_sql(token, "SELECT pg_sleep(3)"))
    with pytest.raises(RunTimeout, match="goes on in the database"):
        await pushdown.wait(handle, timeout=0.5)
    run = await pushdown.wait(handle, timeout=60)
    assert run.status is RunStatus.SUCCEEDED and count(engine_dsn, token) == 1


def test_sync_twin(sync_pushdown: Pushdown, engine_dsn: str, token: str) -> None:
    handle = sync_pushdown.submit(insert_sql(token), key=f"k-{token}")
    assert handle.status is RunStatus.PENDING
    run = sync_pushdown.wait(handle, timeout=60)
    assert run.status is RunStatus.SUCCEEDED
    assert sync_pushdown.attach(f"k-{token}").runid == run.runid
    assert count(engine_dsn, token) == 1


async def test_a_run_row_without_pid_is_still_the_claimed_run(
    pushdown: AsyncPushdown, engine_dsn: str, token: str
) -> None:
    """In background-worker mode the launcher records a run's pid only if it sees the worker alive; a fast
    failure on a busy server leaves ``job_pid`` NULL. The run is still found (its runid, its message)."""
    with pytest.raises(RunFailed) as info:
        await pushdown.run_now("SELECT 1/0", key=f"k-{token}")
    run = info.value.run  # type: ignore[attr-defined]
    assert run.runid > 0
    # What the launcher leaves when it never saw the worker: no pid and no start time.
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE cron.job_run_details SET job_pid = NULL, start_time = NULL WHERE runid = %s", (run.runid,)
        )
    again = await pushdown.submit("SELECT 1/0", key=f"k-{token}")
    assert again.status is RunStatus.FAILED
    assert again.runid == run.runid
    assert again.message == "ERROR: division by zero"
