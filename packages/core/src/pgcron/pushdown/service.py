"""Pushdown runs for one client: submit, wait, run_now, cancel, attach, and the attempt chain of retries
(async source; ``service_sync.py``, the ``Pushdown`` of ``Client``, is generated from it by
tools/async_to_sync.py).

Exactly once per key (docs/adr/0002-pushdown-exactly-once.md): ``pgcron.submit()`` creates the submission row
and its temporary pg_cron job in one transaction, and the job's procedure claims the row and commits the claim
before it runs the SQL, so a repeat firing, a re-submission or a crashed client can never run it twice.
All waits in a process for one target share one waiter hub (one LISTEN connection, one query connection, the
latter also serving every client of that target: ``pgcron._shared_async``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.sql import Identifier

from pgcron._shared_async import AsyncSharedTarget, acquire_async_target
from pgcron.errors import (
    ExtensionNotInstalled,
    PermissionDenied,
    PgCronError,
    RunFailed,
    RunTimeout,
    SchemaOutOfDate,
    WrongDatabase,
)
from pgcron.models import Attempt, Run, RunHandle, RunStatus
from pgcron.pushdown import _checks, attempts
from pgcron.pushdown._state import SubmissionState, to_handle, to_run
from pgcron.pushdown.connect import conninfo_of
from pgcron.pushdown.errors import SubmissionNotFound, UnknownDatabase, translate
from pgcron.pushdown.hub import AsyncWaiterHub
from pgcron.sql import get_query

__all__ = ["AsyncPushdown", "Timeout", "as_seconds"]

log = logging.getLogger(__name__)

Timeout = float | int | timedelta | None
#: The engine refuses longer timeouts (migration 0004); a wait may not be longer either.
MAX_TIMEOUT_S = 31 * 86400.0
#: A lane submission not claimed this long may get its own job (pgcron.config lane_fallback_after, 0006);
#: the waiter asks the engine then and every LANE_RECHECK_S after, until the lane took it or it fell back.
LANE_FALLBACK_S = 2.0
LANE_RECHECK_S = 1.0


def as_seconds(value: Timeout, *, what: str) -> float | None:
    """Seconds from a float or timedelta; a clear error for anything else or a non-positive value."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value) if abs(value) < 1e300 else math.inf
    else:
        raise PgCronError(f"{what} must be seconds (a number) or a datetime.timedelta, got {value!r}")
    if not math.isfinite(seconds) or seconds <= 0 or seconds > MAX_TIMEOUT_S:
        raise PgCronError(
            f"{what} must be a positive number of seconds up to 31 days ({MAX_TIMEOUT_S:g}), got {value!r}"
        )
    return seconds


class AsyncPushdown:
    """The pushdown API of one client. Opens no connection of its own: it uses the process's shared target
    (a DSN, or the server behind a connection or pool), however many runs it waits for."""

    def __init__(self, target: Any, *, listen: bool | None = None) -> None:
        self._conninfo = conninfo_of(target)
        self._listen = listen
        self._shared: AsyncSharedTarget | None = None
        self._hub: AsyncWaiterHub | None = None
        self._hub_lock = asyncio.Lock()

    async def _get_hub(self) -> AsyncWaiterHub:
        async with self._hub_lock:
            if self._hub is None:
                shared = await acquire_async_target(self._conninfo)
                try:
                    hub = shared.hubs.get(self._listen)
                    if hub is None:
                        hub = AsyncWaiterHub(shared, listen=False)
                        pre = await self._preflight(hub, None)
                        listen = pre["has_notify_trigger"] if self._listen is None else self._listen
                        hub._listen_wanted = bool(listen)  # the trigger decides: no trigger, no LISTEN
                        hub = shared.hubs.setdefault(self._listen, hub)
                except BaseException:
                    await shared.release()
                    raise
                self._shared, self._hub = shared, hub
            return self._hub

    @property
    def hub(self) -> AsyncWaiterHub | None:
        """The waiter hub, once the first call has created it (for diagnostics and benchmarks)."""
        return self._hub

    async def _preflight(self, hub: AsyncWaiterHub, database: str | None) -> dict[str, Any]:
        try:
            rows = await hub.execute(get_query("pushdown_preflight"), {"database": database})
        except psycopg.Error as exc:
            raise translate(exc) from exc
        pre = rows[0]
        if not pre["has_pg_cron"]:
            launcher_db = pre["launcher_database"]
            if launcher_db and launcher_db != pre["current_database"]:
                raise WrongDatabase(
                    f"pg_cron runs in database {launcher_db!r}, but this client is connected to "
                    f"{pre['current_database']!r}. Connect to {launcher_db!r} (cron.database_name); "
                    "choose the database the SQL runs in with submit(database=...)."
                )
            raise ExtensionNotInstalled(
                f"pg_cron is not installed in database {pre['current_database']!r}. If pg_cron runs in "
                "another database of this server, connect to that one (cron.database_name); otherwise add "
                "pg_cron to shared_preload_libraries, restart, and CREATE EXTENSION pg_cron there."
            )
        if not pre["cron_usage"]:
            raise PermissionDenied(
                f"role {pre['current_user']!r} has no USAGE on schema cron. Ask an administrator for "
                f"GRANT USAGE ON SCHEMA cron TO {pre['current_user']}."
            )
        if not pre["has_engine"] or not pre["has_trust_boundary"]:
            raise SchemaOutOfDate(
                "the pgcron engine schema in this database is missing or older than migration 0004 (the "
                "trust boundary). Run `pgcron schema install` as the role that installed it."
            )
        if not pre["database_exists"]:
            raise UnknownDatabase(
                f"database {database!r} does not exist on this server. Pass an existing database to "
                "submit(database=...), or omit it to run in pg_cron's database."
            )
        if database not in (None, pre["current_database"]) and not pre["may_schedule_in_database"]:
            user = pre["current_user"]
            grantee = Identifier(user).as_string(None)
            raise PermissionDenied(
                f"role {user!r} may not schedule jobs in another database ({database!r}): that needs EXECUTE "
                "on cron.schedule_in_database, which this server does not grant it. Ask an administrator "
                "who holds it for GRANT EXECUTE ON FUNCTION cron.schedule_in_database(text, text, text, "
                f"text, text, boolean) TO {grantee}; (`pgcron schema grant {user}` runs it), or omit "
                "database= to run in pg_cron's database. Some providers (Neon) grant it to no customer role."
            )
        return pre

    # -- API ------------------------------------------------------------------------------------------------
    async def submit(
        self,
        sql: str,
        *,
        database: str | None = None,
        username: str | None = None,
        key: str | None = None,
        timeout: Timeout = None,
    ) -> RunHandle:
        """Submit ``sql`` to run once inside PostgreSQL; the same ``key`` again re-attaches, never re-runs."""
        handle, _ = await self._submit(sql, database=database, username=username, key=key, timeout=timeout)
        return handle

    async def _submit(
        self,
        sql: str,
        *,
        database: str | None,
        username: str | None,
        key: str | None,
        timeout: Timeout,
    ) -> tuple[RunHandle, bool]:
        """``submit``, and whether the engine re-attached to an existing submission under ``key``."""
        if not isinstance(sql, str):
            raise PgCronError(f"sql must be a string, got {type(sql).__name__}")
        if key is not None and (not isinstance(key, str) or not key.strip()):
            raise PgCronError(f"key must be a non-empty string, got {key!r}")
        if key is not None and len(key) > attempts.MAX_KEY_LENGTH:  # the engine refuses them too
            raise PgCronError(
                f"key is {len(key)} characters long; use at most {attempts.MAX_KEY_LENGTH} "
                "(e.g. a hash of it)"
            )
        limit = as_seconds(timeout, what="timeout")
        top_level = _checks.analyze(sql)
        hub = await self._get_hub()
        await self._preflight(hub, database)
        params = {
            "command": sql,
            "key": key,
            "database": database,
            "username": username,
            "timeout": timedelta(seconds=limit) if limit is not None else None,
            "top_level": top_level,
        }
        try:
            rows = await hub.execute(get_query("pushdown_submit"), params)
        except psycopg.Error as exc:
            raise translate(exc) from exc
        row = rows[0]
        log.info(
            "pushdown submission %s (job %s)%s",
            row["submission_id"],
            row["jobid"],
            " re-attached" if row["reattached"] else "",
        )
        return await self._handle(hub, row["submission_id"]), bool(row["reattached"])

    async def latest_attempt(self, key: str) -> Attempt | None:
        """The newest attempt of ``key`` among this role's submissions (``pgcron.pushdown.attempts``), or None
        when nothing was submitted under it: one statement however many attempts there are."""
        attempts.check_base_key(key)
        hub = await self._get_hub()
        params = {"key": key, "max_attempts": attempts.MAX_ATTEMPTS}
        try:
            rows = await hub.execute(get_query("pushdown_latest_attempt"), params)
        except psycopg.Error as exc:
            raise translate(exc) from exc
        if not rows:
            return None
        handle = await self._handle(hub, rows[0]["id"])
        return Attempt(handle=handle, number=int(rows[0]["attempt"]), reattached=True)

    async def submit_attempt(
        self,
        sql: str,
        *,
        key: str,
        database: str | None = None,
        username: str | None = None,
        timeout: Timeout = None,
        rerun_failed: bool = True,
    ) -> Attempt:
        """Re-attach to the newest attempt of ``key`` or submit the next one (the table in
        ``pgcron.pushdown.attempts``); ``TooManyAttempts`` past ``MAX_ATTEMPTS``."""
        latest = await self.latest_attempt(key)
        newest = 0 if latest is None else latest.number
        status = None if latest is None else latest.handle.status
        number = attempts.next_attempt(key, newest, status, rerun_failed=rerun_failed)
        if number is None:
            assert latest is not None
            log.info("pushdown %s: re-attached to attempt %d (%s)", key, newest, latest.handle.status.value)
            return latest
        if latest is not None:
            log.info(
                "pushdown %s: attempt %d %s; submitting attempt %d",
                key,
                newest,
                latest.handle.status.value,
                number,
            )
        handle, reattached = await self._submit(
            sql,
            database=database,
            username=username,
            key=attempts.attempt_key(key, number),
            timeout=timeout,
        )
        return Attempt(handle=handle, number=number, reattached=reattached)

    async def _handle(self, hub: AsyncWaiterHub, submission_id: int) -> RunHandle:
        state = await self._state(hub, submission_id)
        return to_handle(state)

    async def _state(self, hub: AsyncWaiterHub, submission_id: int) -> SubmissionState:
        try:
            states = await hub.fetch([submission_id])
        except psycopg.Error as exc:
            raise translate(exc) from exc
        if submission_id not in states:
            raise SubmissionNotFound(f"no pushdown submission {submission_id} is visible to this role")
        return states[submission_id]

    async def status(self, handle: RunHandle) -> RunHandle:
        """A fresh snapshot of the handle (one query)."""
        hub = await self._get_hub()
        return await self._handle(hub, handle.submission_id)

    async def wait(self, handle: RunHandle, timeout: Timeout = None) -> Run:
        """The terminal ``Run`` of this submission, whatever its outcome; ``RunTimeout`` if this wait gives up
        first (the run itself goes on: its own ``timeout`` is enforced in the database)."""
        limit = as_seconds(timeout, what="wait timeout")
        hub = await self._get_hub()
        deadline = None if limit is None else time.monotonic() + limit
        jobid = handle.jobid
        # A lane submission the lane does not take gets its own job (docs/adr/0006-lanes.md): the waiter asks.
        lane_pending = handle.via == "lane" and handle.start is None and not handle.status.is_terminal
        slice_s = LANE_FALLBACK_S
        while True:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            wait_s = (
                remaining if not lane_pending else slice_s if remaining is None else min(remaining, slice_s)
            )
            try:
                state = await hub.wait(handle.submission_id, jobid, wait_s)
                return to_run(state)
            except TimeoutError:
                if not lane_pending or (deadline is not None and time.monotonic() >= deadline):
                    raise RunTimeout(
                        f"stopped waiting for pushdown submission {handle.key!r} after {limit:g} s; it goes "
                        "on in the database. Wait again, attach(key) later, or cancel(handle).",
                        key=handle.key,
                    ) from None
            except LookupError as exc:
                raise SubmissionNotFound(str(exc)) from None
            state = await self._lane_fallback(hub, handle.submission_id)
            jobid = state.jobid
            lane_pending = state.via == "lane" and state.claimed_at is None and state.outcome is None
            slice_s = LANE_RECHECK_S

    async def _lane_fallback(self, hub: AsyncWaiterHub, submission_id: int) -> SubmissionState:
        """Give a lane submission its own job if its lane made no progress (atomic in the engine: never
        both); the submission's state afterwards."""
        try:
            rows = await hub.execute(get_query("pushdown_lane_fallback"), {"id": submission_id})
        except psycopg.Error as exc:
            raise translate(exc) from exc
        if rows and rows[0]["fell_back"]:
            log.info(
                "pushdown submission %s: its lane did not take it; it runs as its own job", submission_id
            )
        return await self._state(hub, submission_id)

    async def run_now(
        self,
        sql: str,
        *,
        database: str | None = None,
        username: str | None = None,
        key: str | None = None,
        timeout: Timeout = None,
    ) -> Run:
        """Submit and wait; ``RunFailed`` (with ``.run``) unless the run succeeded."""
        handle = await self.submit(sql, database=database, username=username, key=key, timeout=timeout)
        run = await self.wait(handle)
        if run.status is not RunStatus.SUCCEEDED:
            raise RunFailed(
                f"pushdown run {handle.key!r} {run.status.value}: {run.message or 'no message'}",
                run=run,
                key=handle.key,
            )
        return run

    async def cancel(self, handle: RunHandle) -> None:
        """Stop the run: it never starts if it has not, its statement is canceled if it runs."""
        hub = await self._get_hub()
        try:
            rows = await hub.execute(get_query("pushdown_cancel"), {"id": handle.submission_id})
        except psycopg.Error as exc:
            raise translate(exc) from exc
        log.info("pushdown submission %s cancel: %s", handle.submission_id, rows[0]["result"])

    async def attach(self, key: str) -> RunHandle:
        """The handle of an existing submission by its key."""
        hub = await self._get_hub()
        try:
            rows = await hub.execute(get_query("pushdown_attach"), {"key": key})
        except psycopg.Error as exc:
            raise translate(exc) from exc
        if not rows:
            raise SubmissionNotFound(f"no pushdown submission with key {key!r} is visible to this role")
        return await self._handle(hub, rows[0]["id"])

    async def aclose(self) -> None:
        """Let go of the shared target (the last user in the process closes its connections)."""
        shared, self._shared, self._hub = self._shared, None, None
        if shared is not None:
            await shared.release()
