"""A fake ``RunSource`` for unit tests of the sensor's tick logic (integration tests use real pg_cron)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pgcron
from pgcron.audit import AuditReport, Finding
from pgcron.runfeed import FeedPage

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(
    runid: int, jobid: int, status: pgcron.RunStatus, *, end: int | None = 0, message: str | None = None
) -> pgcron.Run:
    start = T0 + timedelta(seconds=runid)
    return pgcron.Run(
        runid=runid,
        jobid=jobid,
        status=status,
        raw_status=status.value,
        message=message or ("INSERT 0 1" if status is pgcron.RunStatus.SUCCEEDED else "ERROR: boom"),
        return_message=None,
        start_time=start,
        end_time=None if (end is None or not status.is_terminal) else start + timedelta(seconds=end),
        rows=1 if status is pgcron.RunStatus.SUCCEEDED else None,
    )


def job(jobid: int, name: str) -> pgcron.Job:
    return pgcron.Job(jobid, name, "* * * * *", "SELECT 1", "postgres", "postgres", True, "", 5432)


@dataclass
class FakeSource:
    job_rows: list[pgcron.Job]
    runs: list[pgcron.Run] = field(default_factory=list)
    now: datetime = T0 + timedelta(days=1)
    findings: list[Finding] = field(default_factory=list)
    pages: int = 0
    audits: int = 0

    def jobs(self) -> list[pgcron.Job]:
        return list(self.job_rows)

    def runs_after(self, after_runid: int, jobids: Sequence[int], limit: int) -> FeedPage:
        self.pages += 1
        rows = sorted(
            (r for r in self.runs if r.runid > after_runid and r.jobid in set(jobids)), key=lambda r: r.runid
        )
        return FeedPage(runs=tuple(rows[:limit]), observed_at=self.now, full=len(rows) >= limit)

    def start_runid(self, before: datetime) -> int:
        started = [r.runid for r in self.runs if r.start_time is not None and r.start_time < before]
        return max(started, default=0)

    def audit(self, since: timedelta, late_after: timedelta) -> AuditReport:
        self.audits += 1
        return AuditReport(
            self.now - since, self.now - late_after, "GMT", len(self.job_rows), 0, tuple(self.findings)
        )

    def finish(self, runid: int, status: pgcron.RunStatus) -> None:
        for i, r in enumerate(self.runs):
            if r.runid == runid:
                self.runs[i] = replace(r, status=status, end_time=(r.start_time or T0) + timedelta(seconds=1))
