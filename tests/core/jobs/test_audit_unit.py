"""audit_job: fire times versus runs (unit: no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pgcron.audit import AuditRun, FindingKind, audit_job
from pgcron.models import RunStatus
from pgcron.schedule import Schedule

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EVERY_MINUTE = Schedule.parse("* * * * *")


def run(
    runid: int, minute: float, duration: float = 1.0, status: RunStatus = RunStatus.SUCCEEDED
) -> AuditRun:
    start = T0 + timedelta(minutes=minute)
    return AuditRun(runid, status, start, start + timedelta(seconds=duration), None)


def audit(runs: list[AuditRun], until_minute: float = 9.5, schedule: Schedule = EVERY_MINUTE, **kw: object):  # type: ignore[no-untyped-def]
    return audit_job(
        1,
        "ns:a",
        schedule,
        runs,
        since=T0 - timedelta(seconds=30),
        until=T0 + timedelta(minutes=until_minute),
        **kw,
    )  # type: ignore[arg-type]


def test_all_on_time() -> None:
    findings, expected = audit([run(i, i + 0.001) for i in range(10)])
    assert expected == 10 and findings == []


def test_gap_is_reported_as_one_missed_finding_with_a_count() -> None:
    runs = [run(i, i + 0.001) for i in [0, 1, 2, 8, 9]]
    findings, _ = audit(runs)
    assert [(f.kind, f.count, f.expected) for f in findings] == [
        (FindingKind.MISSED, 5, T0 + timedelta(minutes=3))
    ]


def test_late_start() -> None:
    runs = [run(i, i + (0.75 if i == 4 else 0.001)) for i in range(10)]
    findings, _ = audit(runs, late_after=timedelta(seconds=30))
    assert [(f.kind, f.expected, f.delay) for f in findings] == [
        (FindingKind.LATE, T0 + timedelta(minutes=4), timedelta(seconds=45))
    ]


def test_a_run_after_the_next_fire_time_without_overlap_is_not_the_missing_one() -> None:
    # pg_cron only starts a firing after the next one if the job was busy; here it was not.
    runs = [run(i, i + 0.001) for i in range(10) if i != 4]
    findings, _ = audit(runs, late_after=timedelta(seconds=30))
    assert [(f.kind, f.expected, f.count) for f in findings] == [
        (FindingKind.MISSED, T0 + timedelta(minutes=4), 1)
    ]


def test_queued_behind_a_long_run() -> None:
    # The 12:00 run takes 150 s: pg_cron queues 12:01 and 12:02, which start back to back after it.
    runs = [run(1, 0.001, 150), run(2, 2.51, 1), run(3, 2.53, 1)] + [
        run(i + 1, i + 0.001) for i in range(3, 10)
    ]
    findings, _ = audit(runs, late_after=timedelta(seconds=30))
    assert [(f.kind, f.expected) for f in findings] == [
        (FindingKind.QUEUED, T0 + timedelta(minutes=1)),
        (FindingKind.QUEUED, T0 + timedelta(minutes=2)),
    ]


def test_failed_and_stuck_runs() -> None:
    runs = [run(i, i + 0.001) for i in range(10)]
    runs[3] = run(3, 3.001, status=RunStatus.FAILED)
    runs[9] = AuditRun(9, RunStatus.RUNNING, T0 + timedelta(minutes=9), None)
    findings, _ = audit(runs, until_minute=200, stuck_after=timedelta(hours=1))
    kinds = {f.kind for f in findings}
    assert FindingKind.FAILED in kinds and FindingKind.STUCK in kinds


def test_inactive_job_expects_nothing_after_its_last_run() -> None:
    findings, expected = audit([run(i, i + 0.001) for i in range(3)], active=False)
    assert findings == [] and expected == 3


def test_interval_gap() -> None:
    every_10s = Schedule.parse("10 seconds")
    runs = [AuditRun(i, RunStatus.SUCCEEDED, T0 + timedelta(seconds=10 * i), None) for i in range(6)]
    runs += [AuditRun(100, RunStatus.SUCCEEDED, T0 + timedelta(seconds=300), None)]
    findings, _ = audit_job(
        1,
        "x",
        every_10s,
        runs,
        since=T0 - timedelta(seconds=5),
        until=T0 + timedelta(seconds=305),
        late_after=timedelta(seconds=5),
    )
    assert [f.kind for f in findings] == [FindingKind.MISSED]
    assert findings[0].count >= 20


def test_timezone_is_honoured() -> None:
    # 06:30 in Tokyo is 21:30 UTC: a run at 21:30 UTC is on time in Asia/Tokyo and missing in GMT.
    daily = Schedule.parse("30 6 * * *")
    start = datetime(2026, 3, 1, 21, 30, 0, 50000, tzinfo=UTC)
    runs = [AuditRun(1, RunStatus.SUCCEEDED, start, start)]
    window = {
        "since": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "until": datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
    }
    tokyo, n_tokyo = audit_job(1, "x", daily, runs, timezone="Asia/Tokyo", **window)  # type: ignore[arg-type]
    gmt, _ = audit_job(1, "x", daily, runs, timezone="GMT", **window)  # type: ignore[arg-type]
    assert n_tokyo == 1 and tokyo == []
    assert [f.kind for f in gmt] == [FindingKind.MISSED]
