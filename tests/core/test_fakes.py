"""``pgcron.testing.FakeClient`` / ``AsyncFakeClient`` beyond the shared contract (tests/core/pushdown/
test_fake_contract.py): scripts, held runs, timeouts, the clock, job runs, the feed, plan/apply and audit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta

import pgcron
import pytest
from pgcron import JobSpec, RunStatus
from pgcron.plan import PlanStale
from pgcron.testing import T0, AsyncFakeClient, FakeClient

S = RunStatus


def test_importing_the_fakes_needs_no_pytest() -> None:
    code = "import sys, pgcron.testing; assert 'pytest' not in sys.modules; pgcron.testing.FakeClient()"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unscripted_runs_succeed_and_the_latest_script_wins() -> None:
    fake = FakeClient()
    assert fake.run_now("SELECT anything()").message == "succeeded"
    fake.fail(lambda sql: "flaky" in sql, "ERROR: deadlock detected")
    with pytest.raises(pgcron.RunFailed, match="deadlock"):
        fake.run_now("SELECT flaky()", key="a")
    fake.script("SELECT flaky()", rows=5, duration=timedelta(seconds=3))
    run = fake.run_now("SELECT flaky()", key="b")
    assert (run.status, run.message, run.rows, run.duration) == (
        S.SUCCEEDED,
        "5 rows",
        5,
        timedelta(seconds=3),
    )
    assert fake.submitted == ["fake-1", "a", "b"] and fake.calls["submit"] == 3
    assert [r.runid for r in fake.runs()] == [3, 2, 1]  # run ids count from 1, newest first


def test_a_held_run_times_out_the_wait_until_released_or_canceled() -> None:
    fake = FakeClient()
    fake.script("SELECT pg_sleep(60)", hold=True, rows=1)
    handle = fake.submit("SELECT pg_sleep(60)", key="long")
    with pytest.raises(pgcron.RunTimeout, match="release"):
        fake.wait(handle, timeout=5)
    assert fake.attach("long").status is S.RUNNING and fake.attach("long").runid == 1
    assert fake.release("long").status is S.SUCCEEDED
    fake.submit("SELECT pg_sleep(60)", key="again")
    with pytest.raises(pgcron.RunTimeout):
        fake.wait(fake.attach("again"))
    fake.cancel(fake.attach("again"))
    run = fake.wait(fake.attach("again"))
    assert (run.status, run.message) == (S.CANCELED, "ERROR: canceling statement due to user request")
    assert fake.canceled == ["again"]
    fake.cancel(fake.attach("again"))  # over already: nothing happens
    assert fake.canceled == ["again"]


def test_a_run_longer_than_its_timeout_fails_with_the_engine_message() -> None:
    fake = FakeClient()
    fake.script("CALL slow()", duration=timedelta(minutes=20))
    run = fake.wait(fake.submit("CALL slow()", timeout=600))
    assert run.status is S.FAILED
    assert run.message == "pgcron: the run exceeded its timeout of 00:10:00 and was canceled"
    assert run.duration == timedelta(minutes=10)


def test_submit_refuses_what_the_client_refuses() -> None:
    fake = FakeClient()
    with pytest.raises(pgcron.UnsupportedCommand):
        fake.submit("")
    with pytest.raises(pgcron.PgCronError, match="key"):
        fake.submit("SELECT 1", key="x" * 201)
    with pytest.raises(pgcron.PgCronError, match="timeout"):
        fake.submit("SELECT 1", timeout=-1)
    with pytest.raises(pgcron.KeyConflict):
        fake.submit("SELECT 1", key="k")
        fake.submit("SELECT 1", key="k", database="other")


def test_job_runs_by_hand_and_the_feed_in_runid_order() -> None:
    fake = FakeClient()
    job = fake.schedule(JobSpec("shop:purge", "0 * * * *", "DELETE FROM events"))
    long = fake.record_run(job, status=S.RUNNING)
    short = fake.record_run("shop:purge", message="DELETE 3", start=T0 + timedelta(seconds=5))
    assert short.rows == 3 and long.end_time is None
    page = fake.runs_after(0, jobids=[job.jobid])
    assert [r.runid for r in page.runs] == [1, 2] and page.observed_at == fake.now and not page.full
    late = fake.record_run(job, status=S.FAILED, message="ERROR: boom", runid=7)
    assert fake.record_run(job).runid == 8  # the sequence goes on after the highest
    fake.finish_run(long.runid, S.SUCCEEDED, message="DELETE 10")
    assert fake.run(long.runid).rows == 10
    assert [r.runid for r in fake.runs(job="shop:purge", status=S.FAILED)] == [late.runid]
    assert fake.start_runid(T0) == 0 and fake.start_runid(T0 + timedelta(seconds=1)) == 8  # 1, 7, 8 at T0
    assert fake.runs_after(2, limit=1).full
    fake.unschedule(job.jobid)
    assert len(fake.runs(job=job.jobid)) == 4  # runs outlive their job
    with pytest.raises(pgcron.JobNotFound):
        fake.runs(job="shop:purge")


def test_advance_fires_schedules_and_starts_pending_submissions() -> None:
    fake = FakeClient()
    fake.schedule(JobSpec("shop:expire", "*/15 * * * *", "CALL expire()"))
    fake.fail("CALL expire()", "ERROR: lock timeout")
    handle = fake.submit("SELECT 1", key="queued")
    runs = fake.advance(timedelta(hours=1))
    assert fake.now == T0 + timedelta(hours=1)
    assert [(r.command, r.status) for r in runs] == [("SELECT 1", S.SUCCEEDED)] + [
        ("CALL expire()", S.FAILED)
    ] * 4
    assert [r.start_time for r in runs[1:]] == [T0 + timedelta(minutes=m) for m in (15, 30, 45, 60)]
    assert fake.attach(handle.key).status is S.SUCCEEDED


def test_audit_finds_the_fire_times_a_stopped_scheduler_missed() -> None:
    fake = FakeClient()
    fake.schedule(JobSpec("shop:expire", "*/10 * * * *", "CALL expire()"))
    fake.advance(timedelta(minutes=30))
    assert fake.audit(timedelta(hours=1)).findings == ()
    fake.advance(timedelta(minutes=30), fire=False)
    (missed,) = fake.audit(timedelta(hours=1), job="shop:expire").findings
    assert missed.kind.value == "missed" and missed.count == 2  # 00:40 and 00:50; 01:00 is too young
    with pytest.raises(pgcron.PgCronError, match="no job named"):
        fake.audit(job="nope")


def test_plan_and_apply_keep_jobids_and_refuse_a_stale_plan() -> None:
    fake = FakeClient()
    specs = [JobSpec("expire", "*/5 * * * *", "CALL expire()"), JobSpec("purge", "@daily", "CALL purge()")]
    result = fake.apply(fake.plan(specs, namespace="shop"))
    assert result.created == ("shop:expire", "shop:purge")
    changed = [JobSpec("expire", "*/10 * * * *", "CALL expire()")]
    plan = fake.plan(changed, namespace="shop", prune=True)
    assert plan.summary()["update"] == 1 and plan.summary()["delete"] == 1
    fake.schedule(JobSpec("shop:expire", "0 * * * *", "CALL expire()"))  # changed meanwhile
    with pytest.raises(PlanStale):
        fake.apply(plan)
    applied = fake.apply(fake.plan(changed, namespace="shop", prune=True))
    assert applied.jobids["shop:expire"] == result.jobids["shop:expire"]
    assert [j.name for j in fake.jobs()] == ["shop:expire"]
    assert not fake.plan(changed, namespace="shop").pending
    with pytest.raises(pgcron.UnsupportedFeature, match="lanes"):
        fake.plan(changed, namespace="shop", lane_workers=1)


def test_the_async_fake_shares_the_state_of_its_sync_view() -> None:
    afake = AsyncFakeClient()

    async def scenario() -> pgcron.Run:
        afake.fail("SELECT 1/0", "ERROR: division by zero")
        attempt = await afake.submit_attempt("SELECT 1/0", key="base")
        return await afake.wait(attempt.handle)

    run = asyncio.run(scenario())
    assert run.message == "ERROR: division by zero"
    assert afake.sync.attach("base").status is S.FAILED and afake.sync.aio is afake
    fake = FakeClient()
    assert fake.aio.sync is fake


def test_the_client_example_of_the_docs_passes(
    doc_example_tests: Callable[..., list[Callable[[], object]]],
) -> None:
    tests = doc_example_tests("testing.md", "test_nightly.py")
    assert len(tests) >= 2
    for test in tests:
        test()
