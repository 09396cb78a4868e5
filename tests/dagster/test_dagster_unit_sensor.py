"""Unit tests of the run sensor's tick logic and cursor, over the shipped ``pgcron.testing.FakeClient``."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pgcron
from dagster_pgcron.cursor import SensorCursor
from dagster_pgcron.sensor import ClientRunSource, SensorSettings, collect_events
from pgcron.runfeed import RunCursor
from pgcron.testing import T0, FakeClient

S = pgcron.RunStatus
WATCHED = {"ns:ok": dg.AssetKey(["pg_cron", "ns", "ok"]), "ns:bad": dg.AssetKey(["pg_cron", "ns", "bad"])}
NO_AUDIT = SensorSettings(audit_interval=None, lookback=timedelta(days=365), settle=timedelta(seconds=30))


def reported(events: list) -> list[tuple[str, int]]:
    out = []
    for e in events:
        if isinstance(e, (dg.AssetMaterialization, dg.AssetObservation)):
            out.append((type(e).__name__, e.metadata["dagster-pgcron/runid"].value))
    return out


def source(*names: str, schedule: str = "* * * * *", now: timedelta = timedelta(days=1)) -> ClientRunSource:
    """The sensor's real run source over a fake with these jobs (jobids 1, 2, ...); the clock at T0 + now."""
    fake = FakeClient(now=T0 + now)
    for name in names or ("ns:ok", "ns:bad", "other"):
        fake.schedule(pgcron.JobSpec(name, schedule, "SELECT 1"))
    return ClientRunSource(fake)


def fake(src: ClientRunSource) -> FakeClient:
    assert isinstance(src.client, FakeClient)
    return src.client


def run(
    src: ClientRunSource, runid: int, jobid: int, status: pgcron.RunStatus, *, message: str | None = None
) -> pgcron.Run:
    """Run ``runid`` of job ``jobid``, started ``runid`` seconds after T0; a terminal one ends at once."""
    start = T0 + timedelta(seconds=runid)
    default = "INSERT 0 1" if status is S.SUCCEEDED else "ERROR: boom"
    return fake(src).record_run(
        jobid, status=status, message=message or default, start=start, end=start, runid=runid
    )


def finish(src: ClientRunSource, runid: int, status: pgcron.RunStatus) -> None:
    start = fake(src).run(runid).start_time
    assert start is not None
    fake(src).finish_run(runid, status, end=start + timedelta(seconds=1))


def test_success_and_failure_map_to_materialization_observation_and_checks() -> None:
    src = source()
    run(src, 10, 1, S.SUCCEEDED)
    run(src, 11, 2, S.FAILED, message="ERROR: division by zero")
    run(src, 12, 3, S.SUCCEEDED)
    tick = collect_events(src, None, WATCHED, NO_AUDIT)
    assert reported(tick.events) == [("AssetMaterialization", 10), ("AssetObservation", 11)]
    checks = [e for e in tick.events if isinstance(e, dg.AssetCheckEvaluation)]
    assert [(c.asset_key, c.passed) for c in checks] == [(WATCHED["ns:ok"], True), (WATCHED["ns:bad"], False)]
    assert checks[1].metadata["dagster-pgcron/message"].value == "ERROR: division by zero"
    mat = tick.events[0]
    assert mat.metadata["dagster-pgcron/rows"].value == 1
    assert mat.metadata["dagster-pgcron/job_name"].value == "ns:ok"


def test_out_of_order_finish_reports_each_run_exactly_once() -> None:
    src = source()
    # 10 is a long run still going; 11 and 12 finish first.
    run(src, 10, 1, S.RUNNING)
    run(src, 11, 2, S.FAILED)
    run(src, 12, 1, S.SUCCEEDED)
    t1 = collect_events(src, None, WATCHED, NO_AUDIT)
    assert reported(t1.events) == [("AssetObservation", 11), ("AssetMaterialization", 12)]
    cur = SensorCursor.parse(t1.cursor.serialize())
    assert cur is not None and cur.runs.watermark < 10 and cur.runs.settled_ranges == ((11, 12),)
    # nothing new: a second tick reports nothing
    t2 = collect_events(src, cur, WATCHED, NO_AUDIT)
    assert reported(t2.events) == [] and t2.skip_reason
    # the long run ends, a new one arrives
    finish(src, 10, S.SUCCEEDED)
    run(src, 13, 2, S.SUCCEEDED)
    t3 = collect_events(src, SensorCursor.parse(t2.cursor.serialize()), WATCHED, NO_AUDIT)
    assert reported(t3.events) == [("AssetMaterialization", 10), ("AssetMaterialization", 13)]
    # every run settled: the watermark passes all of them and no range is left above it
    assert t3.cursor.runs.watermark == 13 and t3.cursor.runs.settled_ranges == ()


def test_watermark_waits_for_settle_time() -> None:
    src = source()
    ended = run(src, 10, 1, S.SUCCEEDED).end_time
    assert ended is not None
    fake(src).now = ended + timedelta(seconds=5)  # ended 5 s ago, settle is 30 s
    t1 = collect_events(src, None, WATCHED, NO_AUDIT)
    assert reported(t1.events) == [("AssetMaterialization", 10)]
    assert t1.cursor.runs.watermark < 10 and t1.cursor.runs.is_settled(10)
    # a run with a smaller id committed late must still be seen
    run(src, 9, 2, S.FAILED)
    fake(src).now += timedelta(minutes=1)
    t2 = collect_events(src, t1.cursor, WATCHED, NO_AUDIT)
    assert reported(t2.events) == [("AssetObservation", 9)]
    assert t2.cursor.runs.watermark == 10


def test_paging_past_a_blocking_run_reaches_new_runs() -> None:
    src = source()
    run(src, 1, 1, S.RUNNING)
    for i in range(2, 1203):
        run(src, i, 2, S.SUCCEEDED)
    settings = SensorSettings(audit_interval=None, lookback=timedelta(days=365), page_size=100)
    t1 = collect_events(src, None, WATCHED, settings)
    assert len(reported(t1.events)) == 1201
    assert fake(src).calls["runs_after"] >= 12
    # the settled runs above the blocking run stay small on the wire: one range
    assert t1.cursor.runs.serialize() == "0;2-1202"
    run(src, 1300, 1, S.SUCCEEDED)
    t2 = collect_events(src, t1.cursor, WATCHED, settings)
    assert reported(t2.events) == [("AssetMaterialization", 1300)]


def test_unscheduled_job_keeps_its_name_through_the_cursor() -> None:
    src = source()
    run(src, 10, 1, S.RUNNING)
    t1 = collect_events(src, None, WATCHED, NO_AUDIT)
    fake(src).unschedule(1)  # cron.job no longer names it; its runs remain
    finish(src, 10, S.SUCCEEDED)
    t2 = collect_events(src, SensorCursor.parse(t1.cursor.serialize()), WATCHED, NO_AUDIT)
    assert reported(t2.events) == [("AssetMaterialization", 10)]
    assert t2.events[0].asset_key == WATCHED["ns:ok"]


def test_no_watched_job_exists_yet_skips_with_reason() -> None:
    src = source("other")
    tick = collect_events(src, None, WATCHED, NO_AUDIT)
    assert tick.events == [] and "apply the jobs first" in (tick.skip_reason or "")


def test_first_tick_starts_at_lookback() -> None:
    src = source(now=timedelta(seconds=40))
    for i in range(1, 50):
        run(src, i, 1, S.SUCCEEDED)
    settings = SensorSettings(audit_interval=None, lookback=timedelta(seconds=10))
    tick = collect_events(src, None, WATCHED, settings, now=fake(src).now)
    ids = [rid for _, rid in reported(tick.events)]
    assert ids and min(ids) >= 30 and max(ids) == 49


def test_audit_missed_fire_times_fail_the_on_schedule_check_once() -> None:
    fired = FakeClient(now=T0)  # 00:00: both jobs scheduled, "other" is not watched
    fired.schedule(pgcron.JobSpec("ns:ok", "*/5 * * * *", "CALL ok()"))
    fired.schedule(pgcron.JobSpec("ns:bad", "0 3 * * *", "CALL bad()"))  # no fire time in the window
    fired.schedule(pgcron.JobSpec("other", "*/5 * * * *", "CALL other()"))
    src = ClientRunSource(fired)
    fired.advance(timedelta(minutes=19, seconds=30), fire=False)  # the scheduler misses 00:05, :10, :15
    settings = SensorSettings(audit_interval=timedelta(minutes=10), audit_late_after=timedelta(seconds=60))
    t1 = collect_events(src, None, WATCHED, settings, now=fired.now)
    evs = {(e.asset_key, e.passed) for e in t1.events if isinstance(e, dg.AssetCheckEvaluation)}
    assert evs == {(WATCHED["ns:ok"], False), (WATCHED["ns:bad"], True)}
    failed = next(e for e in t1.events if isinstance(e, dg.AssetCheckEvaluation) and not e.passed)
    assert failed.check_name == "pg_cron_on_schedule" and failed.metadata["dagster-pgcron/missed"].value == 3
    # within the interval: no second audit
    t2 = collect_events(src, t1.cursor, WATCHED, settings, now=fired.now + timedelta(minutes=1))
    assert fired.calls["audit"] == 1 and not t2.audited
    # the scheduler is back (00:20, :25, :30 run); the next audit does not report the old misses again
    fired.advance(timedelta(minutes=11))
    t3 = collect_events(src, t2.cursor, WATCHED, settings, now=fired.now)
    assert t3.audited
    assert all(e.passed for e in t3.events if isinstance(e, dg.AssetCheckEvaluation))


def test_bad_cursor_restarts_from_the_lookback_window() -> None:
    assert SensorCursor.parse("not json") is None
    assert SensorCursor.parse('{"v": 99, "w": 1}') is None
    assert SensorCursor.parse('{"v": 2, "runs": "5;3-1"}') is None


def test_version_1_cursor_is_read_and_a_bare_run_cursor_sets_the_start() -> None:
    old = '{"v":1,"w":9,"done":[[11,12],[14,14]],"jobs":{"1":"ns:ok"},"audit":"2026-01-01T00:00:00+00:00"}'
    cur = SensorCursor.parse(old)
    assert cur is not None and cur.runs == RunCursor(9, [(11, 12), (14, 14)])
    assert cur.jobs == {1: "ns:ok"} and cur.audited_until == T0
    again = SensorCursor.parse(cur.serialize())
    assert again == cur
    by_hand = SensorCursor.parse("1234")  # dagster sensor cursor --set 1234
    assert by_hand is not None and by_hand.runs.watermark == 1234 and by_hand.jobs == {}


def test_an_old_cursor_does_not_report_its_runs_again() -> None:
    src = source()
    run(src, 10, 1, S.RUNNING)
    run(src, 11, 2, S.FAILED)
    run(src, 12, 1, S.SUCCEEDED)
    old = SensorCursor.parse('{"v":1,"w":9,"done":[[11,12]],"jobs":{},"audit":null}')
    finish(src, 10, S.SUCCEEDED)
    tick = collect_events(src, old, WATCHED, NO_AUDIT)
    assert reported(tick.events) == [("AssetMaterialization", 10)]
