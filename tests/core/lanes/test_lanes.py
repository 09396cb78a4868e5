"""Lanes against real pg_cron, both execution modes (docs/adr/0006-lanes.md): runs at once with the
submitter's rights, exactly once per key, cancel and timeout hit only their own submission and the lane goes
on, a lost lane backend is reported lost and never run twice, fallback to the per-submission job, and lanes
never cross roles.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from pgcron import Client
from pgcron.errors import PgCronError
from pgcron.models import RunStatus

from .conftest import count, insert_sql, query_one, wait_until

pytestmark = pytest.mark.timeout(180)


def _submission(dsn: str, sid: int) -> dict[str, object]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(
            "SELECT via, claimed_pid, lane_worker, lane_fallback_at, outcome, jobid FROM pgcron.submission "
            "WHERE id = %s",
            (sid,),
        )
        row = cur.fetchone()
        assert row is not None
        return dict(zip([d.name for d in cur.description or ()], row, strict=True))


def _claimed(dsn: str, sid: int) -> bool:
    return _submission(dsn, sid)["claimed_pid"] is not None


def _lane_pids(dsn: str) -> set[int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pgcron.lane_worker"
            " WHERE role = current_user AND state IN ('idle', 'busy', 'sleeping')"
        ).fetchall()
    return {int(r[0]) for r in rows}


def test_lane_runs_at_once_with_the_role_s_rights(engine_dsn, make_role, token):
    alice = make_role("alice")
    with Client.connect(alice) as client:
        status = client.lane_start(1)
        assert status.live == 1 and status.workers[0].jobid is not None
        run = client.run_now(insert_sql(token, "SELECT current_user"))
        assert run.status is RunStatus.SUCCEEDED, run
        assert run.via == "lane"
        assert count(engine_dsn, token) == 1
        # no per-submission job was created, and the SQL ran as alice
        assert query_one(alice, "SELECT count(*) FROM cron.job WHERE jobname LIKE 'pgcron:run:%%'") == (0,)
        handle = client.submit("SELECT session_user = current_user AND current_user::text LIKE 'lane_%'")
        assert client.wait(handle).status is RunStatus.SUCCEEDED
        assert handle.via == "lane"
        stopped = client.lane_stop()
        assert stopped.running == 0
        assert query_one(alice, "SELECT count(*) FROM cron.job WHERE jobname LIKE 'pgcron:lane:%%'") == (0,)
        after = client.run_now("SELECT 1")
        assert after.via == "job"  # no lane: today's path


def test_exactly_once_per_key_under_concurrent_submits(engine_dsn, make_role, token):
    alice = make_role("alice")
    with Client.connect(alice) as client:
        client.lane_start(2)

        def one(i: int) -> tuple[int, str]:
            key = f"{token}-{i % 20}"  # every key submitted twice, concurrently
            handle = client.submit(insert_sql(f"{token}-{i % 20}"), key=key)
            run = client.wait(handle, timeout=60)
            assert run.status is RunStatus.SUCCEEDED, run
            return handle.submission_id, run.via or ""

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(one, range(40)))
        assert len({sid for sid, _ in results}) == 20
        for i in range(20):
            assert count(engine_dsn, f"{token}-{i}") == 1
        workers = query_one(
            alice,
            "SELECT count(DISTINCT lane_worker) FROM pgcron.submission WHERE key LIKE %s AND via = 'lane'",
            (f"{token}-%",),
        )
        assert workers is not None and int(workers[0]) >= 1  # type: ignore[call-overload]
        client.lane_stop()


def test_cancel_hits_the_run_and_the_lane_keeps_serving(engine_dsn, make_role, token):
    alice = make_role("alice")
    with Client.connect(alice) as client:
        client.lane_start(1)
        pids = _lane_pids(alice)
        handle = client.submit(insert_sql(token, "SELECT pg_sleep(30)"))
        assert handle.via == "lane"
        wait_until(lambda: _claimed(alice, handle.submission_id), 10, "the lane to start the run")
        client.cancel(handle)
        run = client.wait(handle, timeout=20)
        assert run.status is RunStatus.CANCELED, run
        assert "canceling statement due to user request" in (run.message or "")
        assert count(engine_dsn, token) == 0  # the INSERT rolled back with the canceled statement
        nxt = client.run_now(insert_sql(token + "n"))
        assert nxt.via == "lane" and nxt.status is RunStatus.SUCCEEDED
        assert _lane_pids(alice) == pids  # the same backend survived the cancel
        client.lane_stop()


def test_timeout_is_enforced_by_the_database(engine_dsn, make_role, token):
    alice = make_role("alice")
    with Client.connect(alice) as client:
        client.lane_start(1)
        started = time.monotonic()
        handle = client.submit(insert_sql(token, "SELECT pg_sleep(60)"), timeout=1)
        run = client.wait(handle, timeout=30)
        assert run.status is RunStatus.FAILED, run
        assert "timeout" in (run.message or "")
        assert time.monotonic() - started < 20
        assert count(engine_dsn, token) == 0
        assert client.run_now("SELECT 1").via == "lane"
        client.lane_stop()


def test_a_held_back_signal_lands_in_the_finish_not_the_next_run(engine_dsn, make_role, token):
    """The signaller holds the submission's row while it signals; the lane's finish waits for that lock, so
    the signal lands in the finish (caught, retried), never in the next submission's SQL."""
    alice = make_role("alice")
    with Client.connect(alice) as client:
        client.lane_start(1)
        (pid,) = _lane_pids(alice)
        first = client.submit(insert_sql(token, "SELECT pg_sleep(0.3)"))
        wait_until(lambda: _claimed(alice, first.submission_id), 10, "the first run to start")
        with psycopg.connect(engine_dsn) as su:  # the engine owner, as maintenance would
            su.execute("SELECT 1 FROM pgcron.submission WHERE id = %s FOR UPDATE", (first.submission_id,))
            su.execute(
                "UPDATE pgcron.submission SET cancel_requested_at = clock_timestamp() WHERE id = %s",
                (first.submission_id,),
            )
            time.sleep(1.0)  # the SQL is over; the lane waits for this row in its finish
            second = client.submit(insert_sql(token + "b", "SELECT pg_sleep(0.5)"))
            su.execute("SELECT pg_cancel_backend(%s)", (pid,))
            su.commit()
        run1 = client.wait(first, timeout=20)
        run2 = client.wait(second, timeout=20)
        assert run1.status is RunStatus.SUCCEEDED, run1  # its SQL had finished: the outcome says so
        assert run2.status is RunStatus.SUCCEEDED, run2  # the signal never reached the next submission
        assert count(engine_dsn, token) == 1 and count(engine_dsn, token + "b") == 1
        assert _lane_pids(alice) == {pid}
        client.lane_stop()


def test_racing_cancels_never_hit_the_next_submission(engine_dsn, make_role, token):
    alice = make_role("alice")
    with Client.connect(alice) as client:
        client.lane_start(1)
        for i in range(12):
            a = client.submit(insert_sql(f"{token}a{i}", f"SELECT pg_sleep({0.01 * (i % 4)})"))
            b = client.submit(insert_sql(f"{token}b{i}"))
            time.sleep(0.005 * (i % 5))
            client.cancel(a)
            assert client.wait(b, timeout=20).status is RunStatus.SUCCEEDED
            assert client.wait(a, timeout=20).status in (RunStatus.SUCCEEDED, RunStatus.CANCELED)
            assert count(engine_dsn, f"{token}b{i}") == 1
        client.lane_stop()


def test_a_lost_lane_backend_is_reported_lost_and_never_rerun(engine_dsn, make_role, token):
    alice = make_role("alice")
    with Client.connect(alice) as client:
        client.lane_start(1)
        handle = client.submit(insert_sql(token, "SELECT pg_sleep(30)"))
        wait_until(lambda: _claimed(alice, handle.submission_id), 10, "the lane to start the run")
        (pid,) = _lane_pids(alice)
        query_one(engine_dsn, "SELECT pg_terminate_backend(%s)", (pid,))
        run = client.wait(handle, timeout=30)
        assert run.status is RunStatus.LOST, run
        assert count(engine_dsn, token) == 0
        # pg_cron starts the lane again; the lost submission is not run a second time
        wait_until(lambda: bool(_lane_pids(alice) - {pid}), 15, "the lane's next run")
        assert client.run_now(insert_sql(token + "n")).status is RunStatus.SUCCEEDED
        assert count(engine_dsn, token) == 0
        client.lane_stop()


def test_falls_back_to_its_own_job_when_the_lane_is_stuck(engine_dsn, make_role, token):
    alice = make_role("alice")
    with Client.connect(alice) as client:
        client.lane_start(1)
        busy = client.submit("SELECT pg_sleep(8)")
        wait_until(lambda: _claimed(alice, busy.submission_id), 10, "the busy run to start")
        queued = client.submit(insert_sql(token))
        assert queued.via == "lane"  # the busy worker had just claimed: routed to the lane
        run = client.wait(queued, timeout=30)
        assert run.status is RunStatus.SUCCEEDED
        assert run.via == "job"
        row = _submission(alice, queued.submission_id)
        assert row["lane_fallback_at"] is not None and row["lane_worker"] is None
        client.wait(busy, timeout=30)
        time.sleep(1.0)
        assert count(engine_dsn, token) == 1  # the lane never ran it as well
        client.lane_stop()


def test_mallory_s_lane_never_runs_alice_s_submissions(engine_dsn, make_role, token):
    alice, mallory = make_role("alice"), make_role("mallory")
    with Client.connect(alice) as a, Client.connect(mallory) as m:
        m.lane_start(1)
        run = a.run_now(insert_sql(token))
        assert run.via == "job"  # alice has no lane; mallory's is not hers
        a.lane_start(1)
        busy = a.submit("SELECT pg_sleep(4)")
        wait_until(lambda: _claimed(alice, busy.submission_id), 10, "alice's busy run")
        queued = a.submit(insert_sql(token + "q"))
        assert queued.via == "lane"
        with psycopg.connect(mallory, autocommit=True) as conn:
            # mallory's own backend asks for work as a lane worker: only mallory's rows are offered
            assert conn.execute("SELECT * FROM pgcron._lane_claim(1)").fetchall() == []
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(
                    "SELECT * FROM pgcron._submission_to_lane(%s, %s)",
                    (query_one(alice, "SELECT current_user")[0], queued.submission_id),  # type: ignore[index]
                )
            # nor can mallory see or fall back alice's submission
            with pytest.raises(psycopg.Error):
                conn.execute("SELECT pgcron.lane_fallback(%s)", (queued.submission_id,))
        done = a.wait(queued, timeout=30)
        assert done.status is RunStatus.SUCCEEDED
        assert count(engine_dsn, token + "q") == 1
        mine = m.lane_status()
        assert all(w.served == 0 for w in mine.workers)
        a.lane_stop()
        m.lane_stop()


def test_lane_start_validates_workers(engine_dsn, make_role):
    alice = make_role("alice")
    with Client.connect(alice) as client:
        with pytest.raises(PgCronError, match="1 to 32"):
            client.lane_start(0)
        with pytest.raises(PgCronError, match="1 to 32"):
            client.lane_start(33)
        assert client.lane_status().wanted == 0
