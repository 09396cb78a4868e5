"""``FakeClient`` / ``AsyncFakeClient``: in-memory, deterministic stand-ins for ``Client`` / ``AsyncClient``.

They satisfy ``pgcron.ClientProtocol`` / ``pgcron.AsyncClientProtocol`` (mypy checks it at the end of this
module), so DAG, asset and helper code can be unit-tested without a database (docs/testing.md). What they
keep of pg_cron and the engine:

* **Pushdown**: one submission per key. The same key with the same command (and database and user)
  re-attaches — same ``submission_id``, same ``runid``, the SQL is not "run" again; a different command under
  a used key raises ``KeyConflict``. Commands go through the engine's own pre-checks (``UnsupportedCommand``).
  A submission starts when something waits for it (``wait``, ``run_now``) or when time passes (``advance``),
  then ends with its *scripted* outcome: ``script()`` / ``fail()``, else success with message ``succeeded``.
  ``cancel`` before the start gives ``CANCELED`` with ``canceled before it started`` (runid 0), during a held
  run ``CANCELED`` with PostgreSQL's cancel message. A scripted duration over the submission's ``timeout``
  fails with the engine's timeout message.
* **Jobs and runs**: ``schedule`` upserts by name (jobid kept), ``unschedule`` keeps the runs, ``runs`` is
  newest first with the real filters. Job ids and run ids each count from 1; pushdown runs and job runs share
  the run ids, as they share ``cron.runid_seq``. ``record_run`` adds a run of a job by hand; ``advance`` moves
  the clock and fires every active job at its schedule's fire times (pg_cron's schedule engine, ``GMT`` unless
  ``timezone`` is given), with the scripted outcome of its command.
* **Jobs as code and audit**: ``plan``/``apply`` diff with the core's own ``compute_plan``; ``audit`` judges
  the recorded runs with the core's own ``audit_job`` over the fake clock.

What they do not model: executing SQL (no rows, no side effects: script them), time passing by itself (the
clock moves only with runs and ``advance``), roles and privileges (one role; ``username``/``database`` are
recorded, not checked), other databases, execution modes, lanes, a job overlapping itself, the temporary
pushdown jobs in ``jobs()``, the apply record (``timeout``/``description``/``tags`` are not compared), history
purges, ``doctor`` and capabilities.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Self, TypeVar

from pgcron import _client_base as base
from pgcron import runstate
from pgcron.errors import (
    JobNotFound,
    KeyConflict,
    PgCronError,
    RunFailed,
    RunTimeout,
    SubmissionNotFound,
    UnsupportedFeature,
)
from pgcron.models import Attempt, Capabilities, Job, JobSpec, Run, RunHandle, RunStatus

if TYPE_CHECKING:
    from pgcron.audit import AuditReport
    from pgcron.plan import ApplyResult, LiveJob, Plan
    from pgcron.protocols import ClientProtocol, Statuses, Timeout
    from pgcron.protocols_async import AsyncClientProtocol
    from pgcron.runfeed import FeedPage

__all__ = ["T0", "AsyncFakeClient", "FakeClient"]

#: Where a fake's clock starts unless told otherwise.
T0 = datetime(2026, 1, 1, tzinfo=UTC)

_CANCELED_RUNNING = "ERROR: canceling statement due to user request"
_CANCELED_PENDING = "canceled before it started"
_DEFAULT_FAILURE = "ERROR: the scripted run failed"
_RAW = {
    RunStatus.PENDING: None,
    RunStatus.RUNNING: "running",
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELED: "failed",
    RunStatus.LOST: "failed",
}
_View = TypeVar("_View", bound="_FakeBase")
_MAX_FIRES = 100_000  # per advance(): a '1 seconds' job over a day is 86,400


@dataclass(frozen=True, slots=True)
class _Script:
    match: str | Callable[[str], bool]
    status: RunStatus
    message: str | None
    rows: int | None
    duration: timedelta
    hold: bool

    def matches(self, sql: str) -> bool:
        return self.match(sql) if callable(self.match) else self.match == sql


@dataclass(slots=True)
class _Submission:
    id: int
    key: str
    sql: str
    database: str
    username: str
    timeout: float | None
    jobid: int
    status: RunStatus = RunStatus.PENDING
    runid: int | None = None
    message: str | None = None
    rows: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    held: _Script | None = None


class _State:
    """The fake server: shared by a ``FakeClient`` and its ``AsyncFakeClient`` view."""

    def __init__(self, now: datetime, database: str, username: str, timezone: str) -> None:
        if now.tzinfo is None:
            raise PgCronError("the fake clock must be timezone-aware, e.g. datetime(2026, 1, 1, tzinfo=UTC)")
        self.now = now
        self.database = database
        self.username = username
        self.timezone = timezone
        self.jobs: dict[int, Job] = {}
        self.created: dict[int, datetime] = {}
        self.runs: dict[int, Run] = {}
        self.by_key: dict[str, _Submission] = {}
        self.by_id: dict[int, _Submission] = {}
        self.scripts: list[_Script] = []
        self.calls: Counter[str] = Counter()
        self.submitted: list[str] = []
        self.canceled: list[str] = []
        self.next_jobid = itertools.count(1)
        self.next_submission = itertools.count(1)
        self.last_runid = 0
        self.caps = Capabilities(
            extversion="1.6",
            library_version="1.6.5",
            server_version_num=170000,
            current_database=database,
            current_user=username,
            is_superuser=False,
            settings_visible=False,
            timezone=timezone,
            has_intervals=True,
            has_last_day=True,
            has_alter_job=True,
            has_schedule_in_database=True,
        )

    def runid(self, wanted: int | None = None) -> int:
        if wanted is not None:
            if wanted < 1 or wanted in self.runs:
                raise PgCronError(f"runid {wanted} is taken or not positive")
            self.last_runid = max(self.last_runid, wanted)
            return wanted
        self.last_runid += 1
        return self.last_runid

    def outcome(self, sql: str) -> _Script:
        for script in reversed(self.scripts):  # the latest script for a command wins
            if script.matches(sql):
                return script
        return _Script(sql, RunStatus.SUCCEEDED, None, None, timedelta(seconds=1), False)


class _FakeBase:
    """Scripting and inspection, shared by both fakes (a fake and its twin view see the same state)."""

    def __init__(
        self,
        *,
        now: datetime = T0,
        database: str = "postgres",
        username: str = "postgres",
        timezone: str = "GMT",
        _state: _State | None = None,
    ) -> None:
        self._state = _state or _State(now, database, username, timezone)
        self._views: dict[type[_FakeBase], _FakeBase] = {type(self): self}

    def _twin(self, kind: type[_View]) -> _View:
        view = self._views.get(kind)
        if view is None:
            view = self._views[kind] = kind(_state=self._state)
            view._views = self._views
        assert isinstance(view, kind)
        return view

    # -- inspection ------------------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        """The fake clock: runs start at it and move it on by their duration; ``advance`` moves it too."""
        return self._state.now

    @now.setter
    def now(self, value: datetime) -> None:
        if value.tzinfo is None:
            raise PgCronError("the fake clock must be timezone-aware")
        self._state.now = value

    @property
    def calls(self) -> Counter[str]:
        """How often each client method was called (``fake.calls["submit"]``)."""
        return self._state.calls

    @property
    def submitted(self) -> list[str]:
        """Keys of the submissions created, in order (a re-attaching submit adds nothing)."""
        return self._state.submitted

    @property
    def canceled(self) -> list[str]:
        """Keys of the submissions a ``cancel`` stopped, in order."""
        return self._state.canceled

    # -- scripting -------------------------------------------------------------------------------------------
    def script(
        self,
        match: str | Callable[[str], bool],
        *,
        status: RunStatus = RunStatus.SUCCEEDED,
        message: str | None = None,
        rows: int | None = None,
        duration: float | timedelta = 1.0,
        hold: bool = False,
    ) -> None:
        """How runs of a command end: ``match`` is the exact SQL (a pushdown's or a job's command) or a
        predicate on it. The latest matching script wins, when a run starts.

        ``message`` defaults to what the engine says: ``1 row`` / ``5 rows`` / ``succeeded`` for a success
        (from ``rows``), a generic ``ERROR: …`` for a failure. ``hold=True`` keeps the run ``RUNNING``: a
        ``wait`` then raises ``RunTimeout`` until ``release(key)`` ends it or ``cancel`` stops it.
        """
        if status in (RunStatus.PENDING, RunStatus.RUNNING):
            raise PgCronError("script a terminal status; hold=True keeps a run running")
        span = duration if isinstance(duration, timedelta) else timedelta(seconds=duration)
        if span < timedelta(0):
            raise PgCronError(f"duration must not be negative, got {duration!r}")
        self._state.scripts.append(_Script(match, status, message, rows, span, hold))

    def fail(
        self,
        match: str | Callable[[str], bool],
        message: str = _DEFAULT_FAILURE,
        *,
        status: RunStatus = RunStatus.FAILED,
        duration: float | timedelta = 1.0,
    ) -> None:
        """Runs of ``match`` fail with ``message`` (PostgreSQL's text, e.g. ``ERROR: division by zero``)."""
        self.script(match, status=status, message=message, duration=duration)

    def release(self, key: str) -> Run:
        """End a held submission with its scripted outcome (see ``script(hold=True)``)."""
        sub = self._submission(key)
        if sub.held is None:
            raise PgCronError(f"submission {key!r} is not held (it is {sub.status.value})")
        script, sub.held = sub.held, None
        self._end(sub, script, sub.start or self._state.now)
        return self._run_of(sub)

    def record_run(
        self,
        job: str | int | Job,
        *,
        status: RunStatus | None = None,
        message: str | None = None,
        rows: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        runid: int | None = None,
    ) -> Run:
        """A run of a job, as if pg_cron had started it at ``start`` (default: the clock).

        Without ``status`` it takes the scripted outcome of the job's command. ``rows`` defaults to the count
        in a command-tag message (``DELETE 3`` → 3). A terminal run ends at ``end`` (default: ``start`` plus
        the scripted duration); ``RUNNING`` / ``PENDING`` leave it open for ``finish_run``. ``runid`` picks
        the id (e.g. a row that commits late with a smaller id); the sequence goes on after the highest.
        """
        state = self._state
        found = self._job(job)
        script = state.outcome(found.command)
        status = status or script.status
        started = start or state.now
        if status.is_terminal:
            message = message if message is not None else _message(status, script.message, script.rows)
            rows = rows if rows is not None else runstate.rows_from_message(message)
            if rows is None and status is RunStatus.SUCCEEDED:
                rows = script.rows
            end = end or started + script.duration
        else:
            end = None
        run = Run(
            runid=state.runid(runid),
            jobid=found.jobid,
            status=status,
            raw_status=_RAW[status],
            message=message,
            return_message=message,
            start_time=started if status is not RunStatus.PENDING else None,
            end_time=end,
            database=found.database,
            username=found.username,
            command=found.command,
            rows=rows if status is RunStatus.SUCCEEDED else None,
        )
        state.runs[run.runid] = run
        return run

    def finish_run(
        self,
        runid: int,
        status: RunStatus = RunStatus.SUCCEEDED,
        *,
        message: str | None = None,
        rows: int | None = None,
        end: datetime | None = None,
    ) -> Run:
        """End an open job run (one ``record_run`` left ``RUNNING``) with ``status``."""
        state = self._state
        run = state.runs.get(runid)
        if run is None:
            raise JobNotFound(f"no pg_cron run with runid {runid} is visible to this role", runid=runid)
        if run.status.is_terminal:
            raise PgCronError(f"run {runid} is over already ({run.status.value})")
        if not status.is_terminal:
            raise PgCronError(f"finish a run with a terminal status, not {status.value}")
        message = message if message is not None else _message(status, None, rows)
        started = run.start_time or state.now
        done = replace(
            run,
            status=status,
            raw_status=_RAW[status],
            message=message,
            return_message=message,
            start_time=started,
            end_time=end or max(state.now, started),
            rows=(rows if rows is not None else runstate.rows_from_message(message))
            if status is RunStatus.SUCCEEDED
            else None,
        )
        state.runs[runid] = done
        return done

    def advance(
        self, by: float | timedelta = 0.0, *, to: datetime | None = None, fire: bool = True
    ) -> list[Run]:
        """Move the clock forward (``by`` seconds or a timedelta, or ``to`` a point) and return the runs it
        started: pending submissions start (and end, unless held), and with ``fire`` every active job runs at
        each fire time of its schedule in between, with the scripted outcome of its command. ``fire=False``
        models a scheduler that was down (the audit then finds the fire times missed)."""
        from pgcron.schedule import Schedule

        state = self._state
        origin = state.now
        until = (
            to if to is not None else origin + (by if isinstance(by, timedelta) else timedelta(seconds=by))
        )
        if until < origin:
            raise PgCronError(
                f"the fake clock only moves forward ({origin.isoformat()} → {until.isoformat()})"
            )
        started = [self._start(sub) for sub in list(state.by_id.values()) if sub.status is RunStatus.PENDING]
        fires: list[tuple[datetime, int]] = []
        if fire:
            for job in [j for j in state.jobs.values() if j.active]:
                schedule = Schedule.parse(job.schedule, strict=False)
                after = max(origin, state.created[job.jobid])
                while len(fires) < _MAX_FIRES:
                    batch = [
                        t for t in schedule.next_times(after, 500, timezone=state.timezone) if t <= until
                    ]
                    fires.extend((t, job.jobid) for t in batch)
                    if len(batch) < 500:
                        break
                    after = batch[-1]
        out = [self._run_of(sub) for sub in started]
        for at, jobid in sorted(fires):
            out.append(self.record_run(jobid, start=at.astimezone(UTC)))
        state.now = max(state.now, until)
        return out

    # -- helpers ---------------------------------------------------------------------------------------------
    def _job(self, name_or_id: str | int | Job) -> Job:
        jobs = self._state.jobs
        if isinstance(name_or_id, Job):
            name_or_id = name_or_id.jobid
        if isinstance(name_or_id, int) and not isinstance(name_or_id, bool):
            if name_or_id not in jobs:
                raise JobNotFound(
                    f"no pg_cron job with id {name_or_id} is visible to this role", jobid=name_or_id
                )
            return jobs[name_or_id]
        if not isinstance(name_or_id, str):
            raise TypeError(f"name_or_id must be a job name (str) or a jobid (int), got {name_or_id!r}")
        for job in jobs.values():
            if job.name == name_or_id:
                return job
        raise JobNotFound(f"no pg_cron job named {name_or_id!r} is visible to this role", name=name_or_id)

    def _submission(self, key: str) -> _Submission:
        sub = self._state.by_key.get(key)
        if sub is None:
            raise SubmissionNotFound(f"no pushdown submission with key {key!r} is visible to this role")
        return sub

    def _start(self, sub: _Submission) -> _Submission:
        state = self._state
        script = state.outcome(sub.sql)
        sub.runid = state.runid()
        sub.start = state.now
        sub.status = RunStatus.RUNNING
        if script.hold:
            sub.held = script
        else:
            self._end(sub, script, sub.start)
        state.runs[sub.runid] = self._run_of(sub)
        return sub

    def _end(self, sub: _Submission, script: _Script, started: datetime) -> None:
        state = self._state
        status, message, rows, took = script.status, script.message, script.rows, script.duration
        if sub.timeout is not None and took.total_seconds() > sub.timeout:
            limit = timedelta(seconds=sub.timeout)
            status, rows, took = RunStatus.FAILED, None, limit
            message = f"pgcron: the run exceeded its timeout of {_interval_text(limit)} and was canceled"
        sub.status = status
        sub.message = _message(status, message, rows)
        sub.rows = rows if status is RunStatus.SUCCEEDED else None
        sub.end = started + took
        state.now = max(state.now, sub.end)
        if sub.runid is not None:
            state.runs[sub.runid] = self._run_of(sub)

    def _handle_of(self, sub: _Submission) -> RunHandle:
        return RunHandle(
            key=sub.key,
            submission_id=sub.id,
            jobid=sub.jobid,
            runid=sub.runid,
            status=sub.status,
            message=sub.message,
            start=sub.start,
            end=sub.end,
        )

    def _run_of(self, sub: _Submission) -> Run:
        return Run(
            runid=sub.runid or 0,
            jobid=sub.jobid,
            status=sub.status,
            raw_status=_RAW[sub.status] if sub.runid is not None else None,
            message=sub.message,
            return_message=sub.message,
            start_time=sub.start,
            end_time=sub.end,
            database=sub.database,
            username=sub.username,
            command=sub.sql,
            rows=sub.rows,
            via="job",
        )


def _message(status: RunStatus, message: str | None, rows: int | None) -> str | None:
    if message is not None or not status.is_terminal:
        return message
    if status is RunStatus.SUCCEEDED:
        return runstate.rows_message(rows)
    if status is RunStatus.CANCELED:
        return _CANCELED_RUNNING
    if status is RunStatus.LOST:
        return "server restarted"
    return _DEFAULT_FAILURE


def _interval_text(value: timedelta) -> str:
    """A timedelta as PostgreSQL prints an interval (``00:10:00``, ``1 day 02:00:00``, ``00:00:01.5``)."""
    days, rest = divmod(value.total_seconds(), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{int(hours):02d}:{int(minutes):02d}:{int(seconds):02d}"
    fraction = seconds - int(seconds)
    if fraction:
        clock += f"{fraction:.6f}".rstrip("0")[1:]
    if days:
        return f"{int(days)} day{'s' if days != 1 else ''} {clock}"
    return clock


class FakeClient(_FakeBase):
    """An in-memory ``pgcron.Client`` (see the module docstring for what it models and what it does not).

    ``now`` starts the fake clock; ``database`` / ``username`` are the role and database it pretends to be
    connected to; ``timezone`` is ``cron.timezone`` for fire times. ``aio`` is an ``AsyncFakeClient`` over the
    same state, for code that awaits (Airflow triggers).
    """

    @property
    def aio(self) -> AsyncFakeClient:
        """The asyncio view of this fake: same jobs, runs, submissions, scripts and clock."""
        return self._twin(AsyncFakeClient)

    def close(self) -> None:
        """Nothing to close; here so the fake can stand where a ``Client`` is closed."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs ------------------------------------------------------------------------------------------------
    def jobs(self) -> list[Job]:
        self.calls["jobs"] += 1
        return sorted(self._state.jobs.values(), key=lambda j: j.jobid)

    def job(self, name_or_id: str | int) -> Job:
        self.calls["job"] += 1
        return self._job(name_or_id)

    def schedule(self, spec: JobSpec) -> Job:
        """Create or update the job named ``spec.name`` (same-name upsert: the jobid is kept)."""
        self.calls["schedule"] += 1
        state = self._state
        base.validate_spec(spec, state.caps)  # the real client's checks: strict schedule, command
        existing = next((j for j in state.jobs.values() if j.name == spec.name), None)
        jobid = existing.jobid if existing is not None else next(state.next_jobid)
        job = Job(
            jobid=jobid,
            name=spec.name,
            schedule=spec.schedule,
            command=spec.command,
            database=spec.database or state.database,
            username=spec.username or state.username,
            active=spec.active,
            nodename="localhost",
            nodeport=5432,
        )
        state.jobs[jobid] = job
        state.created.setdefault(jobid, state.now)
        return job

    def unschedule(self, name_or_id: str | int) -> None:
        """Remove a job; its runs stay (``runs(job=jobid)`` still finds them)."""
        self.calls["unschedule"] += 1
        job = self._job(name_or_id)
        del self._state.jobs[job.jobid]
        self._state.created.pop(job.jobid, None)

    # -- jobs as code ----------------------------------------------------------------------------------------
    def plan(
        self,
        specs: Iterable[JobSpec],
        *,
        namespace: str,
        prune: bool = False,
        lane_workers: int | None = None,
    ) -> Plan:
        """The core's ``compute_plan`` against the fake's jobs of ``namespace`` (lanes are not modelled)."""
        from pgcron.jobsfile import NAMESPACE_SEPARATOR
        from pgcron.plan import compute_plan

        self.calls["plan"] += 1
        if lane_workers is not None:
            raise UnsupportedFeature("FakeClient does not model lanes: plan a [lanes] table on a real server")
        state = self._state
        return compute_plan(
            namespace,
            specs,
            self._live(namespace + NAMESPACE_SEPARATOR),
            current_database=state.database,
            current_user=state.username,
            prune=prune,
        )

    def apply(self, plan: Plan, *, lock_timeout: timedelta = timedelta(seconds=5)) -> ApplyResult:
        """Make the fake's jobs match ``plan``; ``PlanStale`` when they changed since it was made."""
        from pgcron.jobsfile import NAMESPACE_SEPARATOR
        from pgcron.plan import Action, ApplyResult, PlanStale

        self.calls["apply"] += 1
        live = self._live(plan.namespace + NAMESPACE_SEPARATOR)
        if tuple(sorted(j.snapshot() for j in live if j.username in plan.roles)) != plan.fingerprint:
            raise PlanStale()
        jobids: dict[str, int] = {c.name: c.jobid for c in plan.changes if c.jobid is not None and c.desired}
        for change in plan.changes:
            if change.action in (Action.CREATE, Action.UPDATE) and change.desired is not None:
                jobids[change.name] = self.schedule(change.desired).jobid
            elif change.action is Action.DELETE and change.jobid is not None:
                self.unschedule(change.jobid)
        return ApplyResult(
            created=tuple(c.name for c in plan.by_action(Action.CREATE)),
            updated=tuple(c.name for c in plan.by_action(Action.UPDATE)),
            deleted=tuple(c.name for c in plan.by_action(Action.DELETE)),
            unchanged=len(plan.by_action(Action.UNCHANGED)),
            jobids=jobids,
            round_trips=0,
            record_written=False,
        )

    def _live(self, prefix: str) -> list[LiveJob]:
        from pgcron.plan import LiveJob

        return [
            LiveJob(j.jobid, j.name, j.schedule, j.command, j.database, j.username, j.active)
            for j in self._state.jobs.values()
            if j.name is not None and j.name.startswith(prefix)
        ]

    # -- audit -----------------------------------------------------------------------------------------------
    def audit(
        self,
        since: timedelta = timedelta(days=1),
        *,
        job_prefix: str | None = None,
        job: str | None = None,
        late_after: timedelta = timedelta(minutes=1),
        stuck_after: timedelta = timedelta(hours=1),
        timezone: str | None = None,
    ) -> AuditReport:
        """The core's ``audit_job`` over the fake's jobs and runs; fire times before a job was scheduled are
        not expected."""
        from pgcron.audit import AuditReport, AuditRun, audit_job
        from pgcron.schedule import Schedule

        self.calls["audit"] += 1
        state = self._state
        tz = timezone or state.timezone
        until, start = state.now - late_after, state.now - since
        jobs = [
            j
            for j in self.jobs()
            if (job is None or j.name == job)
            and (job_prefix is None or (j.name or "").startswith(job_prefix))
        ]
        if job is not None and not jobs:
            raise PgCronError(f"no job named {job!r} is visible to this role")
        findings = []
        expected = 0
        for j in jobs:
            runs = [
                AuditRun(r.runid, r.status, r.start_time, r.end_time, r.message)
                for r in sorted(state.runs.values(), key=lambda r: r.runid)
                if r.jobid == j.jobid
                and (r.start_time is None or r.start_time >= start or r.status.is_active)
            ]
            found, n = audit_job(
                j.jobid,
                j.name,
                Schedule.parse(j.schedule, strict=False),
                runs,
                since=max(start, state.created[j.jobid]),
                until=until,
                timezone=tz,
                late_after=late_after,
                stuck_after=stuck_after,
                active=j.active,
            )
            findings.extend(found)
            expected += n
        findings.sort(key=lambda f: (f.jobid, f.expected or f.start_time or start))
        return AuditReport(start, until, tz, len(jobs), expected, tuple(findings))

    # -- runs ------------------------------------------------------------------------------------------------
    def runs(
        self,
        job: str | int | Job | None = None,
        status: Statuses = None,
        since: datetime | timedelta | None = None,
        limit: int = 100,
    ) -> list[Run]:
        """Recent runs, newest first, filtered as ``Client.runs`` does."""
        self.calls["runs"] += 1
        if limit < 1:
            raise PgCronError(f"limit must be at least 1, got {limit}")
        jobid: int | None = None
        if isinstance(job, Job):
            jobid = job.jobid
        elif isinstance(job, int) and not isinstance(job, bool):
            jobid = job  # run rows outlive their job: no lookup
        elif job is not None:
            jobid = self._job(job).jobid
        wanted = base.coerce_statuses(status)
        since_at = base.since_value(since, self._state.now)
        found = [
            r
            for r in sorted(self._state.runs.values(), key=lambda r: -r.runid)
            if (jobid is None or r.jobid == jobid)
            and (wanted is None or r.status in wanted)
            and (since_at is None or r.start_time is None or r.start_time >= since_at)
        ]
        return found[:limit]

    def run(self, runid: int) -> Run:
        self.calls["run"] += 1
        found = self._state.runs.get(runid)
        if found is None:
            raise JobNotFound(f"no pg_cron run with runid {runid} is visible to this role", runid=runid)
        return found

    def runs_after(
        self,
        after_runid: int,
        *,
        jobids: Iterable[int] | None = None,
        limit: int = 500,
        also: Iterable[int] | None = None,
    ) -> FeedPage:
        """The run feed: runs with ``runid > after_runid`` (of ``jobids``, when given) and the runids in
        ``also``, oldest first, at most ``limit``; ``observed_at`` is the fake clock."""
        from pgcron.runfeed import FeedPage

        self.calls["runs_after"] += 1
        if limit < 1:
            raise PgCronError(f"limit must be at least 1, got {limit}")
        if after_runid < 0:
            raise PgCronError(f"after_runid must be 0 or a runid, got {after_runid}")
        ids = None if jobids is None else {int(j) for j in jobids}
        again = {int(r) for r in also} if also is not None else set()
        rows = [
            r
            for _, r in sorted(self._state.runs.items())
            if (r.runid > after_runid or r.runid in again) and (ids is None or r.jobid in ids)
        ]
        return FeedPage(runs=tuple(rows[:limit]), observed_at=self._state.now, full=len(rows) >= limit)

    def start_runid(self, before: datetime) -> int:
        """The highest runid that started before ``before`` (0 when none): where a new observer begins."""
        self.calls["start_runid"] += 1
        started = [
            r.runid for r in self._state.runs.values() if r.start_time is not None and r.start_time < before
        ]
        return max(started, default=0)

    # -- pushdown --------------------------------------------------------------------------------------------
    def submit(
        self,
        sql: str,
        *,
        database: str | None = None,
        username: str | None = None,
        key: str | None = None,
        timeout: Timeout = None,
    ) -> RunHandle:
        """A submission of ``sql``, once per ``key``: the same key and command re-attach, another command
        under the key raises ``KeyConflict``. It starts when waited for or when the clock advances."""
        from pgcron.pushdown import _checks
        from pgcron.pushdown.service import as_seconds

        self.calls["submit"] += 1
        state = self._state
        if not isinstance(sql, str):
            raise PgCronError(f"sql must be a string, got {type(sql).__name__}")
        if key is not None and (not isinstance(key, str) or not key.strip() or len(key) > 200):
            raise PgCronError(f"key must be a non-empty string of at most 200 characters, got {key!r}")
        limit = as_seconds(timeout, what="timeout")
        _checks.analyze(sql)
        db, user = database or state.database, username or state.username
        if key is not None and key in state.by_key:
            sub = state.by_key[key]
            if (sub.sql, sub.database, sub.username) != (sql, db, user):
                raise KeyConflict(
                    f"submission key {key!r} was already used for a different command, database or user. Use "
                    "a new key for a different command, or attach(key) to follow it."
                )
            return self._handle_of(sub)
        sid = next(state.next_submission)
        sub = _Submission(sid, key or f"fake-{sid}", sql, db, user, limit, next(state.next_jobid))
        state.by_key[sub.key] = state.by_id[sid] = sub
        state.submitted.append(sub.key)
        return self._handle_of(sub)

    def attach(self, key: str) -> RunHandle:
        self.calls["attach"] += 1
        return self._handle_of(self._submission(key))

    def submit_attempt(
        self,
        sql: str,
        *,
        key: str,
        database: str | None = None,
        username: str | None = None,
        timeout: Timeout = None,
        rerun_failed: bool = True,
    ) -> Attempt:
        """Re-attach to the newest attempt of ``key`` or submit the next one (pgcron.pushdown.attempts)."""
        from pgcron.pushdown import attempts

        latest = self.latest_attempt(key)
        newest, status = (0, None) if latest is None else (latest.number, latest.handle.status)
        number = attempts.next_attempt(key, newest, status, rerun_failed=rerun_failed)
        if number is None:
            assert latest is not None
            return latest
        attempt_key = attempts.attempt_key(key, number)
        reattached = attempt_key in self._state.by_key
        handle = self.submit(sql, database=database, username=username, key=attempt_key, timeout=timeout)
        return Attempt(handle=handle, number=number, reattached=reattached)

    def latest_attempt(self, key: str) -> Attempt | None:
        """The newest attempt of ``key`` (``key``, ``key#2``, ...), or None when nothing was submitted."""
        from pgcron.pushdown import attempts

        self.calls["latest_attempt"] += 1
        attempts.check_base_key(key)
        found: Attempt | None = None
        for number in range(1, attempts.MAX_ATTEMPTS + 1):
            sub = self._state.by_key.get(attempts.attempt_key(key, number))
            if sub is None:
                break
            found = Attempt(handle=self._handle_of(sub), number=number, reattached=True)
        return found

    def wait(self, handle: RunHandle, timeout: Timeout = None) -> Run:
        """The terminal run: a pending submission starts now and ends with its scripted outcome. A held one
        raises ``RunTimeout`` (as a real wait that gives up would) until released or canceled."""
        self.calls["wait"] += 1
        sub = self._state.by_id.get(handle.submission_id)
        if sub is None:
            raise SubmissionNotFound(f"no pushdown submission {handle.submission_id} is visible to this role")
        if sub.status is RunStatus.PENDING:
            self._start(sub)
        if sub.held is not None:
            raise RunTimeout(
                f"stopped waiting for pushdown submission {sub.key!r}; it goes on in the database (held by "
                "FakeClient: release(key) ends it). Wait again, attach(key) later, or cancel(handle).",
                key=sub.key,
            )
        return self._run_of(sub)

    def run_now(
        self,
        sql: str,
        *,
        database: str | None = None,
        username: str | None = None,
        key: str | None = None,
        timeout: Timeout = None,
    ) -> Run:
        """``submit`` + ``wait``; raises ``RunFailed`` (with ``.run``) when the run did not succeed."""
        handle = self.submit(sql, database=database, username=username, key=key, timeout=timeout)
        run = self.wait(handle)
        if run.status is not RunStatus.SUCCEEDED:
            raise RunFailed(
                f"pushdown run {handle.key!r} {run.status.value}: {run.message or 'no message'}",
                run=run,
                key=handle.key,
            )
        return run

    def cancel(self, handle: RunHandle) -> None:
        """Never started: ``CANCELED`` (runid 0); held running: its statement canceled; over: nothing."""
        self.calls["cancel"] += 1
        sub = self._state.by_id.get(handle.submission_id)
        if sub is None:
            raise SubmissionNotFound(f"no pushdown submission {handle.submission_id} is visible to this role")
        if sub.status.is_terminal:
            return
        running = sub.status is RunStatus.RUNNING
        sub.held = None
        sub.status = RunStatus.CANCELED
        sub.message = _CANCELED_RUNNING if running else _CANCELED_PENDING
        sub.end = self._state.now if running else None
        if sub.runid is not None:
            self._state.runs[sub.runid] = self._run_of(sub)
        self._state.canceled.append(sub.key)


class AsyncFakeClient(_FakeBase):
    """The asyncio twin of ``FakeClient``: the same methods, awaited, each with the arguments of its
    ``FakeClient`` namesake; ``sync`` is a ``FakeClient`` over the same state."""

    @property
    def sync(self) -> FakeClient:
        """The synchronous view of this fake (same state)."""
        return self._twin(FakeClient)

    async def close(self) -> None:
        """Nothing to close."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def jobs(self, *args: Any, **kwargs: Any) -> list[Job]:
        return self.sync.jobs(*args, **kwargs)

    async def job(self, *args: Any, **kwargs: Any) -> Job:
        return self.sync.job(*args, **kwargs)

    async def schedule(self, *args: Any, **kwargs: Any) -> Job:
        return self.sync.schedule(*args, **kwargs)

    async def unschedule(self, *args: Any, **kwargs: Any) -> None:
        return self.sync.unschedule(*args, **kwargs)

    async def plan(self, *args: Any, **kwargs: Any) -> Plan:
        return self.sync.plan(*args, **kwargs)

    async def apply(self, *args: Any, **kwargs: Any) -> ApplyResult:
        return self.sync.apply(*args, **kwargs)

    async def audit(self, *args: Any, **kwargs: Any) -> AuditReport:
        return self.sync.audit(*args, **kwargs)

    async def runs(self, *args: Any, **kwargs: Any) -> list[Run]:
        return self.sync.runs(*args, **kwargs)

    async def run(self, *args: Any, **kwargs: Any) -> Run:
        return self.sync.run(*args, **kwargs)

    async def runs_after(self, *args: Any, **kwargs: Any) -> FeedPage:
        return self.sync.runs_after(*args, **kwargs)

    async def start_runid(self, *args: Any, **kwargs: Any) -> int:
        return self.sync.start_runid(*args, **kwargs)

    async def submit(self, *args: Any, **kwargs: Any) -> RunHandle:
        return self.sync.submit(*args, **kwargs)

    async def attach(self, *args: Any, **kwargs: Any) -> RunHandle:
        return self.sync.attach(*args, **kwargs)

    async def wait(self, *args: Any, **kwargs: Any) -> Run:
        return self.sync.wait(*args, **kwargs)

    async def run_now(self, *args: Any, **kwargs: Any) -> Run:
        return self.sync.run_now(*args, **kwargs)

    async def cancel(self, *args: Any, **kwargs: Any) -> None:
        return self.sync.cancel(*args, **kwargs)

    async def submit_attempt(self, *args: Any, **kwargs: Any) -> Attempt:
        return self.sync.submit_attempt(*args, **kwargs)

    async def latest_attempt(self, *args: Any, **kwargs: Any) -> Attempt | None:
        return self.sync.latest_attempt(*args, **kwargs)


if TYPE_CHECKING:  # mypy proves the fakes stand in for the real clients
    _sync_fake: ClientProtocol = FakeClient()
    _async_fake: AsyncClientProtocol = AsyncFakeClient()
