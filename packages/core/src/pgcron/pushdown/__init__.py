"""Pushdown runs: "run this SQL inside PostgreSQL now", exactly once per key, observable and cancellable.

``AsyncPushdown`` (and its generated sync twin ``Pushdown``) implement ``submit / wait / run_now / cancel /
attach`` for ``AsyncClient`` and ``Client``; the engine side is migrations ``0002_pushdown.sql`` and
``0004_trust_boundary.sql``. Every pushdown in a process shares one waiter hub per target. See
docs/pushdown.md.
"""

from __future__ import annotations

from pgcron.pushdown.connect import conninfo_of
from pgcron.pushdown.errors import KeyConflict, SubmissionNotFound, UnknownDatabase
from pgcron.pushdown.hub import AsyncWaiterHub, WaiterHub
from pgcron.pushdown.service import AsyncPushdown
from pgcron.pushdown.service_sync import Pushdown

__all__ = [
    "AsyncPushdown",
    "AsyncWaiterHub",
    "KeyConflict",
    "Pushdown",
    "SubmissionNotFound",
    "UnknownDatabase",
    "WaiterHub",
    "conninfo_of",
]
