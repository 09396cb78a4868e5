"""The engine's data model: what users declare and what pg_cron reports, as frozen dataclasses.

These names are a public contract (docs/adr/0003-client-api-contract.md, docs/api.md). A ``Run``'s
``status`` is never pg_cron's raw status string: it is decided by ``pgcron.runstate``, which knows when a
run is really over (background-worker mode flips multi-statement runs to ``succeeded`` early, restarts
leave rows in ``connecting`` forever, empty commands never finish).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["Attempt", "Capabilities", "Job", "JobSpec", "Run", "RunHandle", "RunStatus"]


class RunStatus(enum.Enum):
    """A run's state as the engine decides it.

    ``PENDING`` (dispatched, not executing yet), ``RUNNING``, then one terminal state: ``SUCCEEDED``,
    ``FAILED``, ``CANCELED`` (stopped by an unschedule/deactivate, ``pg_cancel_backend`` or a cancel
    request) or ``LOST`` (the server or launcher restarted while it was in flight; whether its work
    committed is unknown).
    """

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    LOST = "lost"

    @property
    def is_terminal(self) -> bool:
        """True when the run is over and will not change again."""
        return self in _TERMINAL

    @property
    def is_active(self) -> bool:
        """True while the run is pending or executing."""
        return not self.is_terminal

    @property
    def is_success(self) -> bool:
        """True only for ``SUCCEEDED``."""
        return self is RunStatus.SUCCEEDED


_TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.LOST})


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job as the user declares it (in code or in a jobs file).

    ``database``/``username`` default to pg_cron's own defaults (``cron.database_name`` and the connected
    role); giving either, or ``active=False``, schedules through ``cron.schedule_in_database``.
    ``timeout``, ``description`` and ``tags`` belong to the jobs file and are not stored by pg_cron.
    """

    name: str
    schedule: str
    command: str
    database: str | None = None
    username: str | None = None
    active: bool = True
    timeout: timedelta | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Job:
    """A row of ``cron.job``."""

    jobid: int
    name: str | None
    schedule: str
    command: str
    database: str
    username: str
    active: bool
    nodename: str
    nodeport: int


@dataclass(frozen=True, slots=True)
class Run:
    """A row of ``cron.job_run_details`` with the engine's verdict.

    ``status`` is the engine's decision (see ``pgcron.runstate``), ``raw_status`` pg_cron's own string.
    ``message`` is ``return_message`` normalized across execution modes (``ERROR: …`` with one space, no
    trailing newline, no ``LINE n:`` caret block); ``return_message`` is the raw text. ``rows`` comes from
    the command tag (``INSERT 0 5`` → 5) or the pushdown record.
    """

    runid: int
    jobid: int | None
    status: RunStatus
    raw_status: str | None
    message: str | None
    return_message: str | None
    start_time: datetime | None
    end_time: datetime | None
    database: str | None = None
    username: str | None = None
    command: str | None = None
    rows: int | None = None
    job_pid: int | None = None
    #: pushdown runs: ``"job"`` (its own temporary pg_cron job) or ``"lane"`` (a warm lane of its role)
    via: str | None = None

    @property
    def duration(self) -> timedelta | None:
        """``end_time - start_time`` when both are known and the run is over."""
        if self.start_time is None or self.end_time is None or not self.status.is_terminal:
            return None
        return self.end_time - self.start_time


@dataclass(frozen=True, slots=True)
class RunHandle:
    """A pushdown submission (``Client.submit``): enough to wait for, cancel or re-attach to it."""

    key: str
    submission_id: int
    jobid: int | None
    runid: int | None = None
    status: RunStatus = RunStatus.PENDING
    message: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    #: ``"job"`` (its own temporary pg_cron job) or ``"lane"`` (a warm lane of its role; docs/adr/0006)
    via: str = "job"

    @property
    def duration(self) -> timedelta | None:
        """``end - start`` once both are known."""
        if self.start is None or self.end is None:
            return None
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt of a submission that is retried (``Client.submit_attempt``, ``Client.latest_attempt``).

    Attempt 1 runs under the caller's key, attempt ``n`` under ``<key>#<n>``; a new attempt is made only
    after the previous one failed or was canceled (nothing committed). ``reattached`` is True when the call
    found this submission rather than submitting it.
    """

    handle: RunHandle
    number: int
    reattached: bool

    @property
    def key(self) -> str:
        """The key this attempt was submitted under (``<key>`` or ``<key>#<number>``)."""
        return self.handle.key


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the connected server's pg_cron can do, detected once per connection.

    Values that need a privilege the role lacks are ``None`` (unknown), never guessed; ``notes`` says
    why. ``execution_mode`` is ``"bgw"`` (``cron.use_background_workers = on``), ``"libpq"`` or ``None``.
    """

    extversion: str
    library_version: str | None
    server_version_num: int
    current_database: str
    current_user: str
    is_superuser: bool
    settings_visible: bool
    settings: dict[str, str] = field(default_factory=dict, hash=False)
    execution_mode: str | None = None
    log_run: bool | None = None
    timezone: str | None = None
    max_running_jobs: int | None = None
    database_name: str | None = None
    has_intervals: bool = False
    has_last_day: bool = False
    has_alter_job: bool = False
    has_schedule_in_database: bool = False
    jobname_max_bytes: int | None = None
    notify_trigger: bool = False
    notify_trigger_reason: str | None = None
    schema_version: int | None = None
    launcher_pid: int | None = None
    launcher_backend_start: datetime | None = None
    notes: tuple[str, ...] = ()

    @property
    def launcher_running(self) -> bool:
        """True when a ``pg_cron launcher`` backend is visible in ``pg_stat_activity``."""
        return self.launcher_pid is not None

    @property
    def is_bgw(self) -> bool | None:
        """True in background-worker mode, False in libpq mode, None when unknown."""
        return None if self.execution_mode is None else self.execution_mode == "bgw"
