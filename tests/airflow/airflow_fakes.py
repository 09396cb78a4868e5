"""An in-memory stand-in for the core's pushdown and run API, for unit tests of the provider only.

It keeps submissions by key and ends each one with the outcome the test scripts (``outcomes[sql]``), so
the tests can count how many times a statement was really submitted.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from pgcron import Attempt, Run, RunHandle, RunStatus, RunTimeout
from pgcron.pushdown import KeyConflict, SubmissionNotFound
from pgcron.pushdown.attempts import attempt_key, next_attempt
from pgcron.runfeed import FeedPage

T0 = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)


class FakeClient:
    def __init__(self) -> None:
        self.handles: dict[str, RunHandle] = {}
        self.commands: dict[str, str] = {}
        self.outcomes: dict[str, tuple[RunStatus, str]] = {}
        self.submitted: list[str] = []
        self.canceled: list[str] = []
        self.job_runs: list[Run] = []  # for runs(): newest first is computed
        self.hang = False  # wait() never finishes (RunTimeout every time)
        self._ids = itertools.count(1)

    # pushdown
    def submit(
        self,
        sql: str,
        *,
        key: str,
        database: str | None = None,
        timeout: Any = None,
        username: str | None = None,
    ) -> RunHandle:
        if key in self.handles:
            if self.commands[key] != sql:
                raise KeyConflict("key used for another command")
            return self.handles[key]
        n = next(self._ids)
        handle = RunHandle(key=key, submission_id=n, jobid=1000 + n)
        self.handles[key] = handle
        self.commands[key] = sql
        self.submitted.append(key)
        return handle

    def attach(self, key: str) -> RunHandle:
        if key not in self.handles:
            raise SubmissionNotFound(f"no submission {key}")
        return self.handles[key]

    def latest_attempt(self, key: str) -> Attempt | None:
        number = 0
        while attempt_key(key, number + 1) in self.handles:
            number += 1
        return Attempt(self.handles[attempt_key(key, number)], number, True) if number else None

    def submit_attempt(self, sql: str, *, key: str, rerun_failed: bool = True, **kwargs: Any) -> Attempt:
        """The core's decision (``pgcron.pushdown.attempts.next_attempt``) over the fake's submissions."""
        latest = self.latest_attempt(key)
        status = latest.handle.status if latest is not None else None
        number = next_attempt(key, latest.number if latest else 0, status, rerun_failed=rerun_failed)
        if number is None:
            assert latest is not None
            return latest
        return Attempt(self.submit(sql, key=attempt_key(key, number), **kwargs), number, False)

    def finish(self, key: str) -> Run:
        handle = self.handles[key]
        status, message = self.outcomes.get(self.commands[key], (RunStatus.SUCCEEDED, "SELECT 1"))
        run = Run(
            runid=50 + handle.submission_id,
            jobid=handle.jobid,
            status=status,
            raw_status=None,
            message=message,
            return_message=message,
            start_time=T0,
            end_time=T0 + timedelta(seconds=2),
            database="postgres",
            rows=1,
        )
        self.handles[key] = replace(
            handle, runid=run.runid, status=status, message=message, start=run.start_time, end=run.end_time
        )
        return run

    def wait(self, handle: RunHandle, timeout: Any = None) -> Run:
        if self.hang:
            raise RunTimeout("still running")
        return self.finish(handle.key)

    def cancel(self, handle: RunHandle) -> None:
        self.canceled.append(handle.key)
        self.handles[handle.key] = replace(self.handles[handle.key], status=RunStatus.CANCELED)

    # runs
    def runs(
        self, job: Any = None, status: Any = None, since: datetime | None = None, limit: int = 100
    ) -> list[Run]:
        found = sorted(self.job_runs, key=lambda r: -r.runid)
        if status is not None:
            found = [r for r in found if r.status is status]
        if since is not None:
            found = [r for r in found if r.start_time is None or r.start_time >= since]
        return found[:limit]

    def close(self) -> None:
        pass


class FakeAsyncClient:
    """The same state, awaited (triggers)."""

    def __init__(self, sync: FakeClient) -> None:
        self.sync = sync

    async def attach(self, key: str) -> RunHandle:
        return self.sync.attach(key)

    async def wait(self, handle: RunHandle, timeout: Any = None) -> Run:
        return self.sync.wait(handle, timeout)

    async def cancel(self, handle: RunHandle) -> None:
        self.sync.cancel(handle)

    async def runs(self, **kwargs: Any) -> list[Run]:
        return self.sync.runs(**kwargs)

    async def job(self, name_or_id: str | int) -> Any:
        return SimpleNamespace(jobid=7)  # the jobid of job_run()

    async def runs_after(self, after_runid: int, *, jobids: Any = None, limit: int = 500) -> FeedPage:
        found = sorted((r for r in self.sync.job_runs if r.runid > after_runid), key=lambda r: r.runid)
        return FeedPage(runs=tuple(found[:limit]), observed_at=datetime.now(UTC), full=len(found) >= limit)


def install(monkeypatch: Any, client: FakeClient) -> None:
    """Make every ``PgCronHook`` hand out ``client`` (and its async view)."""
    from pgcron_airflow.hooks.pgcron import PgCronHook

    @contextmanager
    def get_client(self: Any) -> Iterator[FakeClient]:
        yield client

    @asynccontextmanager
    async def aget_client(self: Any) -> AsyncIterator[FakeAsyncClient]:
        yield FakeAsyncClient(client)

    monkeypatch.setattr(PgCronHook, "get_client", get_client)
    monkeypatch.setattr(PgCronHook, "aget_client", aget_client)


def job_run(runid: int, status: RunStatus, start: datetime, message: str = "DELETE 3") -> Run:
    return Run(
        runid=runid,
        jobid=7,
        status=status,
        raw_status=None,
        message=message,
        return_message=message,
        start_time=start,
        end_time=start + timedelta(seconds=1) if status.is_terminal else None,
    )
