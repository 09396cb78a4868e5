"""Jobs as code: compare declared jobs with the server (``plan``) and make the server match (``apply``).

A namespace owns the jobs named ``<namespace>:<name>`` (docs/adr/0004-jobs-namespace.md); nothing else is
read for the diff or ever changed. Updates go through ``cron.alter_job`` (or pg_cron's same-name upsert),
so a job keeps its jobid and its run history; a job is never dropped and recreated. An apply is one
transaction of a few set-based statements, whatever the number of jobs.

``compute_plan`` is pure (no I/O): it takes the declared specs, the live rows and the apply record. The
record (``pgcron.applied_job``, migration 0003) is what lets a plan tell *drift* (the live job was changed
outside the file since the last apply) from an ordinary pending change.
"""

from __future__ import annotations

import enum
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, TypeVar, cast, overload

import psycopg
from psycopg.rows import dict_row

from pgcron.errors import PermissionDenied, PgCronError, SchemaOutOfDate
from pgcron.jobsfile import (
    NAMESPACE_SEPARATOR,
    RESERVED_NAMESPACES,
    RETENTION_JOB,
    JobsFile,
    Retention,
    qualified_name,
)
from pgcron.models import JobSpec
from pgcron.sql import get_query

__all__ = [
    "Action",
    "ApplyResult",
    "Change",
    "FieldChange",
    "LiveJob",
    "Plan",
    "PlanConflict",
    "PlanStale",
    "apply_plan",
    "compute_plan",
    "desired_specs",
    "plan_jobs",
    "retention_spec",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: One named query (``pgcron/sql/queries/jobs_plan.sql``) and its parameters.
Step = tuple[str, dict[str, Any]]
#: A sans-I/O routine: yields steps, receives each step's rows, returns its result. ``run_steps`` (psycopg)
#: and ``run_steps_async`` (the async client's seam) drive the same routine, so the twins share the logic.
Steps = Generator[Step, list[dict[str, Any]], T]

#: Fields pg_cron stores (changed with alter_job) and fields only the apply record keeps.
CRON_FIELDS = ("schedule", "command", "database", "username", "active")
RECORD_FIELDS = ("timeout", "description", "tags")
TIMEOUT_WATCH_JOB = "pgcron:job-timeouts"


class PlanConflict(PgCronError):
    """The namespace's jobs cannot be planned: two live jobs share a name (pg_cron keys names per role).
    Rename or unschedule one of them, then plan again."""


class PlanStale(PgCronError):
    """The server's jobs changed after this plan was made. Run `pgcron plan` again and review it."""


class Action(enum.Enum):
    """What applying does to one job."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"  # only with prune=True
    UNCHANGED = "unchanged"
    ORPHAN = "orphan"  # owned but not declared, kept because prune=False (reported, never pending)


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field that differs: ``before`` is the live value, ``after`` the declared one."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class LiveJob:
    """An owned row of ``cron.job`` plus its apply record (``None`` when never applied or no record)."""

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
class Plan:
    """What ``apply`` would do to one namespace. ``pending`` is False when the server already matches."""

    namespace: str
    changes: tuple[Change, ...]
    prune: bool = False
    current_user: str = ""
    current_database: str = ""
    has_record: bool = False
    fingerprint: tuple[tuple[int, str, str, str, str, str, bool], ...] = field(default=(), repr=False)

    def by_action(self, action: Action) -> list[Change]:
        return [c for c in self.changes if c.action is action]

    @property
    def pending(self) -> bool:
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
        }


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What an apply did; ``jobids`` maps each declared job name to its jobid."""

    created: tuple[str, ...]
    updated: tuple[str, ...]
    deleted: tuple[str, ...]
    unchanged: int
    jobids: Mapping[str, int]
    round_trips: int
    record_written: bool


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def retention_spec(namespace: str, retention: Retention) -> JobSpec:
    """The job a ``[retention]`` table installs: ``CALL pgcron.purge_history(...)`` in batches."""
    seconds = int(retention.keep.total_seconds())
    prefix = "NULL" if retention.scope == "all" else _sql_literal(namespace + NAMESPACE_SEPARATOR)
    # The values are validated numbers and a validated namespace (a-z0-9_-), quoted as a SQL literal: this is
    # the text of a pg_cron command, not a query this process runs.
    command = f"CALL pgcron.purge_history(make_interval(secs => {seconds}), {int(retention.batch)}, {prefix})"
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


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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

    Spec names may be local (``expire``) or already qualified (``billing:expire``). ``live`` must hold
    only jobs of this namespace; two live jobs with one name raise ``PlanConflict``.
    """
    _check_namespace(namespace)
    prefix = namespace + NAMESPACE_SEPARATOR
    by_name: dict[str, LiveJob] = {}
    for job in live:
        if not job.name.startswith(prefix):
            raise ValueError(f"live job {job.name!r} is outside namespace {namespace!r}")
        if job.name in by_name:
            other = by_name[job.name]
            raise PlanConflict(
                f"two live jobs are named {job.name!r} (jobid {other.jobid} as {other.username!r}, jobid "
                f"{job.jobid} as {job.username!r}); unschedule one of them, then plan again",
                jobids=(other.jobid, job.jobid),
            )
        by_name[job.name] = job
    changes: list[Change] = []
    seen: set[str] = set()
    for raw in specs:
        spec = replace(raw, name=qualified_name(namespace, raw.name))
        if spec.name in seen:
            raise PlanConflict(f"job {spec.name!r} is declared twice; give each job its own name")
        seen.add(spec.name)
        want = _desired_values(spec, current_database, current_user)
        existing = by_name.get(spec.name)
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
    for name, job in sorted(by_name.items()):
        if name in seen:
            continue
        action = Action.DELETE if prune else Action.ORPHAN
        changes.append(Change(action, name, job.jobid, None, job, (), _drift(job)))
    fingerprint = tuple(
        sorted((j.jobid, j.name, j.schedule, j.command, j.database, j.username, j.active) for j in live)
    )
    return Plan(namespace, tuple(changes), prune, current_user, current_database, has_record, fingerprint)


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


def _context() -> Steps[dict[str, Any]]:
    return (yield _step("jobs_context"))[0]


def _read_live(namespace: str, has_record: bool) -> Steps[list[LiveJob]]:
    rows = yield _step("jobs_owned", {"prefix": namespace + NAMESPACE_SEPARATOR})
    records: dict[int, Mapping[str, Any]] = {}
    if has_record:
        for rec in (yield _step("jobs_applied_records", {"namespace": namespace})):
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


def plan_steps(specs: Iterable[JobSpec], *, namespace: str, prune: bool = False) -> Steps[Plan]:
    """The queries of a plan (2-3, run them in one transaction) and the diff of their rows with ``specs``."""
    _check_namespace(namespace)
    specs = list(specs)
    ctx = yield from _context()
    if any(s.name == RETENTION_JOB for s in specs) and not ctx["has_purge_procedure"]:
        raise SchemaOutOfDate(
            "the jobs file declares [retention], which runs pgcron.purge_history(): install the engine "
            "schema first with `pgcron schema install`"
        )
    live = yield from _read_live(namespace, bool(ctx["has_apply_record"]))
    return compute_plan(
        namespace,
        specs,
        live,
        current_database=ctx["current_database"],
        current_user=ctx["current_user"],
        prune=prune,
        has_record=bool(ctx["has_apply_record"]),
    )


def apply_steps(plan: Plan) -> Steps[ApplyResult]:
    """The statements that make the server match ``plan``; run them in one transaction.

    Raises ``PlanStale`` (and changes nothing) when the namespace's live jobs differ from what the plan
    saw, and ``PermissionDenied`` when a change needs a privilege the role lacks.
    """
    trips = 0
    ctx = yield from _context()
    has_record = bool(ctx["has_apply_record"])
    live = yield from _read_live(plan.namespace, has_record)
    trips += 2 + int(has_record)
    now = tuple(
        sorted((j.jobid, j.name, j.schedule, j.command, j.database, j.username, j.active) for j in live)
    )
    if now != plan.fingerprint:
        raise PlanStale()
    creates = plan.by_action(Action.CREATE)
    updates = plan.by_action(Action.UPDATE)
    deletes = plan.by_action(Action.DELETE)
    jobids: dict[str, int] = {c.name: c.jobid for c in plan.changes if c.jobid is not None and c.desired}
    trips += yield from _create(ctx, creates, jobids, plan)
    trips += yield from _update(ctx, updates, plan)
    if deletes:
        (yield _step("jobs_unschedule", {"jobids": [c.jobid for c in deletes]}))
        trips += 1
    if has_record:
        trips += yield from _write_record(
            ctx,
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


def _values(change: Change, plan: Plan) -> dict[str, Any]:
    assert change.desired is not None
    return _desired_values(change.desired, plan.current_database, plan.current_user)


def _create(ctx: Mapping[str, Any], creates: list[Change], jobids: dict[str, int], plan: Plan) -> Steps[int]:
    if not creates:
        return 0
    rows = [_values(c, plan) for c in creates]
    names = [c.name for c in creates]
    if ctx["can_schedule_in_database"]:
        result = yield _step(
            "jobs_create_in_database",
            {
                "names": names,
                "schedules": [r["schedule"] for r in rows],
                "commands": [r["command"] for r in rows],
                "databases": [r["database"] for r in rows],
                "usernames": [r["username"] for r in rows],
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
        result = yield _step(
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
        cols: dict[str, list[Any]] = {f: [] for f in CRON_FIELDS}
        for change in altering:
            changed = {c.field: c.after for c in change.cron_changes}
            for f in CRON_FIELDS:
                cols[f].append(changed.get(f))  # NULL: unchanged
        (
            yield _step(
                "jobs_alter",
                {
                    "jobids": [c.jobid for c in altering],
                    "schedules": cols["schedule"],
                    "commands": cols["command"],
                    "databases": cols["database"],
                    "usernames": cols["username"],
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
            f"updating {', '.join(blocked)} needs cron.alter_job (a change of database, role or active, or "
            f"another role's job), which role {ctx['current_user']!r} may not execute: ask an administrator "
            f"for GRANT EXECUTE ON FUNCTION cron.alter_job TO {ctx['current_user']}, or apply as a superuser"
        )
    rows = [_values(c, plan) for c in altering]
    (
        yield _step(
            "jobs_upsert_by_name",
            {
                "names": [c.name for c in altering],
                "schedules": [r["schedule"] for r in rows],
                "commands": [r["command"] for r in rows],
            },
        )
    )
    return 1


def _write_record(
    ctx: Mapping[str, Any],
    plan: Plan,
    jobids: Mapping[str, int],
    created: set[str],
    deleted: list[int],
) -> Steps[int]:
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
            yield _step(
                "jobs_record_upsert",
                {
                    "namespace": plan.namespace,
                    "jobids": [jobids[c.name] for c in kept],
                    "names": [c.name for c in kept],
                    "usernames": [s["username"] for s in specs],
                    "specs": [json.dumps(s, sort_keys=True) for s in specs],
                    "created": [c.name in created for c in kept],
                },
            )
        )
    (yield _step("jobs_record_forget", {"namespace": plan.namespace, "jobids": deleted}))
    trips = 2 + int(bool(kept))
    state = (yield _step("jobs_timeout_watch_state"))[0]
    trips += 1
    if state["wanted"] and state["jobid"] is None:
        schedule = "5 seconds" if _has_intervals(ctx["extversion"]) else "* * * * *"
        (yield _step("jobs_timeout_watch_install", {"schedule": schedule}))
        trips += 1
    elif not state["wanted"] and state["jobid"] is not None:
        (yield _step("jobs_unschedule", {"jobids": [state["jobid"]]}))
        trips += 1
    return trips


def _has_intervals(extversion: str | None) -> bool:
    major_minor = tuple(int(p) for p in (extversion or "0").split("-")[0].split(".")[:2])
    return major_minor >= (1, 5)


def _normalized(record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record as ``_record_spec`` would write it (JSON has no tuples or ints-vs-floats)."""
    spec = dict(record)
    if "timeout_seconds" in spec:
        spec["timeout_seconds"] = float(spec["timeout_seconds"])
    return spec


def timeout_of(value: float | None) -> timedelta | None:
    """A record's ``timeout_seconds`` as a timedelta."""
    return None if value is None else timedelta(seconds=value)


def _step(query: str, params: Mapping[str, Any] | None = None) -> Step:
    return query, dict(params or {})


def run_steps(steps: Steps[T], fetch: Callable[[str, dict[str, Any]], list[dict[str, Any]]]) -> T:
    """Drive ``plan_steps``/``apply_steps`` with a synchronous ``fetch(query_name, params) -> rows``."""
    try:
        step = next(steps)
        while True:
            step = steps.send(fetch(*step))
    except StopIteration as done:
        return cast(T, done.value)


async def run_steps_async(
    steps: Steps[T], fetch: Callable[[str, dict[str, Any]], Awaitable[list[dict[str, Any]]]]
) -> T:
    """Drive ``plan_steps``/``apply_steps`` with an async ``fetch`` (``AsyncDatabase.fetch_all``)."""
    try:
        step = next(steps)
        while True:
            step = steps.send(await fetch(*step))
    except StopIteration as done:
        return cast(T, done.value)


Fetch = Callable[[str, dict[str, Any]], list[dict[str, Any]]]
AsyncFetch = Callable[[str, dict[str, Any]], Awaitable[list[dict[str, Any]]]]


@overload
def drive(steps: Steps[T], fetch: AsyncFetch) -> Awaitable[T]: ...
@overload
def drive(steps: Steps[T], fetch: Fetch) -> T: ...
def drive(steps: Steps[T], fetch: Fetch | AsyncFetch) -> T | Awaitable[T]:
    """``run_steps`` for a synchronous ``fetch``, an awaitable ``run_steps_async`` for an async one.

    One name for both, so the async client's source and its generated sync twin read the same
    (``await drive(...)`` / ``drive(...)``).
    """
    if inspect.iscoroutinefunction(fetch):
        return run_steps_async(steps, cast(AsyncFetch, fetch))
    return run_steps(steps, cast(Fetch, fetch))


def _fetch_with(conn: psycopg.Connection[Any]) -> Callable[[str, dict[str, Any]], list[dict[str, Any]]]:
    def fetch(query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(get_query(query), params)
            return cur.fetchall() if cur.description is not None else []

    return fetch


def plan_jobs(
    conn: psycopg.Connection[Any], specs: Iterable[JobSpec], *, namespace: str, prune: bool = False
) -> Plan:
    """Read the namespace's jobs (2-3 queries, one transaction) and diff them against ``specs``."""
    with conn.transaction():
        return run_steps(plan_steps(specs, namespace=namespace, prune=prune), _fetch_with(conn))


def apply_plan(conn: psycopg.Connection[Any], plan: Plan) -> ApplyResult:
    """Make the server match ``plan`` in one transaction.

    Raises ``PlanStale`` (and changes nothing) when the namespace's live jobs differ from what the plan
    saw, and ``PermissionDenied`` when a change needs a privilege the role lacks.
    """
    with conn.transaction():
        return run_steps(apply_steps(plan), _fetch_with(conn))
