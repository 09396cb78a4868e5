"""Jobs as code: compare declared jobs with the server (``plan``) and make the server match (``apply``).

A plan manages the jobs named ``<namespace>:<name>`` (docs/adr/0004-jobs-namespace.md) whose role is one
the plan declares: the role of the connection and every ``username`` of the specs
(docs/adr/0005-trust-boundary.md, point 7). A job of the namespace that belongs to another role is never
adopted, changed or deleted and never blocks a plan; the plan names it in ``Plan.notes``. A job is identified
by its name *and* its role, so a spec matches only the live job of its own role.

Updates go through ``cron.alter_job`` (or pg_cron's same-name upsert), so a job keeps its jobid and its run
history; a job is never dropped and recreated, and its role is never changed. An apply is one transaction of a
few set-based statements, whatever the number of jobs, under ``lock_timeout`` and with
``search_path = pg_catalog, pg_temp``. Where the applier could change other roles' jobs (UPDATE on
``cron.job``: a superuser), it locks the rows it is about to change and compares them with the plan's
snapshot first (compare-and-swap): a concurrent change refuses the apply instead of riding along.

``compute_plan`` is pure (no I/O): it takes the declared specs, the live rows and the apply record. The
record (``pgcron.applied_job``, migration 0003) is what lets a plan tell *drift* (the live job was changed
outside the file since the last apply) from an ordinary pending change. Since migration 0004 the record is
written only through ``pgcron.record_applied_jobs`` / ``pgcron.forget_applied_jobs``, which accept only the
caller's own jobs; an engine schema older than that (its records writable by every role) makes plan and apply
raise ``SchemaOutOfDate`` rather than trust it.

A jobs file's ``[lanes]`` (``plan_steps(lane_workers=…)``) adds the applying role's warm lane to the plan
(``Plan.lane``, a ``LaneChange``; docs/adr/0008-lanes-in-the-jobs-file.md). A lane belongs to the role that
connects, in the database it connects to, so the plan compares the file with that lane only. Apply changes
it after the jobs' transaction has committed, through ``Client.lane_start`` / ``Client.lane_stop``.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import sql

# The sans-I/O driver lives in pgcron._steps (shared with audit, history and doctor); re-exported here.
from pgcron._steps import Step, Steps, drive, run_steps, run_steps_async, step
from pgcron.errors import PermissionDenied, PgCronError, SchemaOutOfDate
from pgcron.jobsfile import (
    NAMESPACE_SEPARATOR,
    RESERVED_NAMESPACES,
    RETENTION_JOB,
    JobsFile,
    Retention,
    qualified_name,
)
from pgcron.lanes import LaneStatus, check_workers, lane_slot_warning, status_from_rows
from pgcron.models import JobSpec

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "Action",
    "ApplyResult",
    "Change",
    "FieldChange",
    "LaneChange",
    "LaneNotApplied",
    "LiveJob",
    "Plan",
    "PlanConflict",
    "PlanLocked",
    "PlanStale",
    "Step",
    "Steps",
    "compute_lane",
    "compute_plan",
    "desired_specs",
    "drive",
    "retention_spec",
    "run_steps",
    "run_steps_async",
]

logger = logging.getLogger(__name__)

#: Fields pg_cron stores (changed with alter_job) and fields only the apply record keeps.
CRON_FIELDS = ("schedule", "command", "database", "username", "active")
RECORD_FIELDS = ("timeout", "description", "tags")
#: The columns a planned row must still have when apply locks it (compare-and-swap).
SNAPSHOT_FIELDS = ("jobname", *CRON_FIELDS)
#: How long an apply waits for a lock before it gives up (``SET LOCAL lock_timeout``): nobody can stall it.
DEFAULT_LOCK_TIMEOUT = timedelta(seconds=5)
#: The longest ``timeout`` the engine stores (``pgcron.record_applied_jobs``: 31 days).
MAX_TIMEOUT = timedelta(days=31)
#: SQLSTATE lock_not_available: a statement waited ``lock_timeout`` for a lock.
LOCK_NOT_AVAILABLE = "55P03"

#: (jobid, jobname, schedule, command, database, username, active) of one live job.
Snapshot = tuple[int, str, str, str, str, str, bool]


class PlanConflict(PgCronError):
    """The namespace's jobs cannot be planned: a job is declared twice, or two live jobs of one role share a
    name. Rename or unschedule one of them, then plan again."""


class PlanStale(PgCronError):
    """The server's jobs changed after this plan was made; nothing was applied. Run `pgcron plan` again and
    review it."""


class PlanLocked(PgCronError):
    """Another session holds a lock on a job this apply changes; nothing was applied. Retry when that session
    has finished (its transaction committed or rolled back)."""


class LaneNotApplied(PgCronError):
    """The jobs were applied, but the lane the jobs file declares was not started or stopped. Check
    `pgcron lane status` and `pgcron doctor`, then run `pgcron apply` again (it only changes the lane)."""


class Action(enum.Enum):
    """What applying does to one job."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"  # only with prune=True
    UNCHANGED = "unchanged"
    ORPHAN = "orphan"  # managed but not declared, kept because prune=False (reported, never pending)


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field that differs: ``before`` is the live value, ``after`` the declared one."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class LiveJob:
    """A row of ``cron.job`` in the namespace and its apply record (``None``: never applied, or no record)."""

    jobid: int
    name: str
    schedule: str
    command: str
    database: str
    username: str
    active: bool
    record: Mapping[str, Any] | None = None

    def values(self) -> dict[str, Any]:
        """The comparable fields: pg_cron's own plus the record-only ones (``None`` without a record)."""
        values: dict[str, Any] = {f: getattr(self, f) for f in CRON_FIELDS}
        record = self.record or {}
        values["timeout"] = record.get("timeout_seconds")
        values["description"] = record.get("description")
        values["tags"] = tuple(record.get("tags") or ())
        return values

    def snapshot(self) -> Snapshot:
        """What apply compares before it writes (the pg_cron columns, jobid and name)."""
        return (self.jobid, self.name, self.schedule, self.command, self.database, self.username, self.active)


@dataclass(frozen=True, slots=True)
class Change:
    """The plan for one job. ``drift`` lists live fields changed outside the file since the last apply."""

    action: Action
    name: str
    jobid: int | None
    desired: JobSpec | None
    live: LiveJob | None
    changes: tuple[FieldChange, ...] = ()
    drift: tuple[FieldChange, ...] = ()

    @property
    def cron_changes(self) -> tuple[FieldChange, ...]:
        """The changes that alter_job must make (the others only touch the apply record)."""
        return tuple(c for c in self.changes if c.field in CRON_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "name": self.name,
            "jobid": self.jobid,
            "changes": [
                {"field": c.field, "before": _jsonable(c.before), "after": _jsonable(c.after)}
                for c in self.changes
            ],
            "drift": [
                {"field": c.field, "applied": _jsonable(c.before), "live": _jsonable(c.after)}
                for c in self.drift
            ],
        }


@dataclass(frozen=True, slots=True)
class LaneChange:
    """The plan for the applying role's lane in this database (a jobs file's ``[lanes]``).

    ``before`` is how many workers the role asked for last (``pgcron.lane_config``; 0: no lane), ``after`` the
    file's ``workers``. ``missing`` are workers 1..``after`` without an active job (removed or paused outside
    the file: apply starts them again); ``leftover`` counts the jobs of a stopped lane whose workers are still
    finishing (apply waits for them and removes the jobs). ``warning`` says when the lane would leave fewer
    than two of ``cron.max_running_jobs``' slots for everything else (``pgcron.lanes.slot_warning``).
    """

    role: str
    database: str
    before: int
    after: int
    live: int = 0
    missing: tuple[int, ...] = ()
    leftover: int = 0
    warning: str | None = None

    @property
    def pending(self) -> bool:
        if self.after == 0:
            return self.before != 0 or self.leftover > 0
        return self.before != self.after or bool(self.missing)

    @property
    def action(self) -> str:
        """``start``, ``resize``, ``stop`` or ``unchanged``: what apply does to the lane."""
        if not self.pending:
            return "unchanged"
        if self.after == 0:
            return "stop"
        return "resize" if 0 < self.before != self.after else "start"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "role": self.role,
            "database": self.database,
            "pending": self.pending,
            "before": self.before,
            "after": self.after,
            "live": self.live,
            "missing": list(self.missing),
            "leftover": self.leftover,
            "warning": self.warning,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """What ``apply`` would do to one namespace. ``pending`` is False when the server already matches.

    ``roles`` are the roles whose jobs the plan manages (the connection's role and every declared
    ``username``); ``foreign`` are the namespace's jobs of other roles, which apply never touches, and
    ``notes`` says so in words. ``lane`` is the applying role's lane when the file declares ``[lanes]``
    (``None``: lanes are left alone).
    """

    namespace: str
    changes: tuple[Change, ...]
    prune: bool = False
    current_user: str = ""
    current_database: str = ""
    has_record: bool = False
    roles: tuple[str, ...] = ()
    foreign: tuple[LiveJob, ...] = ()
    notes: tuple[str, ...] = ()
    fingerprint: tuple[Snapshot, ...] = field(default=(), repr=False)
    lane: LaneChange | None = None

    def by_action(self, action: Action) -> list[Change]:
        return [c for c in self.changes if c.action is action]

    @property
    def pending(self) -> bool:
        if self.lane is not None and self.lane.pending:
            return True
        return any(c.action in (Action.CREATE, Action.UPDATE, Action.DELETE) for c in self.changes)

    @property
    def drifted(self) -> list[Change]:
        return [c for c in self.changes if c.drift]

    def summary(self) -> dict[str, int]:
        return {a.value: len(self.by_action(a)) for a in Action}

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "prune": self.prune,
            "pending": self.pending,
            "summary": self.summary(),
            "drift": len(self.drifted),
            "changes": [c.to_dict() for c in self.changes],
            "notes": list(self.notes),
            "not_managed": [{"name": j.name, "jobid": j.jobid, "username": j.username} for j in self.foreign],
            "lane": self.lane.to_dict() if self.lane is not None else None,
        }


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What an apply did; ``jobids`` maps each declared job name to its jobid. ``lane``: the applying role's
    lane after apply started, resized or stopped it (``None``: apply left it alone)."""

    created: tuple[str, ...]
    updated: tuple[str, ...]
    deleted: tuple[str, ...]
    unchanged: int
    jobids: Mapping[str, int]
    round_trips: int
    record_written: bool
    lane: LaneStatus | None = None


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def retention_spec(namespace: str, retention: Retention) -> JobSpec:
    """The job a ``[retention]`` table installs: ``CALL pgcron.purge_history(...)`` in batches."""
    prefix = sql.NULL if retention.scope == "all" else sql.Literal(namespace + NAMESPACE_SEPARATOR)
    # The text of a pg_cron command (run later by pg_cron as the job's role), not a query this process runs:
    # built from validated values, quoted by psycopg, every call schema-qualified (the job's search_path is
    # the role's default, which may hold a schema other roles can create functions in).
    command = (
        sql.SQL("CALL pgcron.purge_history(pg_catalog.make_interval(secs => {}), {}, {})")
        .format(sql.Literal(int(retention.keep.total_seconds())), sql.Literal(int(retention.batch)), prefix)
        .as_string(None)
    )
    return JobSpec(
        name=RETENTION_JOB,
        schedule=retention.schedule,
        command=command,
        database=retention.database,
        username=retention.username,
        active=True,
        description=f"pgcron retention: purge run history older than {retention.keep} "
        f"({'all jobs' if retention.scope == 'all' else 'this namespace'})",
        tags=("pgcron-retention",),
    )


def desired_specs(jobs_file: JobsFile) -> list[JobSpec]:
    """The file's jobs plus its retention job, with local names (``compute_plan`` qualifies them)."""
    specs = list(jobs_file.jobs)
    if jobs_file.retention is not None:
        specs.append(retention_spec(jobs_file.namespace, jobs_file.retention))
    return specs


def _desired_values(spec: JobSpec, current_database: str, current_user: str) -> dict[str, Any]:
    return {
        "schedule": spec.schedule,
        "command": spec.command,
        "database": spec.database or current_database,
        "username": spec.username or current_user,
        "active": spec.active,
        "timeout": spec.timeout.total_seconds() if spec.timeout is not None else None,
        "description": spec.description,
        "tags": tuple(spec.tags),
    }


def _record_spec(values: Mapping[str, Any]) -> dict[str, Any]:
    """The apply record's JSON for declared values."""
    spec = {f: values[f] for f in CRON_FIELDS}
    if values["timeout"] is not None:
        spec["timeout_seconds"] = values["timeout"]
    if values["description"] is not None:
        spec["description"] = values["description"]
    if values["tags"]:
        spec["tags"] = list(values["tags"])
    return spec


def compute_plan(
    namespace: str,
    specs: Iterable[JobSpec],
    live: Sequence[LiveJob],
    *,
    current_database: str,
    current_user: str,
    prune: bool = False,
    has_record: bool = False,
) -> Plan:
    """Diff declared ``specs`` against the namespace's ``live`` jobs. Pure: no I/O.

    Spec names may be local (``expire``) or already qualified (``billing:expire``). ``live`` must hold only
    jobs of this namespace, of any role. The plan manages the jobs of ``current_user`` and of every declared
    ``username``; a spec matches the live job with its name *and* its role. Jobs of other roles are left
    alone (``Plan.foreign``, ``Plan.notes``), whatever their name. Two live jobs of one role with one name, or
    a name declared twice, raise ``PlanConflict``.
    """
    _check_namespace(namespace)
    prefix = namespace + NAMESPACE_SEPARATOR
    declared: list[JobSpec] = []
    seen: set[str] = set()
    for raw in specs:
        spec = replace(raw, name=qualified_name(namespace, raw.name))
        if spec.name in seen:
            raise PlanConflict(f"job {spec.name!r} is declared twice; give each job its own name")
        seen.add(spec.name)
        _check_timeout(spec)
        declared.append(spec)
    roles = tuple(dict.fromkeys([current_user, *(s.username or current_user for s in declared)]))
    owned: dict[tuple[str, str], LiveJob] = {}
    foreign: list[LiveJob] = []
    for job in live:
        if not job.name.startswith(prefix):
            raise ValueError(f"live job {job.name!r} is outside namespace {namespace!r}")
        if job.username not in roles:
            foreign.append(job)
            continue
        key = (job.name, job.username)
        if key in owned:
            other = owned[key]
            raise PlanConflict(
                f"two live jobs of role {job.username!r} are named {job.name!r} (jobids {other.jobid} and "
                f"{job.jobid}); unschedule one of them, then plan again",
                jobids=(other.jobid, job.jobid),
            )
        owned[key] = job
    changes: list[Change] = []
    matched: set[tuple[str, str]] = set()
    for spec in declared:
        want = _desired_values(spec, current_database, current_user)
        key = (spec.name, want["username"])
        matched.add(key)
        existing = owned.get(key)
        if existing is None:
            shown = [f for f in (*CRON_FIELDS, *RECORD_FIELDS) if f in CRON_FIELDS or want[f]]
            changes.append(
                Change(
                    Action.CREATE,
                    spec.name,
                    None,
                    spec,
                    None,
                    tuple(FieldChange(f, None, want[f]) for f in shown),
                )
            )
            continue
        job = existing
        have = job.values()
        diffs = []
        for name in (*CRON_FIELDS, *RECORD_FIELDS):
            if name in RECORD_FIELDS and job.record is None and not has_record:
                continue  # nowhere to keep them: not a difference we could ever resolve
            if have[name] != want[name]:
                diffs.append(FieldChange(name, have[name], want[name]))
        drift = _drift(job)
        action = Action.UPDATE if diffs else Action.UNCHANGED
        changes.append(Change(action, spec.name, job.jobid, spec, job, tuple(diffs), drift))
    declared_roles = {s.name: s.username or current_user for s in declared}
    notes: list[str] = []
    for (name, role), job in sorted(owned.items()):
        if (name, role) in matched:
            continue
        action = Action.DELETE if prune else Action.ORPHAN
        changes.append(Change(action, name, job.jobid, None, job, (), _drift(job)))
        if name in declared_roles:
            notes.append(
                f"job {name} (jobid {job.jobid}) runs as role {role}, and the file declares it for role "
                f"{declared_roles[name]}: a job never changes its role, so that is a new job "
                f"({'the old one is deleted' if prune else 'the old one is kept; --prune deletes it'})"
            )
    for job in sorted(foreign, key=lambda j: (j.name, j.username, j.jobid)):
        notes.append(f"job {job.name} (jobid {job.jobid}) of role {job.username} is not managed by this plan")
    fingerprint = tuple(sorted(j.snapshot() for j in owned.values()))
    return Plan(
        namespace,
        tuple(changes),
        prune,
        current_user,
        current_database,
        has_record,
        roles,
        tuple(foreign),
        tuple(notes),
        fingerprint,
    )


def compute_lane(status: LaneStatus, workers: int, *, warning: str | None = None) -> LaneChange:
    """Diff the file's ``[lanes] workers`` with the role's lane as ``lane_status`` reads it. Pure: no I/O."""
    _check_lane_workers(workers)
    scheduled = {w.worker for w in status.workers if w.scheduled}
    return LaneChange(
        role=status.role,
        database=status.database,
        before=status.wanted,
        after=workers,
        live=status.live,
        missing=tuple(n for n in range(1, workers + 1) if n not in scheduled),
        leftover=sum(1 for w in status.workers if w.jobid is not None) if workers == 0 else 0,
        warning=warning,
    )


def _check_lane_workers(workers: object) -> None:
    """0 (no lane) or what ``lane_start`` accepts (1 to ``MAX_WORKERS``)."""
    if not (type(workers) is int and workers == 0):
        check_workers(workers)


def _check_timeout(spec: JobSpec) -> None:
    if spec.timeout is not None and not timedelta(0) < spec.timeout <= MAX_TIMEOUT:
        raise PgCronError(
            f"job {spec.name!r}: timeout {spec.timeout} is out of range; it must be more than 0 and at most "
            "31 days (the longest timeout the engine keeps)",
            job=spec.name,
        )


def _drift(job: LiveJob) -> tuple[FieldChange, ...]:
    if job.record is None:
        return ()
    return tuple(
        FieldChange(f, job.record.get(f), getattr(job, f))
        for f in CRON_FIELDS
        if f in job.record and job.record.get(f) != getattr(job, f)
    )


def _check_namespace(namespace: str) -> None:
    if not namespace or NAMESPACE_SEPARATOR in namespace:
        raise ValueError(f"namespace {namespace!r} must be non-empty and contain no {NAMESPACE_SEPARATOR!r}")
    if namespace in RESERVED_NAMESPACES:
        raise ValueError(f"namespace {namespace!r} is reserved for pgcron's own jobs")


# -- I/O: read the server, apply a plan -----------------------------------------------------------------


def _session(lock_timeout: timedelta) -> Steps[dict[str, Any]]:
    """``SET LOCAL search_path = pg_catalog, pg_temp`` and ``lock_timeout``; returns the previous values."""
    millis = max(1, round(lock_timeout.total_seconds() * 1000))
    return (yield step("jobs_session", {"lock_timeout": f"{millis}ms"}))[0]


def _restore(session: Mapping[str, Any]) -> Steps[None]:
    yield step(
        "jobs_session_restore",
        {"search_path": session["search_path"], "lock_timeout": session["lock_timeout"]},
    )


def _context() -> Steps[dict[str, Any]]:
    return (yield step("jobs_context"))[0]


def _uses_record(ctx: Mapping[str, Any]) -> bool:
    """Whether the apply record is there and trustworthy (migration 0004); ``SchemaOutOfDate`` when older.

    Before 0004 every role could write any row of ``pgcron.applied_job``: a plan that read it would show
    drift a stranger invented. Refusing (rather than silently ignoring the record) makes the upgrade happen.
    """
    if not ctx["has_apply_record"]:
        return False
    if not ctx["has_record_functions"]:
        raise SchemaOutOfDate(
            "the pgcron engine schema in this database is older than this library: its apply records "
            "(pgcron.applied_job) are writable by every role, so plan and apply will not use them. Run "
            "`pgcron schema install` (as the role that installed it) to upgrade it, then plan again"
        )
    return True


def _read_live(namespace: str, has_record: bool) -> Steps[list[LiveJob]]:
    rows = yield step("jobs_owned", {"prefix": namespace + NAMESPACE_SEPARATOR})
    records: dict[int, Mapping[str, Any]] = {}
    if has_record:
        for rec in (yield step("jobs_applied_records", {"namespace": namespace})):
            records[int(rec["jobid"])] = rec["spec"]
    return [
        LiveJob(
            int(r["jobid"]),
            r["jobname"],
            r["schedule"],
            r["command"],
            r["database"],
            r["username"],
            bool(r["active"]),
            records.get(int(r["jobid"])),
        )
        for r in rows
    ]


def plan_steps(
    specs: Iterable[JobSpec], *, namespace: str, prune: bool = False, lane_workers: int | None = None
) -> Steps[Plan]:
    """The queries of a plan (3-8, run them in one transaction) and the diff of their rows with ``specs``.

    ``lane_workers`` (a jobs file's ``[lanes] workers``) adds the connected role's lane to the plan; ``None``
    leaves lanes alone.
    """
    _check_namespace(namespace)
    specs = list(specs)
    if lane_workers is not None:
        _check_lane_workers(lane_workers)
    session = yield from _session(DEFAULT_LOCK_TIMEOUT)
    ctx = yield from _context()
    if any(s.name == RETENTION_JOB for s in specs) and not ctx["has_purge_procedure"]:
        raise SchemaOutOfDate(
            "the jobs file declares [retention], which runs pgcron.purge_history(): install the engine "
            "schema first with `pgcron schema install`"
        )
    has_record = _uses_record(ctx)
    live = yield from _read_live(namespace, has_record)
    lane = None if lane_workers is None else (yield from _read_lane(ctx, lane_workers))
    yield from _restore(session)
    plan = compute_plan(
        namespace,
        specs,
        live,
        current_database=ctx["current_database"],
        current_user=ctx["current_user"],
        prune=prune,
        has_record=has_record,
    )
    return plan if lane is None else replace(plan, lane=lane)


def _read_lane(ctx: Mapping[str, Any], workers: int) -> Steps[LaneChange]:
    """The connected role's lane (``lane_status``) against ``workers``; a lane that grows is checked against
    ``cron.max_running_jobs`` the way doctor checks lanes (``lane_slot_warning``)."""
    role, database = ctx["current_user"], ctx["current_database"]
    if not ctx["has_lanes"]:
        if workers:
            raise SchemaOutOfDate(
                "the jobs file declares [lanes] workers, and lanes need the engine schema (migration 0006): "
                "run `pgcron schema install`, or leave out [lanes]"
            )
        return compute_lane(LaneStatus(role, database, 0, ()), 0)
    status = status_from_rows((yield step("lane_status")), role=role, database=database)
    warning = None
    if workers > status.wanted:
        slots = yield step("lane_slots")
        settings = {r["name"]: r["setting"] for r in (yield step("cron_settings"))}
        warning = lane_slot_warning(slots, settings, resized=(role, database, workers))
    return compute_lane(status, workers, warning=warning)


def apply_steps(plan: Plan, *, lock_timeout: timedelta = DEFAULT_LOCK_TIMEOUT) -> Steps[ApplyResult]:
    """The statements that make the server match ``plan``; run them in one transaction.

    Raises (and changes nothing) ``PlanStale`` when the namespace's managed jobs differ from what the plan
    saw, ``PlanLocked`` when another session holds one of them longer than ``lock_timeout``, and
    ``PermissionDenied`` when a change needs a privilege the role lacks.
    """
    try:
        return (yield from _apply_steps(plan, lock_timeout))
    except (psycopg.Error, PgCronError) as exc:
        if isinstance(exc, PlanLocked) or _sqlstate(exc) != LOCK_NOT_AVAILABLE:
            raise
        names = ", ".join(c.name for c in plan.changes if c.action in (Action.UPDATE, Action.DELETE))
        raise PlanLocked(
            f"another session holds a lock that apply needs (on one of {names or 'the jobs it creates'}) "
            f"for longer than lock_timeout ({lock_timeout.total_seconds():g} s); nothing was applied: retry "
            "when that session has finished",
            sqlstate=LOCK_NOT_AVAILABLE,
        ) from exc


def _apply_steps(plan: Plan, lock_timeout: timedelta) -> Steps[ApplyResult]:
    session = yield from _session(lock_timeout)
    ctx = yield from _context()
    trips = 2
    if ctx["current_user"] != plan.current_user:
        raise PlanStale(
            f"this plan was made as role {plan.current_user!r} and this connection is role "
            f"{ctx['current_user']!r}; nothing was applied: plan again as the role that applies"
        )
    has_record = _uses_record(ctx)
    writes = [
        c
        for c in plan.changes
        if c.live is not None
        and (c.action is Action.DELETE or (c.action is Action.UPDATE and c.cron_changes))
    ]
    if writes and ctx["can_update_cron_job"]:
        # This role could change any role's job: lock what it is about to change and check that it is still
        # what the plan saw, so that no change made meanwhile (by whoever) is carried out with its rights.
        trips += yield from _lock_planned(writes, lock_timeout)
    live = yield from _read_live(plan.namespace, has_record)
    trips += 1 + int(has_record)
    now = tuple(sorted(j.snapshot() for j in live if j.username in plan.roles))
    if now != plan.fingerprint:
        raise PlanStale(_stale_message(plan.fingerprint, now))
    creates = plan.by_action(Action.CREATE)
    updates = plan.by_action(Action.UPDATE)
    deletes = plan.by_action(Action.DELETE)
    jobids: dict[str, int] = {c.name: c.jobid for c in plan.changes if c.jobid is not None and c.desired}
    trips += yield from _create(ctx, creates, jobids, plan)
    trips += yield from _update(ctx, updates, plan)
    if deletes:
        (yield step("jobs_unschedule", {"jobids": [c.jobid for c in deletes]}))
        trips += 1
    if has_record:
        trips += yield from _write_record(
            plan,
            jobids,
            {c.name for c in creates},
            [c.jobid for c in deletes if c.jobid is not None],
        )
    elif any(
        c.desired and (c.desired.timeout or c.desired.description or c.desired.tags) for c in plan.changes
    ):
        logger.warning(
            "the pgcron engine schema is not installed: timeout, description and tags are "
            "not stored and drift cannot be detected; run `pgcron schema install`"
        )
    yield from _restore(session)
    trips += 1
    logger.info(
        "applied namespace %s: %d created, %d updated, %d deleted in %d round trips",
        plan.namespace,
        len(creates),
        len(updates),
        len(deletes),
        trips,
    )
    return ApplyResult(
        created=tuple(c.name for c in creates),
        updated=tuple(c.name for c in updates),
        deleted=tuple(c.name for c in deletes),
        unchanged=len(plan.by_action(Action.UNCHANGED)),
        jobids=jobids,
        round_trips=trips,
        record_written=has_record,
    )


def lane_not_applied(lane: LaneChange, result: ApplyResult, error: PgCronError) -> LaneNotApplied:
    """The error for an apply whose jobs committed and whose lane change then failed with ``error``."""
    return LaneNotApplied(
        f"the jobs were applied ({len(result.created)} created, {len(result.updated)} updated, "
        f"{len(result.deleted)} deleted), but the lane of role {lane.role} in {lane.database} did not "
        f"{'stop' if lane.action == 'stop' else f'reach {lane.after} worker(s)'}: {error.message} "
        "Run `pgcron apply` again once that is fixed (it only changes the lane).",
        result=result,
        role=lane.role,
        database=lane.database,
        workers=lane.after,
    )


def _lock_planned(writes: list[Change], lock_timeout: timedelta) -> Steps[int]:
    """Lock the rows apply changes (``FOR UPDATE``) and compare them with the plan's snapshot.

    The rows nobody holds are taken at once (``SKIP LOCKED``); the others are waited for, at most
    ``lock_timeout``, so that a timeout can name the jobs another session holds.
    """
    by_id = {c.jobid: c for c in writes if c.jobid is not None}
    ids = sorted(by_id)
    rows = {int(r["jobid"]): r for r in (yield step("jobs_lock_try", {"jobids": ids}))}
    trips = 1
    held = [i for i in ids if i not in rows]
    if held:
        try:
            waited = yield step("jobs_lock_wait", {"jobids": held})
        except (psycopg.Error, PgCronError) as exc:
            if _sqlstate(exc) != LOCK_NOT_AVAILABLE:
                raise
            jobs = ", ".join(f"{by_id[i].name} (jobid {i})" for i in held)
            raise PlanLocked(
                f"another session holds job {jobs}; waited lock_timeout ({lock_timeout.total_seconds():g} s) "
                "and applied nothing: retry when that session has finished",
                jobids=tuple(held),
                sqlstate=LOCK_NOT_AVAILABLE,
            ) from exc
        trips += 1
        rows.update({int(r["jobid"]): r for r in waited})
    for jobid in ids:
        change = by_id[jobid]
        assert change.live is not None
        row = rows.get(jobid)
        if row is None:
            raise PlanStale(
                f"job {change.name} (jobid {jobid}) was unscheduled after this plan was made; nothing was "
                "applied: run `pgcron plan` again and review it",
                jobid=jobid,
            )
        planned = dict(zip(SNAPSHOT_FIELDS, change.live.snapshot()[1:], strict=True))
        now = {f: bool(row[f]) if f == "active" else row[f] for f in SNAPSHOT_FIELDS}
        differs = [f for f in SNAPSHOT_FIELDS if now[f] != planned[f]]
        if differs:
            owner = (
                f"it now belongs to role {now['username']} (planned: {planned['username']})"
                if now["username"] != planned["username"]
                else f"role {now['username']}"
            )
            raise PlanStale(
                f"job {change.name} (jobid {jobid}) changed after this plan was made ({', '.join(differs)}; "
                f"{owner}); nothing was applied: run `pgcron plan` again and review it",
                jobid=jobid,
                fields=tuple(differs),
                username=now["username"],
            )
    return trips


def _stale_message(planned: tuple[Snapshot, ...], now: tuple[Snapshot, ...]) -> str:
    before = {s[0]: s for s in planned}
    after = {s[0]: s for s in now}
    parts = [f"{after[i][1]} (jobid {i}, role {after[i][5]}) appeared" for i in sorted(after.keys() - before)]
    parts += [f"{before[i][1]} (jobid {i}) is gone" for i in sorted(before.keys() - after)]
    parts += [
        f"{after[i][1]} (jobid {i}) changed" for i in sorted(before.keys() & after) if before[i] != after[i]
    ]
    return (
        f"the namespace's jobs changed after this plan was made ({'; '.join(parts)}); nothing was applied: "
        "run `pgcron plan` again and review it"
    )


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a psycopg error, or of a ``PgCronError`` the client's seam translated from one."""
    state = getattr(exc, "sqlstate", None)
    if state is None and isinstance(exc, PgCronError):
        state = exc.context.get("sqlstate")
    if state is None and exc.__cause__ is not None:
        state = getattr(exc.__cause__, "sqlstate", None)
    return state if isinstance(state, str) else None


def _values(change: Change, plan: Plan) -> dict[str, Any]:
    assert change.desired is not None
    return _desired_values(change.desired, plan.current_database, plan.current_user)


def _create(ctx: Mapping[str, Any], creates: list[Change], jobids: dict[str, int], plan: Plan) -> Steps[int]:
    if not creates:
        return 0
    rows = [_values(c, plan) for c in creates]
    names = [c.name for c in creates]
    if ctx["can_schedule_in_database"]:
        result = yield step(
            "jobs_create_in_database",
            {
                "names": names,
                "schedules": [r["schedule"] for r in rows],
                "commands": [r["command"] for r in rows],
                "databases": [r["database"] for r in rows],
                # NULL for the connected role: a non-NULL username needs a real superuser, even when it
                # names current_user (pg_cron #390), and no provider's admin role is one.
                "usernames": [None if r["username"] == ctx["current_user"] else r["username"] for r in rows],
                "actives": [r["active"] for r in rows],
            },
        )
    else:
        blocked = [
            n
            for n, r in zip(names, rows, strict=True)
            if r["database"] != ctx["current_database"]
            or r["username"] != ctx["current_user"]
            or not r["active"]
        ]
        if blocked:
            raise PermissionDenied(
                f"creating {', '.join(blocked)} needs cron.schedule_in_database (another database, another "
                f"role, or active = false), which role {ctx['current_user']!r} may not execute: ask an "
                "administrator for GRANT EXECUTE ON FUNCTION cron.schedule_in_database TO "
                f"{ctx['current_user']}, or apply as a superuser"
            )
        result = yield step(
            "jobs_create_plain",
            {
                "names": names,
                "schedules": [r["schedule"] for r in rows],
                "commands": [r["command"] for r in rows],
            },
        )
    for row in result:
        jobids[row["jobname"]] = int(row["jobid"])
    return 1


def _update(ctx: Mapping[str, Any], updates: list[Change], plan: Plan) -> Steps[int]:
    altering = [c for c in updates if c.cron_changes]
    if not altering:
        return 0
    if ctx["can_alter_job"]:
        # The role is part of a job's identity (a spec matches only its own role's job), so it never changes.
        fields = ("schedule", "command", "database", "active")
        cols: dict[str, list[Any]] = {f: [] for f in fields}
        for change in altering:
            changed = {c.field: c.after for c in change.cron_changes}
            for f in fields:
                cols[f].append(changed.get(f))  # NULL: unchanged
        (
            yield step(
                "jobs_alter",
                {
                    "jobids": [c.jobid for c in altering],
                    "schedules": cols["schedule"],
                    "commands": cols["command"],
                    "databases": cols["database"],
                    "actives": cols["active"],
                },
            )
        )
        return 1
    blocked = [
        c.name
        for c in altering
        if {f.field for f in c.cron_changes} - {"schedule", "command"}
        or c.live is None
        or c.live.username != ctx["current_user"]
        or c.live.database != ctx["current_database"]
    ]
    if blocked:
        raise PermissionDenied(
            f"updating {', '.join(blocked)} needs cron.alter_job (a change of database or active, or another "
            f"role's job), which role {ctx['current_user']!r} may not execute: ask an administrator "
            f"for GRANT EXECUTE ON FUNCTION cron.alter_job TO {ctx['current_user']}, or apply as a superuser"
        )
    rows = [_values(c, plan) for c in altering]
    (
        yield step(
            "jobs_upsert_by_name",
            {
                "names": [c.name for c in altering],
                "schedules": [r["schedule"] for r in rows],
                "commands": [r["command"] for r in rows],
            },
        )
    )
    return 1


def _write_record(plan: Plan, jobids: Mapping[str, int], created: set[str], deleted: list[int]) -> Steps[int]:
    """Record what was applied (``pgcron.record_applied_jobs``) and forget pruned jobs: 1-2 round trips.

    The engine takes name, namespace and role from ``cron.job`` and accepts only the caller's own jobs; the
    timeouts it stores are enforced by the engine's one job, ``pgcron:maintenance``.
    """
    kept: list[Change] = []
    specs: list[dict[str, Any]] = []
    for change in plan.changes:
        if change.desired is None or change.action is Action.DELETE:
            continue
        spec = _record_spec(_values(change, plan))
        # Only what changed: an unchanged job whose record already says the same is left alone.
        if change.live is None or change.live.record is None or _normalized(change.live.record) != spec:
            kept.append(change)
            specs.append(spec)
    if kept:
        (
            yield step(
                "jobs_record_apply",
                {
                    "jobids": [jobids[c.name] for c in kept],
                    "specs": [json.dumps(s, sort_keys=True) for s in specs],
                    "created": [c.name in created for c in kept],
                },
            )
        )
    (yield step("jobs_record_forget", {"namespace": plan.namespace, "jobids": deleted}))
    return 1 + int(bool(kept))


def _normalized(record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record as ``_record_spec`` would write it (JSON has no tuples or ints-vs-floats)."""
    spec = dict(record)
    if "timeout_seconds" in spec:
        spec["timeout_seconds"] = float(spec["timeout_seconds"])
    return spec


def timeout_of(value: float | None) -> timedelta | None:
    """A record's ``timeout_seconds`` as a timedelta."""
    return None if value is None else timedelta(seconds=value)
