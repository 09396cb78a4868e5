"""pgcron: run data-local work inside PostgreSQL through pg_cron.

The public API below is a contract with users; see docs/api.md.
"""

from __future__ import annotations

import logging

from pgcron.client import Client
from pgcron.client_async import AsyncClient
from pgcron.errors import (
    ConcurrencyConflict,
    ConnectionFailed,
    DevServerError,
    ExtensionNotInstalled,
    InvalidCursor,
    JobNotFound,
    KeyConflict,
    PermissionDenied,
    PgCronError,
    RunFailed,
    RunTimeout,
    ScheduleError,
    SchemaOutOfDate,
    SubmissionNotFound,
    TooManyAttempts,
    UnknownDatabase,
    UnknownRole,
    UnsupportedCommand,
    UnsupportedFeature,
    WrongDatabase,
)
from pgcron.models import Attempt, Capabilities, Job, JobSpec, Run, RunHandle, RunStatus
from pgcron.protocols import ClientProtocol
from pgcron.protocols_async import AsyncClientProtocol
from pgcron.schedule import Schedule

__version__ = "0.1.0"

logging.getLogger("pgcron").addHandler(logging.NullHandler())

__all__ = [
    "AsyncClient",
    "AsyncClientProtocol",
    "Attempt",
    "Capabilities",
    "Client",
    "ClientProtocol",
    "ConcurrencyConflict",
    "ConnectionFailed",
    "DevServerError",
    "ExtensionNotInstalled",
    "InvalidCursor",
    "Job",
    "JobNotFound",
    "JobSpec",
    "KeyConflict",
    "PermissionDenied",
    "PgCronError",
    "Run",
    "RunFailed",
    "RunHandle",
    "RunStatus",
    "RunTimeout",
    "Schedule",
    "ScheduleError",
    "SchemaOutOfDate",
    "SubmissionNotFound",
    "TooManyAttempts",
    "UnknownDatabase",
    "UnknownRole",
    "UnsupportedCommand",
    "UnsupportedFeature",
    "WrongDatabase",
    "__version__",
]
