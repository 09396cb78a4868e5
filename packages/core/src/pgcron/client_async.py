"""``AsyncClient``: the typed asyncio client for pg_cron (contract: docs/adr/0003-client-api-contract.md).

This is the source of the synchronous ``Client`` (``pgcron/client.py``), generated from it by
``tools/async_to_sync.py``: edit this file, then run ``python tools/async_to_sync.py``. Only mechanical
async/sync differences belong here; logic without I/O lives in ``pgcron._client_base``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import psycopg
from psycopg_pool import AsyncConnectionPool

from pgcron import _client_base as base
from pgcron import audit as _audit
from pgcron import doctor as _doctor
from pgcron import grants as _grants
from pgcron import history as _history
from pgcron import lanes as _lanes
from pgcron import plan as _plan
from pgcron._db_async import AsyncDatabase
from pgcron._steps import drive
from pgcron.errors import JobNotFound, PgCronError, ScheduleError, UnsupportedFeature
from pgcron.models import Attempt, Capabilities, Job, JobSpec, Run, RunHandle, RunStatus
from pgcron.runfeed import FeedPage

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from pgcron.audit import AuditReport
    from pgcron.doctor import Check
    from pgcron.grants import GrantResult
    from pgcron.history import IndexStatus, PurgeResult
    from pgcron.plan import ApplyResult, Plan
    from pgcron.pushdown import AsyncPushdown

__all__ = ["AsyncClient"]

logger = logging.getLogger(__name__)

_PAGE = 500
_MINUTE, _HOUR, _DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


class AsyncClient:
    """Manage pg_cron jobs and read their runs, from asyncio code.

    Create it with ``await AsyncClient.connect(dsn | connection | pool)``; use it as an async context
    manager or call ``close()``. A connection or pool passed in stays open when the client closes.
    """

    def __init__(self, db: AsyncDatabase, target: Any) -> None:
        self._db = db
        self._target = target
        self._caps: Capabilities | None = None
        self._pushdown: AsyncPushdown | None = None

    @classmethod
    async def connect(
        cls, target: str | psycopg.AsyncConnection[Any] | AsyncConnectionPool[Any]
    ) -> AsyncClient:
        """Connect with a DSN, or wrap an open psycopg connection or psycopg_pool pool."""
        db = await AsyncDatabase.connect(target)
        return cls(db, target)

    @property
    def database(self) -> AsyncDatabase:
        """The database seam (for engine modules such as ``pgcron.pushdown``)."""
        return self._db

    async def close(self) -> None:
        """Close what this client opened (its own connection, the pushdown waiter)."""
        if self._pushdown is not None:
            await self._pushdown.aclose()
            self._pushdown = None
        await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ capabilities

    async def capabilities(self, *, refresh: bool = False) -> Capabilities:
        """What the server's pg_cron can do; detected once per client unless ``refresh``."""
        if self._caps is not None and not refresh:
            return self._caps
        facts = await self._db.fetch_one("server_facts")
        assert facts is not None
        if facts["extversion"] is None:  # raises ExtensionNotInstalled with the fix
            base.build_capabilities(facts, {}, launcher=None, trigger=None, schema_version=None)
        settings = {r["name"]: r["setting"] for r in await self._db.fetch_all("cron_settings")}
        launcher = await self._db.fetch_one("launcher")
        trigger = await self._db.fetch_one("notify_trigger")
        schema_version: int | None = None
        if facts["has_schema_version"]:
            try:
                rows = await self._db.fetch_all("applied_versions")
                schema_version = max((int(r["version"]) for r in rows), default=None)
            except PgCronError as exc:
                logger.debug("cannot read pgcron.schema_version: %s", exc)
        probes: dict[str, bool] = {}
        if not settings:
            for feature, schedule in (("intervals", "1 seconds"), ("last_day", "0 0 $ * *")):
                accepted = await self._probe_schedule(schedule)
                if accepted is not None:
                    probes[feature] = accepted
        self._caps = base.build_capabilities(
            facts, settings, launcher=launcher, trigger=trigger, schema_version=schema_version, probes=probes
        )
        return self._caps

    async def _probe_schedule(self, schedule: str) -> bool | None:
        """Does the running library accept ``schedule``? Tried in a transaction that is rolled back.

        None when the probe cannot tell (e.g. no USAGE on schema cron): the package version decides then.
        """
        try:
            async with self._db.transaction(force_rollback=True):
                await self._db.fetch_one("probe_schedule", {"schedule": schedule})
        except ScheduleError:
            return False
        except PgCronError as exc:
            logger.debug("schedule probe %r inconclusive: %s", schedule, exc)
            return None
        return True

    # ------------------------------------------------------------------ jobs

    async def jobs(self) -> list[Job]:
        """Every job this role can see (its own; all of them for a superuser)."""
        return [base.job_from_row(r) for r in await self._db.fetch_all("list_jobs")]

    async def job(self, name_or_id: str | int) -> Job:
        """One job by name (the current role's first) or by jobid. Raises ``JobNotFound``."""
        if isinstance(name_or_id, int) and not isinstance(name_or_id, bool):
            row = await self._db.fetch_one("get_job_by_id", {"jobid": name_or_id})
            if row is None:
                raise JobNotFound(
                    f"no pg_cron job with id {name_or_id} is visible to this role", jobid=name_or_id
                )
            return base.job_from_row(row)
        if not isinstance(name_or_id, str):
            raise TypeError(f"name_or_id must be a job name (str) or a jobid (int), got {name_or_id!r}")
        rows = await self._db.fetch_all("get_jobs_by_name", {"name": name_or_id})
        if not rows:
            raise JobNotFound(f"no pg_cron job named {name_or_id!r} is visible to this role", name=name_or_id)
        caps = await self.capabilities()
        if len(rows) > 1 and rows[0]["username"] != caps.current_user:
            owners = ", ".join(sorted(str(r["username"]) for r in rows))
            raise JobNotFound(
                f"job name {name_or_id!r} exists for several roles ({owners}); pass the jobid instead",
                name=name_or_id,
            )
        return base.job_from_row(rows[0])

    async def schedule(self, spec: JobSpec) -> Job:
        """Create or update the job named ``spec.name`` (same-name upsert: jobid and history are kept).

        The schedule (strict rules) and the command are checked first. ``database``/``username``/
        ``active=False`` go through ``cron.schedule_in_database``; fields pg_cron's upsert leaves alone
        (``active``; ``database`` before pg_cron 1.6.3) are then set with ``cron.alter_job``.
        """
        caps = await self.capabilities()
        base.validate_spec(spec, caps)
        params = {
            "name": spec.name,
            "schedule": spec.schedule,
            "command": spec.command,
            "database": spec.database,
            "username": spec.username,
            "active": spec.active,
        }
        in_database = spec.database is not None or spec.username is not None or not spec.active
        async with self._db.transaction():
            row = await self._db.fetch_one(
                "schedule_job_in_database" if in_database else "schedule_job", params
            )
            assert row is not None
            jobid = int(row["jobid"])
            job_row = await self._db.fetch_one("get_job_by_id", {"jobid": jobid})
            assert job_row is not None
            job = base.job_from_row(job_row)
            changes: dict[str, Any] = {}
            if job.active != spec.active:
                changes["active"] = spec.active
            if spec.database is not None and job.database != spec.database:
                changes["database"] = spec.database
            if changes:
                await self._alter(jobid, **changes)
                job_row = await self._db.fetch_one("get_job_by_id", {"jobid": jobid})
                assert job_row is not None
                job = base.job_from_row(job_row)
        logger.info("scheduled job %s (id %d)", spec.name, job.jobid)
        return job

    async def _alter(self, jobid: int, **changes: Any) -> None:
        caps = await self.capabilities()
        if not caps.has_alter_job:
            raise UnsupportedFeature(
                f"changing a job needs cron.alter_job (pg_cron 1.4+); this server has {caps.extversion}"
            )
        params = {key: changes.get(key) for key in ("schedule", "command", "database", "username", "active")}
        params["jobid"] = jobid
        await self._db.fetch_all("alter_job", params)

    async def alter(
        self,
        name_or_id: str | int,
        *,
        schedule: str | None = None,
        command: str | None = None,
        database: str | None = None,
        username: str | None = None,
        active: bool | None = None,
    ) -> Job:
        """Change some attributes of an existing job, by id (``cron.alter_job``); None leaves one as is."""
        if schedule is None and command is None and database is None and username is None and active is None:
            raise PgCronError("alter() needs at least one of schedule, command, database, username, active")
        caps = await self.capabilities()
        if schedule is not None:
            base.validate_schedule(schedule, pgcron_version=caps.library_version)
        if command is not None:
            from pgcron.commands import check_command

            check_command(command, execution_mode=caps.execution_mode)
        job = await self.job(name_or_id)
        await self._alter(
            job.jobid, schedule=schedule, command=command, database=database, username=username, active=active
        )
        return await self.job(job.jobid)

    async def unschedule(self, name_or_id: str | int) -> None:
        """Remove a job (by id, which works on every pg_cron version). Its run history stays."""
        job = await self.job(name_or_id)
        await self._db.fetch_all("unschedule_job", {"jobid": job.jobid})
        logger.info("unscheduled job %s (id %d)", job.name, job.jobid)

    # ------------------------------------------------------------------ jobs as code (pgcron.plan)

    async def plan(
        self,
        specs: Iterable[JobSpec],
        *,
        namespace: str,
        prune: bool = False,
        lane_workers: int | None = None,
    ) -> Plan:
        """Diff ``specs`` with the jobs named ``<namespace>:…`` (docs/jobs-file.md); changes nothing.

        ``lane_workers`` (a jobs file's ``[lanes] workers``, ``JobsFile.lane_workers``) also plans this
        role's lane in this database: 0 stops it, ``None`` leaves lanes alone.
        """
        async with self._db.transaction():
            steps = _plan.plan_steps(specs, namespace=namespace, prune=prune, lane_workers=lane_workers)
            return await drive(steps, self._db.fetch_all)

    async def apply(self, plan: Plan, *, lock_timeout: timedelta = _plan.DEFAULT_LOCK_TIMEOUT) -> ApplyResult:
        """Make the namespace's jobs match ``plan`` in one transaction (jobids and history kept).

        Raises (and changes nothing) ``PlanStale`` when the namespace's managed jobs differ from what the
        plan saw, ``PlanLocked`` when another session holds one of them longer than ``lock_timeout``, and
        ``PermissionDenied`` when a change needs a privilege the role lacks. A pending ``plan.lane`` is
        applied after the jobs have committed, with ``lane_start`` / ``lane_stop`` (which wait for the
        workers); ``LaneNotApplied`` says when that failed (the jobs stay applied).
        """
        async with self._db.transaction():
            result = await drive(_plan.apply_steps(plan, lock_timeout=lock_timeout), self._db.fetch_all)
        if plan.lane is None or not plan.lane.pending:
            return result
        try:
            if plan.lane.after:
                lane = await self.lane_start(plan.lane.after)
            else:
                lane = await self.lane_stop()
        except PgCronError as exc:
            raise _plan.lane_not_applied(plan.lane, result, exc) from exc
        return replace(result, lane=lane)

    # ------------------------------------------------------------------ audit, history, doctor

    async def audit(
        self,
        since: timedelta = _DAY,
        *,
        job_prefix: str | None = None,
        job: str | None = None,
        late_after: timedelta = _MINUTE,
        stuck_after: timedelta = _HOUR,
        timezone: str | None = None,
    ) -> AuditReport:
        """The runs each schedule should have produced versus the runs that happened (docs/audit.md).

        Audits every visible job, those whose name starts with ``job_prefix``, or the one named ``job``.
        ``timezone`` overrides ``cron.timezone``; fire times younger than ``late_after`` are not judged yet.
        """
        steps = _audit.audit_steps(
            since,
            job_prefix=job_prefix,
            job=job,
            late_after=late_after,
            stuck_after=stuck_after,
            timezone=timezone,
        )
        return await drive(steps, self._db.fetch_all)

    async def purge_history(
        self,
        older_than: timedelta,
        *,
        batch: int = 10_000,
        job_prefix: str | None = None,
        dry_run: bool = False,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> PurgeResult:
        """Delete runs older than ``older_than``, ``batch`` runids per committed statement (docs/history.md).

        ``job_prefix`` limits it to jobs whose name starts with it; ``on_batch(deleted, batches)`` is called
        after each batch. It runs on a connection of its own (autocommit), with ``search_path`` pinned.
        """
        _history.check_purge(older_than, batch, job_prefix)
        steps = _history.purge_steps(
            older_than, batch=batch, job_prefix=job_prefix, dry_run=dry_run, on_batch=on_batch
        )
        async with self._db.session():
            return await drive(steps, self._db.fetch_all_autocommit)

    async def index_status(self) -> IndexStatus:
        """Whether ``cron.job_run_details`` has a ``(jobid, …)`` index, and whether this role may add one."""
        async with self._db.session():
            return await drive(_history.index_status_steps(), self._db.fetch_all)

    async def ensure_index(self) -> IndexStatus:
        """Create the ``(jobid, runid)`` index CONCURRENTLY unless one exists; ``PermissionDenied`` (naming
        who can) when this role does not own the table."""
        async with self._db.session():
            return await drive(_history.ensure_index_steps(), self._db.fetch_all_autocommit)

    async def doctor(self) -> list[Check]:
        """Preflight checks of the pg_cron installation (docs/doctor.md). Never raises for a database
        error: it becomes a FAIL line."""
        try:
            async with self._db.session():
                return await drive(_doctor.doctor_steps(), self._db.fetch_all)
        except PgCronError as exc:
            return _doctor.could_not_connect(exc)

    async def grant_role(self, role: str, *, dry_run: bool = False) -> GrantResult:
        """Grant ``role`` what it needs to push down and to apply its own namespace (``pgcron schema grant``),
        as this client's role, in one transaction: ``USAGE`` on schemas ``cron`` and ``pgcron``, ``CONNECT``,
        and ``EXECUTE`` on ``cron.schedule_in_database`` / ``cron.alter_job`` where this role can pass it on.

        Every statement comes back with what the role holds afterwards (PostgreSQL only warns when a GRANT
        grants nothing); ``dry_run`` runs none of them. Raises ``UnknownRole`` when ``role`` does not exist.
        """
        async with self._db.transaction():
            steps = _grants.grant_steps(role, dry_run=dry_run)
            return await drive(steps, self._db.fetch_all, self._db.execute_composed)

    # ------------------------------------------------------------------ runs

    async def runs(
        self,
        job: str | int | Job | None = None,
        status: RunStatus | str | Iterable[RunStatus | str] | None = None,
        since: datetime | timedelta | None = None,
        limit: int = 100,
    ) -> list[Run]:
        """Recent runs, newest first, with the engine's status.

        ``job`` is a ``Job``, a jobid (also of an unscheduled job: its runs remain) or a name (resolved to a
        current job). ``status`` filters on the engine's status (one or several); ``since`` is a datetime or
        a timedelta back from now (runs not started yet always match).
        """
        if limit < 1:
            raise PgCronError(f"limit must be at least 1, got {limit}")
        caps = await self.capabilities()
        jobid: int | None = None
        if isinstance(job, Job):
            jobid = job.jobid
        elif isinstance(job, int) and not isinstance(job, bool):
            jobid = job  # run rows outlive their job: no lookup
        elif job is not None:
            jobid = (await self.job(job)).jobid
        wanted = base.coerce_statuses(status)
        since_at = base.since_value(since, datetime.now().astimezone())
        params: dict[str, Any] = {
            "jobid": jobid,
            "runid": None,
            "before_runid": None,
            "raw_statuses": base.raw_statuses_for(wanted) if wanted is not None else None,
            "since": since_at,
            "limit": limit if wanted is None else max(limit, _PAGE),
        }
        found: list[Run] = []
        while True:
            rows = await self._db.fetch_all("list_runs", params)
            for row in rows:
                run = base.run_from_row(row, execution_mode=caps.execution_mode)
                if wanted is None or run.status in wanted:
                    found.append(run)
                    if len(found) >= limit:
                        return await self._with_outcomes(found, caps)
            if len(rows) < params["limit"]:
                return await self._with_outcomes(found, caps)
            params["before_runid"] = rows[-1]["runid"]

    async def run(self, runid: int) -> Run:
        """One run by runid. Raises ``JobNotFound`` when no such run is visible."""
        caps = await self.capabilities()
        params = {
            "jobid": None,
            "runid": runid,
            "before_runid": None,
            "raw_statuses": None,
            "since": None,
            "limit": 1,
        }
        row = await self._db.fetch_one("list_runs", params)
        if row is None:
            raise JobNotFound(f"no pg_cron run with runid {runid} is visible to this role", runid=runid)
        runs = await self._with_outcomes([base.run_from_row(row, execution_mode=caps.execution_mode)], caps)
        return runs[0]

    async def runs_after(
        self,
        after_runid: int,
        *,
        jobids: Iterable[int] | None = None,
        limit: int = 500,
        also: Iterable[int] | None = None,
    ) -> FeedPage:
        """The run feed (``pgcron.runfeed``): runs with ``runid > after_runid`` (of ``jobids`` only, when
        given), oldest first, at most ``limit``, and the server's clock when they were read.

        Give each page to a ``pgcron.runfeed.RunCursor`` to handle every finished run once. ``also`` names
        older runids to read again in the same query (an observer's unfinished runs)."""
        if limit < 1:
            raise PgCronError(f"limit must be at least 1, got {limit}")
        if after_runid < 0:
            raise PgCronError(f"after_runid must be 0 or a runid, got {after_runid}")
        ids = None if jobids is None else sorted({int(j) for j in jobids})
        again = [] if also is None else sorted({int(r) for r in also})
        caps = await self.capabilities()
        rows = await self._db.fetch_all(
            "runfeed_after", {"after_runid": after_runid, "jobids": ids, "limit": limit, "also": again}
        )
        runs = [base.run_from_row(row, execution_mode=caps.execution_mode) for row in rows]
        runs = await self._with_outcomes(runs, caps)  # pushdown: "1 row", not CALL
        if rows:
            observed: datetime = rows[0]["observed_at"]
        else:
            now = await self._db.fetch_one("runfeed_start", {"before": None})
            assert now is not None
            observed = now["now"]
        logger.debug("run feed: %d runs after %d", len(runs), after_runid)
        return FeedPage(runs=tuple(runs), observed_at=observed, full=len(rows) >= limit)

    async def start_runid(self, before: datetime) -> int:
        """The highest runid that started before ``before`` (0 when none): where a feed observer begins."""
        row = await self._db.fetch_one("runfeed_start", {"before": before})
        return int(row["runid"]) if row else 0

    async def _with_outcomes(self, runs: list[Run], caps: Capabilities) -> list[Run]:
        """Pushdown wrapper runs with their statement's outcome (``1 row``) instead of ``CALL``."""
        ids = base.submission_ids(runs)
        if not ids or caps.schema_version is None:
            return runs
        try:
            rows = await self._db.fetch_all("submission_outcomes", {"ids": ids})
        except PgCronError as exc:  # e.g. no privilege on the engine schema: the wrapper's message stays
            logger.debug("cannot read pushdown outcomes: %s", exc)
            return runs
        return base.with_submission_outcomes(runs, rows)

    # ------------------------------------------------------------------ pushdown (pgcron.pushdown)

    def _pushdown_api(self) -> AsyncPushdown:
        if self._pushdown is None:
            from pgcron.pushdown import AsyncPushdown

            self._pushdown = AsyncPushdown(self._target)
        return self._pushdown

    async def submit(
        self,
        sql: str,
        *,
        database: str | None = None,
        username: str | None = None,
        key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> RunHandle:
        """Run ``sql`` inside PostgreSQL now, exactly once per ``key`` (see docs/pushdown.md)."""
        return await self._pushdown_api().submit(
            sql, database=database, username=username, key=key, timeout=timeout
        )

    async def wait(self, handle: RunHandle, timeout: float | timedelta | None = None) -> Run:
        """The terminal ``Run`` of a submission; ``RunTimeout`` only when this wait gives up."""
        return await self._pushdown_api().wait(handle, timeout)

    async def run_now(
        self,
        sql: str,
        *,
        database: str | None = None,
        username: str | None = None,
        key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> Run:
        """``submit`` + ``wait``; raises ``RunFailed`` (with ``.run``) when the run failed."""
        return await self._pushdown_api().run_now(
            sql, database=database, username=username, key=key, timeout=timeout
        )

    async def cancel(self, handle: RunHandle) -> None:
        """Stop a submission: never started, or its running statement canceled."""
        await self._pushdown_api().cancel(handle)

    async def attach(self, key: str) -> RunHandle:
        """The handle of an existing submission by key (after a restart, a retry)."""
        return await self._pushdown_api().attach(key)

    async def submit_attempt(
        self,
        sql: str,
        *,
        key: str,
        database: str | None = None,
        username: str | None = None,
        timeout: float | timedelta | None = None,
        rerun_failed: bool = True,
    ) -> Attempt:
        """Submit ``sql`` for a caller that retries: re-attach to the newest attempt of ``key`` or submit the
        next one (``<key>#2``, ``<key>#3``, ...) after a failed or canceled attempt (``rerun_failed``).

        One lookup statement however many attempts exist; ``TooManyAttempts`` past
        ``pgcron.pushdown.attempts.MAX_ATTEMPTS``. See docs/pushdown.md, "Retries"."""
        return await self._pushdown_api().submit_attempt(
            sql, key=key, database=database, username=username, timeout=timeout, rerun_failed=rerun_failed
        )

    async def latest_attempt(self, key: str) -> Attempt | None:
        """The newest attempt of ``key`` among this role's submissions, or None when there is none."""
        return await self._pushdown_api().latest_attempt(key)

    # ------------------------------------------------------------------ lanes (pgcron.lanes)

    async def lane_start(self, workers: int = 1, *, wait: float | None = 15.0) -> _lanes.LaneStatus:
        """Start (or resize) this role's lane in pg_cron's database: ``workers`` long-running jobs
        ``pgcron:lane:<n>`` that run this role's submissions at once (docs/adr/0006-lanes.md). Each holds one
        of ``cron.max_running_jobs``' slots while it runs. Waits up to ``wait`` seconds for them to report
        (pg_cron starts a new job one to two seconds later); ``None`` returns at once."""
        count = _lanes.check_workers(workers)
        await self._db.fetch_one("lane_start", {"workers": count})
        started = time.monotonic()
        while True:
            status = await self.lane_status()
            if wait is None or status.live >= count:
                return status
            if time.monotonic() - started > wait:
                raise PgCronError(
                    f"the lane asked for {count} worker(s), {status.live} reported within {wait:g} s. "
                    "Check `pgcron lane status`, the lane jobs' runs and that cron.max_running_jobs has free "
                    "slots."
                )
            await self._db.fetch_one("lane_pause", {"seconds": 0.1})

    async def lane_stop(self, *, wait: float | None = 30.0) -> _lanes.LaneStatus:
        """Stop this role's lane: workers end after the submission they run (idle ones within a second) and
        their jobs are removed once they have. Waits up to ``wait`` seconds; ``None`` only asks."""
        started = time.monotonic()
        while True:
            row = await self._db.fetch_one("lane_stop")
            running = int(row["running"]) if row is not None else 0
            if running == 0 or wait is None:
                return await self.lane_status()
            if time.monotonic() - started > wait:
                raise PgCronError(
                    f"{running} lane worker(s) still run after {wait:g} s (a long statement?); they stop "
                    "when it ends. Call lane_stop() again to remove their jobs then."
                )
            await self._db.fetch_one("lane_pause", {"seconds": 0.2})

    async def lane_status(self) -> _lanes.LaneStatus:
        """This role's lane in pg_cron's database: workers asked for, and what each reports."""
        return _lanes.status_from_rows(await self._db.fetch_all("lane_status"))
