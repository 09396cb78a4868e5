# WARNING: generated from protocols_async.py by tools/async_to_sync.py; edit that file instead.
# ruff: noqa
"""``ClientProtocol``: the client surface the integrations use, as a typing protocol.

This is the source of the synchronous ``ClientProtocol`` (``pgcron/protocols.py``), generated from it by
``tools/async_to_sync.py``: edit this file. ``pgcron.Client`` satisfies the protocol, and so does the
in-memory test double ``pgcron.testing.FakeClient`` (docs/testing.md); mypy checks both. Code that
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
__all__ = ["ClientProtocol"]
Timeout = float | timedelta | None
Statuses = RunStatus | str | Iterable[RunStatus | str] | None


class ClientProtocol(Protocol):
    """What a client like ``pgcron.Client`` offers: jobs, runs, the run feed, jobs as code, the audit,
    pushdown runs and their attempt chain. Each method means what it means there (docs/api.md).
    """

    def jobs(self) -> list[Job]: ...

    def job(self, name_or_id: str | int) -> Job: ...

    def schedule(self, spec: JobSpec) -> Job: ...

    def unschedule(self, name_or_id: str | int) -> None: ...

    def plan(
        self, specs: Iterable[JobSpec], *, namespace: str, prune: bool = ..., lane_workers: int | None = ...
    ) -> Plan: ...

    def apply(self, plan: Plan, *, lock_timeout: timedelta = ...) -> ApplyResult: ...

    def audit(
        self,
        since: timedelta = ...,
        *,
        job_prefix: str | None = ...,
        job: str | None = ...,
        late_after: timedelta = ...,
        stuck_after: timedelta = ...,
        timezone: str | None = ...,
    ) -> AuditReport: ...

    def runs(
        self,
        job: str | int | Job | None = ...,
        status: Statuses = ...,
        since: datetime | timedelta | None = ...,
        limit: int = ...,
    ) -> list[Run]: ...

    def run(self, runid: int) -> Run: ...

    def runs_after(
        self,
        after_runid: int,
        *,
        jobids: Iterable[int] | None = ...,
        limit: int = ...,
        also: Iterable[int] | None = ...,
    ) -> FeedPage: ...

    def start_runid(self, before: datetime) -> int: ...

    def submit(
        self,
        sql: str,
        *,
        database: str | None = ...,
        username: str | None = ...,
        key: str | None = ...,
        timeout: Timeout = ...,
    ) -> RunHandle: ...

    def wait(self, handle: RunHandle, timeout: Timeout = ...) -> Run: ...

    def run_now(
        self,
        sql: str,
        *,
        database: str | None = ...,
        username: str | None = ...,
        key: str | None = ...,
        timeout: Timeout = ...,
    ) -> Run: ...

    def cancel(self, handle: RunHandle) -> None: ...

    def attach(self, key: str) -> RunHandle: ...

    def submit_attempt(
        self,
        sql: str,
        *,
        key: str,
        database: str | None = ...,
        username: str | None = ...,
        timeout: Timeout = ...,
        rerun_failed: bool = ...,
    ) -> Attempt: ...

    def latest_attempt(self, key: str) -> Attempt | None: ...


if TYPE_CHECKING:
    from pgcron.client import Client

    def _conforms(client: Client) -> ClientProtocol:
        return client
