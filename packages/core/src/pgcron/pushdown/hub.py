"""The waiter hubs: every wait in a process for one target shares one LISTEN and one query connection.

There is one hub per process, target and event loop (it lives on ``pgcron._shared_async.AsyncSharedTarget``);
its state queries use the target's shared statement connection, so a process holds two server connections per
target however many clients, triggers or waits it has.

Every wait registers a submission id. One loop answers all of them with a single ``pushdown_state`` query per
wake-up. It wakes on a NOTIFY from the engine trigger on ``cron.job_run_details`` (the role's own channel,
``pgcron.run_channel()``), on a new registration, or on a timer: a slow safety poll when the trigger is
installed (a notification can be missed while the listener reconnects), an exponential backoff poll when it is
not. Connection errors never fail a waiter by themselves: both connections are re-opened with backoff, and the
run's row — the record of truth — says how the run ended (``server restarted`` after a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from pgcron import runstate
from pgcron._shared import SharedTarget
from pgcron._shared_async import AsyncSharedTarget
from pgcron.errors import PgCronError
from pgcron.pushdown._state import SubmissionState, is_queued, verdict
from pgcron.sql import get_query

__all__ = ["AsyncWaiterHub", "ConnectFactory", "WaiterHub"]

log = logging.getLogger(__name__)

ConnectFactory = Callable[[], Awaitable[psycopg.AsyncConnection[Any]]]

CHANNEL = "pgcron_run"
SAFETY_POLL_S = 5.0  # with the trigger: only to cover notifications missed during a reconnect
POLL_MIN_S = 0.05  # without the trigger: backoff from 50 ms ...
POLL_MAX_S = 1.0  # ... to one query per second for all waiters together
RECONNECT_MAX_S = 5.0
# While a wait is queued for a pg_cron slot (migration 0007): how often to try to admit it. A run of this role
# that ends wakes the hub at once; a slot freed by another role's run is only seen by this poll.
ADMIT_POLL_S = 0.25


class AsyncWaiterHub:
    """Shared waiting for pushdown submissions (one per process, target and event loop)."""

    def __init__(self, shared: AsyncSharedTarget, *, listen: bool = True) -> None:
        self._shared = shared
        self._listen_wanted = listen
        self._waiters: dict[int, list[asyncio.Future[SubmissionState]]] = {}
        self._jobids: dict[int, int] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._listen_task: asyncio.Task[None] | None = None
        self._listening = False
        self._poll_s = POLL_MIN_S
        self._closed = False
        self._full = True  # the next pass looks at every wait
        self._last_full = 0.0  # monotonic time of the last pass over every wait
        self._dirty: set[int] = set()  # waits a notification or a registration named since the last pass
        self._settling: set[int] = set()  # waits whose run row ended while its backend still exits
        self._queued: set[int] = set()  # waits whose submission waits for a pg_cron slot (admitted by us)
        # Counters for the benchmark and for tests ("one query for all waiters").
        self.state_queries = 0
        self.notifications = 0

    # -- public -------------------------------------------------------------------------------------------
    @property
    def listening(self) -> bool:
        """True while the LISTEN connection is up."""
        return self._listening

    @property
    def connections(self) -> int:
        """Server connections behind this hub right now: the target's shared one and the LISTEN one."""
        return self._shared.connections

    @property
    def listen_connections(self) -> int:
        return int(self._listening)

    @property
    def waits(self) -> int:
        """Waits registered right now (all clients of this process and target)."""
        return sum(len(f) for f in self._waiters.values())

    async def fetch(self, ids: Iterable[int]) -> dict[int, SubmissionState]:
        """The state of these submissions, in one query."""
        id_list = sorted(set(ids))
        if not id_list:
            return {}
        rows = await self.execute(get_query("pushdown_state"), {"ids": id_list})
        self.state_queries += 1
        return {row["id"]: SubmissionState.from_row(row) for row in rows}

    async def execute(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run one engine query on the target's shared connection (re-opened after a connection error)."""
        async with self._shared.lock:
            conn = await self._shared.connection()
            try:
                async with conn.cursor(row_factory=dict_row) as cur:
                    await cur.execute(query, params)
                    return await cur.fetchall() if cur.description else []
            except psycopg.OperationalError:
                await self._shared.drop_connection()
                raise

    async def wait(self, submission_id: int, jobid: int | None, timeout: float | None) -> SubmissionState:
        """Wait until the submission's run is over; ``TimeoutError`` when ``timeout`` passes first."""
        if self._closed:
            raise RuntimeError("the waiter hub is closed")
        fut: asyncio.Future[SubmissionState] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(submission_id, []).append(fut)
        if jobid is not None:
            self._jobids[jobid] = submission_id
        self._dirty.add(submission_id)
        self._poll_s = POLL_MIN_S
        self._ensure_tasks()
        self._wake.set()
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        finally:
            self._forget(submission_id, fut)

    async def aclose(self) -> None:
        """Stop the loops and close both connections; pending waits get ``RuntimeError``."""
        self._closed = True
        for task in (self._loop_task, self._listen_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for futs in self._waiters.values():
            for fut in futs:
                if not fut.done():
                    fut.set_exception(RuntimeError("the client was closed while waiting"))
        self._waiters.clear()

    # -- internals ------------------------------------------------------------------------------------------
    def _forget(self, submission_id: int, fut: asyncio.Future[SubmissionState]) -> None:
        futs = self._waiters.get(submission_id)
        if futs is None:
            return
        with contextlib.suppress(ValueError):
            futs.remove(fut)
        if not futs:
            del self._waiters[submission_id]
            for jobid, sid in list(self._jobids.items()):
                if sid == submission_id:
                    del self._jobids[jobid]

    def _ensure_tasks(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._run(), name="pgcron-pushdown-waiters")
        if self._listen_wanted and (self._listen_task is None or self._listen_task.done()):
            self._listen_task = asyncio.create_task(self._listen(), name="pgcron-pushdown-listen")

    async def _run(self) -> None:
        # Which waits to look at: a NOTIFY names the job (or lane submission) that changed, so a wake-up
        # queries only those, the new waits and the ones about to settle; the safety poll, a reconnect or a
        # payload that names nothing known look at every wait. With 1,000 waits, one run ending costs one row.
        reconnect_s = 0.1
        while self._waiters and not self._closed:
            now = time.monotonic()
            if self._full or not self._listening or now - self._last_full >= SAFETY_POLL_S:
                ids = list(self._waiters)
                self._full = False
                self._last_full = now
            else:
                ids = [sid for sid in self._waiters if sid in self._dirty or sid in self._settling]
            self._dirty.clear()
            try:
                if self._queued:
                    await self._admit()
                if ids:
                    self._settling, queued = await self._check(ids)
                    self._queued = (self._queued - set(ids)) | queued
                reconnect_s = 0.1
            except (psycopg.Error, PgCronError) as exc:  # PgCronError: ConnectionFailed while reconnecting
                log.warning("pushdown waiter query failed (%s); retrying in %.1f s", exc, reconnect_s)
                self._full = True
                await asyncio.sleep(reconnect_s)
                reconnect_s = min(reconnect_s * 2, RECONNECT_MAX_S)
                continue
            if not self._waiters:
                break
            if self._settling:  # the row says it ended, its backend is still exiting: no NOTIFY will follow
                delay = POLL_MIN_S
            elif self._listening:
                delay = SAFETY_POLL_S
            else:
                delay = self._poll_s
                self._poll_s = min(self._poll_s * 1.5, POLL_MAX_S)
            if self._queued:
                delay = min(delay, ADMIT_POLL_S)
            # a timeout here is the safety poll: every SAFETY_POLL_S, settling or not (the loop's top)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()

    async def _admit(self) -> None:
        """Give this role's queued submissions their jobs while slots allow (one statement); the waits of
        those admitted here hear their jobs' notices from now on."""
        for row in await self.execute(get_query("pushdown_admit"), {}):
            sid = row["submission_id"]
            self._queued.discard(sid)
            if sid in self._waiters:
                self._jobids[row["jobid"]] = sid
        self._queued &= set(self._waiters)

    async def _check(self, ids: list[int]) -> tuple[set[int], set[int]]:
        """Resolve the finished waits among ``ids`` with one query; returns the ids about to finish and the
        ids still queued for a slot."""
        states = await self.fetch(ids)
        settling: set[int] = set()
        queued: set[int] = set()
        for sid, state in states.items():
            if state.jobid is not None:
                self._jobids[state.jobid] = sid  # admitted since the wait began: its job's notices count
            if is_queued(state):
                queued.add(sid)
            status, _ = verdict(state)
            if runstate.is_settling(status, state.raw_status):
                settling.add(sid)
            if status.is_terminal:
                for fut in self._waiters.get(sid, []):
                    if not fut.done():
                        fut.set_result(state)
        for sid in ids:
            if sid not in states:  # deleted, or hidden from this role by row-level security
                for fut in self._waiters.get(sid, []):
                    if not fut.done():
                        fut.set_exception(LookupError(f"submission {sid} is not visible any more"))
        return settling, queued

    async def _listen(self) -> None:
        backoff = 0.1
        while not self._closed:
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                conn = await self._shared.connect()
                # One unguessable channel per role (migration 0004): nobody hears another role's runs.
                cur = await conn.execute(get_query("pushdown_run_channel"))
                row = await cur.fetchone()
                channel = row[0] if row else CHANNEL  # unreachable: the preflight requires 0004
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                self._listening = True
                backoff = 0.1
                self._full = True  # anything that ended while we were not listening
                self._wake.set()
                async for note in conn.notifies():
                    self.notifications += 1
                    if self._note(note.payload):
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, PgCronError) as exc:
                log.info("pushdown listener lost (%s); reconnecting in %.1f s", exc, backoff)
            finally:
                self._listening = False
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            if self._closed:
                break
            self._wake.set()  # fall back to polling at once
            self._poll_s = POLL_MIN_S
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RECONNECT_MAX_S)

    def _note(self, payload: str) -> bool:
        """Mark the waits a notification is about; True when it may end one of them."""
        if not _relevant(payload, self._jobids):
            if self._queued and _relevant(payload, {}):
                # The end of a job we do not know: a queued wait may have been admitted by another session of
                # this role (its submit admits the oldest first), so look at the queued ones again.
                self._dirty |= self._queued
                return True
            return False
        target = _target_of(payload, self._jobids)
        if target is None:
            self._full = True
        else:
            self._dirty.add(target)
        return True


class WaiterHub:
    """The blocking twin of ``AsyncWaiterHub`` (one per process and target), for ``Client``.

    No thread is started: the threads that wait take turns as the *leader*, which runs the one state query for
    every registered wait and then blocks on the LISTEN connection (or sleeps, when polling) until something
    changes; the others wait on a condition variable and are woken when the leader publishes their result or
    steps down. Each wait checks its own submission once when it starts, so a new wait never depends on a
    leader that is blocked on the listener.
    """

    def __init__(self, shared: SharedTarget, *, listen: bool = True) -> None:
        self._shared = shared
        self._listen_wanted = listen
        self._cond = threading.Condition()
        self._waiting: dict[int, int] = {}  # submission id -> waits registered for it
        self._jobids: dict[int, int] = {}
        self._results: dict[int, SubmissionState | BaseException] = {}
        self._leader = False
        self._listen_conn: psycopg.Connection[Any] | None = None
        self._listen_backoff = 0.0
        self._poll_s = POLL_MIN_S
        self._queued = False  # some wait's submission waits for a pg_cron slot: the leader admits it
        self._closed = False
        self.state_queries = 0
        self.notifications = 0

    @property
    def listening(self) -> bool:
        conn = self._listen_conn
        return conn is not None and not conn.closed

    @property
    def connections(self) -> int:
        return self._shared.connections

    @property
    def listen_connections(self) -> int:
        return int(self.listening)

    @property
    def waits(self) -> int:
        with self._cond:
            return sum(self._waiting.values())

    def fetch(self, ids: Iterable[int]) -> dict[int, SubmissionState]:
        """The state of these submissions, in one query."""
        id_list = sorted(set(ids))
        if not id_list:
            return {}
        rows = self.execute(get_query("pushdown_state"), {"ids": id_list})
        self.state_queries += 1
        return {row["id"]: SubmissionState.from_row(row) for row in rows}

    def execute(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run one engine query on the target's shared connection (re-opened after a connection error)."""
        with self._shared.lock:
            conn = self._shared.connection()
            try:
                with conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(query, params)
                    return cur.fetchall() if cur.description else []
            except psycopg.OperationalError:
                self._shared.drop_connection()
                raise

    def wait(self, submission_id: int, jobid: int | None, timeout: float | None) -> SubmissionState:
        """Wait until the submission's run is over; ``TimeoutError`` when ``timeout`` passes first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._closed:
                raise RuntimeError("the waiter hub is closed")
            self._waiting[submission_id] = self._waiting.get(submission_id, 0) + 1
            if jobid is not None:
                self._jobids[jobid] = submission_id
            self._poll_s = POLL_MIN_S
        try:
            if self._check([submission_id])[1]:
                self._queued = True  # the leader admits it (or this wait, when it leads)
            while True:
                with self._cond:
                    result = self._results.get(submission_id)
                    if isinstance(result, BaseException):
                        raise result
                    if result is not None:
                        return result
                    if self._closed:
                        raise RuntimeError("the client was closed while waiting")
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError
                    if self._leader:
                        # The leader admits queued submissions at ADMIT_POLL_S (one statement for all waits);
                        # followers only wait for it to publish.
                        self._cond.wait(_slice(remaining, SAFETY_POLL_S))
                        continue
                    self._leader = True
                try:
                    self._lead(remaining)
                finally:
                    with self._cond:
                        self._leader = False
                        self._cond.notify_all()
        finally:
            with self._cond:
                left = self._waiting.get(submission_id, 1) - 1
                if left > 0:
                    self._waiting[submission_id] = left
                else:
                    self._waiting.pop(submission_id, None)
                    self._results.pop(submission_id, None)
                    for known_jobid, sid in list(self._jobids.items()):
                        if sid == submission_id:
                            del self._jobids[known_jobid]

    def close(self) -> None:
        """Stop waiting: pending waits get ``RuntimeError``; the LISTEN connection is closed."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._drop_listener()

    # -- internals ------------------------------------------------------------------------------------------
    def _check(self, ids: list[int]) -> tuple[bool, bool]:
        """One state query for ``ids``; publishes finished runs. Returns whether some run is about to finish
        and whether some submission is still queued for a pg_cron slot."""
        states = self.fetch(ids)
        settling = False
        queued = False
        with self._cond:
            for sid in ids:
                state = states.get(sid)
                if state is None:  # deleted, or hidden from this role by row-level security
                    self._results[sid] = LookupError(f"submission {sid} is not visible any more")
                    continue
                if state.jobid is not None:
                    self._jobids[state.jobid] = sid  # admitted since the wait began: its job's notices count
                queued = queued or is_queued(state)
                status, _ = verdict(state)
                if runstate.is_settling(status, state.raw_status):
                    settling = True
                if status.is_terminal:
                    self._results[sid] = state
            self._cond.notify_all()
        return settling, queued

    def _lead(self, remaining: float | None) -> None:
        with self._cond:
            ids = [sid for sid in self._waiting if sid not in self._results]
        if not ids:
            return
        try:
            if self._queued:
                self.execute(get_query("pushdown_admit"), {})
            settling, self._queued = self._check(ids)
        except (psycopg.Error, PgCronError) as exc:
            log.warning("pushdown waiter query failed (%s); retrying", exc)
            time.sleep(min(RECONNECT_MAX_S, 0.5 if remaining is None else max(remaining, 0.0), 0.5))
            return
        with self._cond:
            if any(sid in self._results for sid in ids):
                return  # a wait is resolved (a lane run ends in milliseconds): hand back before blocking
        was_listening = self.listening
        if settling:
            delay = POLL_MIN_S
        elif self._ensure_listener():
            if not was_listening:
                # The listener is new: a run that ended between the check above and its LISTEN sent its
                # notice to nobody (a lane run takes milliseconds). Check once more before blocking on it.
                return
            delay = SAFETY_POLL_S
        else:
            delay = self._poll_s
            self._poll_s = min(self._poll_s * 1.5, POLL_MAX_S)
        if self._queued:
            delay = min(delay, ADMIT_POLL_S)
        if remaining is not None:
            delay = min(delay, max(remaining, 0.0))
        conn = self._listen_conn
        if conn is None or settling:
            time.sleep(delay)
            return
        try:
            for note in conn.notifies(timeout=delay):
                self.notifications += 1
                if _relevant(note.payload, self._jobids):
                    break
        except psycopg.Error as exc:
            log.info("pushdown listener lost (%s); polling until it is back", exc)
            self._drop_listener()

    def _ensure_listener(self) -> bool:
        if not self._listen_wanted:
            return False
        if self.listening:
            return True
        if self._listen_backoff and time.monotonic() < self._listen_backoff:
            return False
        try:
            conn = self._shared.connect()
            row = conn.execute(get_query("pushdown_run_channel")).fetchone()
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(row[0] if row else CHANNEL)))
        except (psycopg.Error, PgCronError) as exc:
            log.info("pushdown listener unavailable (%s); polling", exc)
            self._listen_backoff = time.monotonic() + RECONNECT_MAX_S
            return False
        self._listen_conn = conn
        self._listen_backoff = 0.0
        return True

    def _drop_listener(self) -> None:
        conn, self._listen_conn = self._listen_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def _slice(remaining: float | None, cap: float) -> float:
    return cap if remaining is None else min(remaining, cap)


def _target_of(payload: str, jobids: dict[int, int]) -> int | None:
    """The submission a notification is about: a lane run names it, a job's run names the job."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    sid = data.get("submission_id")
    if isinstance(sid, int):
        return sid
    jobid = data.get("jobid")
    return jobids.get(jobid) if isinstance(jobid, int) else None


def _relevant(payload: str, jobids: dict[int, int]) -> bool:
    """False when the payload names a job nobody here waits for, or a status that ends nothing (libpq mode
    reports starting → connecting → sending → running before the end)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return True
    if not isinstance(data, dict):
        return True
    status = data.get("status")
    if runstate.ends_nothing(status):
        return False
    jobid = data.get("jobid")
    if not isinstance(jobid, int):
        return True
    return jobid in jobids or not jobids
