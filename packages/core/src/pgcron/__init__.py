"""pgcron: run data-local work inside PostgreSQL through pg_cron.

The public API below is a contract with users; see docs/api.md.
"""

from __future__ import annotations

import logging

from pgcron.errors import (
    ConnectionFailed,
    ExtensionNotInstalled,
    JobNotFound,
    PermissionDenied,
    PgCronError,
    RunFailed,
    RunTimeout,
    ScheduleError,
    SchemaOutOfDate,
    UnsupportedCommand,
    UnsupportedFeature,
    WrongDatabase,
)
from pgcron.schedule import Schedule
from pgcron.models import Capabilities, Job, JobSpec, Run, RunHandle, RunStatus
from pgcron.client import Client
from pgcron.client_async import AsyncClient

__version__ = "0.1.0"

logging.getLogger("pgcron").addHandler(logging.NullHandler())

__all__ = [
    "AsyncClient",
    "Capabilities",
    "Client",
    "Job",
    "JobSpec",
    "Run",
    "RunHandle",
    "RunStatus",
    "ConnectionFailed",
    "ExtensionNotInstalled",
    "JobNotFound",
    "PermissionDenied",
    "PgCronError",
    "RunFailed",
    "RunTimeout",
    "Schedule",
    "ScheduleError",
    "SchemaOutOfDate",
    "UnsupportedCommand",
    "UnsupportedFeature",
    "WrongDatabase",
    "__version__",
]
