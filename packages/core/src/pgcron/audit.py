"""Audit: the runs a schedule should have produced versus the runs that happened.

For each job, the fire times pg_cron should have used in the window come from the schedule engine
(``Schedule.next_times``, in ``cron.timezone``); each is matched with a run in ``cron.job_run_details``.
Findings: ``missed`` (no run for a fire time), ``late`` (started more than ``late_after`` after it),
``queued`` (late because the job's previous run was still going: pg_cron never overlaps a job with itself and
queues the firing, facts §5), ``failed``, ``canceled``, ``lost`` (a restart cut it off) and ``stuck`` (not
over after ``stuck_after``). ``audit_job`` is pure; ``audit_steps`` is the sans-I/O routine that
``Client.audit`` / ``AsyncClient.audit`` run against the server (docs/audit.md).
"""

from __future__ import annotations

import enum
import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pgcron import runstate
from pgcron._steps import Steps, step
from pgcron.errors import PgCronError, ScheduleError
from pgcron.models import RunStatus
from pgcron.schedule import Schedule

__all__ = ["AuditReport", "AuditRun", "Finding", "FindingKind", "audit_job", "audit_steps"]

logger = logging.getLogger(__name__)

#: A run that starts this much before its fire time still belongs to it (clock granularity).
_EARLY = timedelta(seconds=2)
#: Most fire times one job may expect in a window (a '1 seconds' job over a day is 86,400).
_MAX_FIRES = 200_000


class FindingKind(enum.Enum):
    MISSED = "missed"
    LATE = "late"
    QUEUED = "queued"
    FAILED = "failed"
    CANCELED = "canceled"
    LOST = "lost"
    STUCK = "stuck"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the audit found. ``expected`` is the fire time; ``runid``/``start_time`` the run, if any."""

    kind: FindingKind
    jobid: int
    job: str | None
    expected: datetime | None = None
    runid: int | None = None
    start_time: datetime | None = None
    delay: timedelta | None = None
    count: int = 1
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "jobid": self.jobid,
            "job": self.job,
            "expected": self.expected.isoformat() if self.expected else None,
            "runid": self.runid,
            "start_time": self.start_time.isoformat() if self.start_time else None,
            "delay_seconds": self.delay.total_seconds() if self.delay is not None else None,
            "count": self.count,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class AuditRun:
    """The parts of a run the audit needs, with the engine's verdict already applied."""

    runid: int
    status: RunStatus
    start_time: datetime | None
    end_time: datetime | None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Findings over ``[since, until]``; ``notes`` say what the audit could not check and why."""

    since: datetime
    until: datetime
    timezone: str
    jobs: int
    expected_runs: int
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = field(default=())

    def by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {k.value: 0 for k in FindingKind}
        for f in self.findings:
            counts[f.kind.value] += f.count
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "timezone": self.timezone,
            "jobs": self.jobs,
            "expected_runs": self.expected_runs,
            "summary": self.by_kind(),
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
        }


def _fire_times(schedule: Schedule, start: datetime, end: datetime, timezone: str) -> list[datetime]:
    """Fire times in ``(start, end]``."""
    times: list[datetime] = []
    after = start
    while len(times) < _MAX_FIRES:
        batch = schedule.next_times(after, 500, timezone=timezone)
        for t in batch:
            if t > end:
                return times
            times.append(t)
        if len(batch) < 500:
            return times
        after = batch[-1]
    return times


def audit_job(
    jobid: int,
    name: str | None,
    schedule: Schedule,
    runs: Sequence[AuditRun],
    *,
    since: datetime,
    until: datetime,
    timezone: str = "GMT",
    late_after: timedelta = timedelta(seconds=60),
    stuck_after: timedelta = timedelta(hours=1),
    active: bool = True,
) -> tuple[list[Finding], int]:
    """Findings for one job over ``(since, until]`` and the number of fire times expected. Pure.

    ``runs`` are this job's runs that started in the window (plus unfinished ones), in runid order.
    ``until`` should leave ``late_after`` of slack before now: a fire time younger than that cannot be
    judged yet. An inactive job (``active=False``) expects no fire time after its last run.
    """
    findings: list[Finding] = []
    for run in runs:
        findings.extend(_run_findings(jobid, name, run, until, stuck_after))
    started = sorted((r for r in runs if r.start_time is not None), key=lambda r: r.runid)
    window_end = until
    if not active:
        window_end = min(until, max((r.start_time for r in started if r.start_time), default=since))
    if schedule.kind == "reboot":
        return findings, 0
    if schedule.kind == "interval":
        return findings + _interval_findings(jobid, name, schedule, started, since, window_end, late_after), 0
    fires = _fire_times(schedule, since, window_end, timezone)
    findings.extend(_match(jobid, name, fires, started, late_after))
    return findings, len(fires)


def _run_findings(
    jobid: int, name: str | None, run: AuditRun, until: datetime, stuck_after: timedelta
) -> list[Finding]:
    kinds = {
        RunStatus.FAILED: FindingKind.FAILED,
        RunStatus.CANCELED: FindingKind.CANCELED,
        RunStatus.LOST: FindingKind.LOST,
    }
    if run.status in kinds:
        return [
            Finding(
                kinds[run.status],
                jobid,
                name,
                runid=run.runid,
                start_time=run.start_time,
                message=run.message or "",
            )
        ]
    if run.status.is_active and run.start_time is not None and until - run.start_time > stuck_after:
        return [
            Finding(
                FindingKind.STUCK,
                jobid,
                name,
                runid=run.runid,
                start_time=run.start_time,
                delay=until - run.start_time,
                message=f"still {run.status.value} after {until - run.start_time}",
            )
        ]
    return []


def _match(
    jobid: int, name: str | None, fires: list[datetime], runs: list[AuditRun], late_after: timedelta
) -> list[Finding]:
    """Pair fire times with runs in order. A run that starts after the next fire time belongs to this one only
    if the job's previous run was still going at this fire time (pg_cron queued the firing)."""
    findings: list[Finding] = []
    i = 0
    busy_until: datetime | None = None  # end of the last matched run (None: unknown or still running)
    last_started: AuditRun | None = None
    missed: list[datetime] = []

    def flush() -> None:
        if missed:
            findings.append(
                Finding(
                    FindingKind.MISSED,
                    jobid,
                    name,
                    expected=missed[0],
                    count=len(missed),
                    message=_missed_message(missed),
                )
            )
            missed.clear()

    for k, fire in enumerate(fires):
        following = fires[k + 1] if k + 1 < len(fires) else None
        while i < len(runs):
            earlier = runs[i].start_time
            if earlier is None or earlier >= fire - _EARLY:
                break
            last_started = runs[i]  # a run before this fire time (extra, or before the window)
            busy_until = runs[i].end_time
            i += 1
        overlapping = last_started is not None and (busy_until is None or busy_until > fire)
        run = runs[i] if i < len(runs) else None
        start = run.start_time if run is not None else None
        if (
            run is None
            or start is None
            or (following is not None and start >= following - _EARLY and not overlapping)
        ):
            missed.append(fire)
            continue
        flush()
        delay = start - fire
        if delay > late_after:
            kind = FindingKind.QUEUED if overlapping else FindingKind.LATE
            why = (
                " behind the job's previous run (pg_cron does not overlap a job with itself)"
                if overlapping
                else ""
            )
            findings.append(
                Finding(
                    kind,
                    jobid,
                    name,
                    expected=fire,
                    runid=run.runid,
                    start_time=start,
                    delay=delay,
                    message=f"started {delay} after its fire time{why}",
                )
            )
        last_started, busy_until = run, run.end_time
        i += 1
    flush()
    return findings


def _missed_message(missed: list[datetime]) -> str:
    if len(missed) == 1:
        return f"no run for the fire time {missed[0].isoformat()}"
    return f"{len(missed)} fire times without a run, {missed[0].isoformat()} to {missed[-1].isoformat()}"


def _interval_findings(
    jobid: int,
    name: str | None,
    schedule: Schedule,
    runs: list[AuditRun],
    since: datetime,
    until: datetime,
    late_after: timedelta,
) -> list[Finding]:
    """'N seconds' jobs have no fixed fire times: look for gaps between starts longer than N + late_after."""
    assert schedule.interval is not None
    step = schedule.interval
    findings: list[Finding] = []
    starts = [r.start_time for r in runs if r.start_time is not None]
    edges = [since, *starts, until]
    for before, after in itertools.pairwise(edges):
        gap = after - before
        if gap > step + late_after:
            count = max(int(gap / step) - 1, 1)
            findings.append(
                Finding(
                    FindingKind.MISSED,
                    jobid,
                    name,
                    expected=before + step,
                    count=count,
                    message=f"no run for {gap} (runs every {step})",
                )
            )
    return findings


# -- I/O -------------------------------------------------------------------------------------------------


def _verdict(row: Mapping[str, Any], launcher_start: datetime | None, mode: str | None) -> AuditRun:
    facts = runstate.RunFacts(
        raw_status=row["status"],
        return_message=row["return_message"],
        command=row["command"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        job_pid=row["job_pid"],
        pid_alive=row["pid_alive"],
        job_backend_type=row["job_backend_type"],
        newer_run=bool(row["newer_run"]),
        launcher_start=launcher_start,
    )
    verdict = runstate.decide(facts, execution_mode=mode)
    return AuditRun(int(row["runid"]), verdict.status, row["start_time"], row["end_time"], verdict.message)


def audit_steps(
    since: timedelta = timedelta(hours=24),
    *,
    job_prefix: str | None = None,
    job: str | None = None,
    late_after: timedelta = timedelta(seconds=60),
    stuck_after: timedelta = timedelta(hours=1),
    timezone: str | None = None,
) -> Steps[AuditReport]:
    """The audit's queries (``Client.audit`` runs them) and the report made from their rows.

    Audits the jobs (all visible ones, those starting with ``job_prefix``, or the one named ``job``).
    ``timezone`` overrides ``cron.timezone`` (needed when the role cannot read it and the engine schema
    is not installed). Fire times younger than ``late_after`` are not judged yet.
    """
    ctx = (yield step("audit_context"))[0]
    notes: list[str] = []
    tz = timezone or ctx["timezone_setting"]
    if tz is None and ctx["has_timezone_function"]:
        tz = (yield step("audit_timezone"))[0]["timezone"]
    if tz is None:
        tz = "GMT"
        notes.append(
            "cron.timezone is not readable by this role: fire times assume GMT (pass --timezone, or "
            "install the engine schema, whose helper reads it)"
        )
    mode = (
        None
        if ctx["use_background_workers"] is None
        else ("bgw" if ctx["use_background_workers"] == "on" else "libpq")
    )
    version = (ctx["extversion"] or "1.6").split("-")[0]
    now: datetime = ctx["now"]
    until = now - late_after
    start = now - since
    jobs = yield step("audit_jobs", {"prefix": job_prefix, "jobname": job})
    if job is not None and not jobs:
        raise PgCronError(f"no job named {job!r} is visible to this role")
    jobids = [int(j["jobid"]) for j in jobs]
    created: dict[int, datetime] = {}
    if ctx["has_apply_record"] and jobids:
        records = yield step("audit_created", {"jobids": jobids})
        created = {int(r["jobid"]): r["created_at"] for r in records if r["created_at"] is not None}
    firsts = yield step("audit_first_runs", {"jobids": jobids})
    first = {int(r["jobid"]): r["first_start"] for r in firsts}
    runs_by_job: dict[int, list[AuditRun]] = {j: [] for j in jobids}
    rows = yield step("audit_runs", {"jobids": jobids, "since": start})
    for row in rows:
        runs_by_job[int(row["jobid"])].append(_verdict(row, ctx["launcher_start"], mode))
    findings: list[Finding] = []
    expected = 0
    for j in jobs:
        jobid = int(j["jobid"])
        try:
            schedule = Schedule.parse(j["schedule"], pgcron_version=version, strict=False)
        except ScheduleError as exc:
            notes.append(
                f"job {j['jobname'] or jobid}: schedule not understood, fire times not checked ({exc})"
            )
            continue
        # Fire times before the job existed are not expected: its creation time when apply created it, else
        # its first run ever; a job with neither is audited over the whole window.
        job_start = start
        known_start = created.get(jobid) or first.get(jobid)
        if known_start is not None and known_start > job_start:
            job_start = known_start - _EARLY
        found, n = audit_job(
            jobid,
            j["jobname"],
            schedule,
            runs_by_job[jobid],
            since=job_start,
            until=until,
            timezone=tz,
            late_after=late_after,
            stuck_after=stuck_after,
            active=bool(j["active"]),
        )
        findings.extend(found)
        expected += n
    findings.sort(key=lambda f: (f.jobid, f.expected or f.start_time or start))
    return AuditReport(start, until, tz, len(jobs), expected, tuple(findings), tuple(notes))


def kinds(values: Iterable[str]) -> set[FindingKind]:
    """Parse finding kind names (for ``--ignore``)."""
    return {FindingKind(v) for v in values}
