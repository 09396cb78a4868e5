"""Pushdown runs: "run this SQL inside PostgreSQL now", exactly once per key, observable and cancellable.

``AsyncPushdown`` (and its sync twin ``Pushdown``) implement ``submit / wait / run_now / cancel / attach`` for
``AsyncClient`` and ``Client``; the engine side is migration ``0002_pushdown.sql``. See docs/pushdown.md.
"""

from __future__ import annotations

from pgcron.pushdown.connect import async_connect_factory
from pgcron.pushdown.errors import KeyConflict, SubmissionNotFound, UnknownDatabase
from pgcron.pushdown.hub import AsyncWaiterHub
from pgcron.pushdown.service import AsyncPushdown
from pgcron.pushdown.sync import Pushdown

__all__ = [
    "AsyncPushdown",
    "AsyncWaiterHub",
    "KeyConflict",
    "Pushdown",
    "SubmissionNotFound",
    "UnknownDatabase",
    "async_connect_factory",
]
