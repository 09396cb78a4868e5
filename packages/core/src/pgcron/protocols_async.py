"""``AsyncClientProtocol``: the client surface the integrations use, as a typing protocol.

This is the source of the synchronous ``ClientProtocol`` (``pgcron/protocols.py``), generated from it by
``tools/async_to_sync.py``: edit this file. ``pgcron.AsyncClient`` satisfies the protocol, and so does the
in-memory test double ``pgcron.testing.AsyncFakeClient`` (docs/testing.md); mypy checks both. Code that
only needs these methods (the Airflow provider, the Dagster integration, a user's own helpers) annotates its
client with the protocol, so a fake can stand where a connected client would.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from pgcron.models import Attempt, Job, JobSpec, Run, RunHandle, RunStatus

if TYPE_CHECKING:
    from pgcron.audit import AuditReport
    from pgcron.plan import ApplyResult, Plan
    from pgcron.runfeed import FeedPage

__all__ = ["AsyncClientProtocol"]

Timeout = float | timedelta | None
Statuses = RunStatus | str | Iterable[RunStatus | str] | None


class AsyncClientProtocol(Protocol):
    """What a client like ``pgcron.AsyncClient`` offers: jobs, runs, the run feed, jobs as code, the audit,
    pushdown runs and their attempt chain. Each method means what it means there (docs/api.md).
    """

    async def jobs(self) -> list[Job]: ...

    async def job(self, name_or_id: str | int) -> Job: ...

    async def schedule(self, spec: JobSpec) -> Job: ...

    async def unschedule(self, name_or_id: str | int) -> None: ...

    async def plan(
        self,
        specs: Iterable[JobSpec],
        *,
        namespace: str,
        prune: bool = ...,
        lane_workers: int | None = ...,
    ) -> Plan: ...

    async def apply(self, plan: Plan, *, lock_timeout: timedelta = ...) -> ApplyResult: ...

    async def audit(
        self,
        since: timedelta = ...,
        *,
        job_prefix: str | None = ...,
        job: str | None = ...,
        late_after: timedelta = ...,
        stuck_after: timedelta = ...,
        timezone: str | None = ...,
    ) -> AuditReport: ...

    async def runs(
        self,
        job: str | int | Job | None = ...,
        status: Statuses = ...,
        since: datetime | timedelta | None = ...,
        limit: int = ...,
    ) -> list[Run]: ...

    async def run(self, runid: int) -> Run: ...

    async def runs_after(
        self,
        after_runid: int,
        *,
        jobids: Iterable[int] | None = ...,
        limit: int = ...,
        also: Iterable[int] | None = ...,
    ) -> FeedPage: ...

    async def start_runid(self, before: datetime) -> int: ...

    async def submit(
        self,
        sql: str,
        *,
        database: str | None = ...,
        username: str | None = ...,
        key: str | None = ...,
        timeout: Timeout = ...,
    ) -> RunHandle: ...

    async def wait(self, handle: RunHandle, timeout: Timeout = ...) -> Run: ...

    async def run_now(
        self,
        sql: str,
        *,
        database: str | None = ...,
        username: str | None = ...,
        key: str | None = ...,
        timeout: Timeout = ...,
    ) -> Run: ...

    async def cancel(self, handle: RunHandle) -> None: ...

    async def attach(self, key: str) -> RunHandle: ...

    async def submit_attempt(
        self,
        sql: str,
        *,
        key: str,
        database: str | None = ...,
        username: str | None = ...,
        timeout: Timeout = ...,
        rerun_failed: bool = ...,
    ) -> Attempt: ...

    async def latest_attempt(self, key: str) -> Attempt | None: ...


if TYPE_CHECKING:  # mypy proves the real client satisfies the protocol (the fakes: pgcron.testing.fakes)
    from pgcron.client_async import AsyncClient

    def _conforms(client: AsyncClient) -> AsyncClientProtocol:
        return client
