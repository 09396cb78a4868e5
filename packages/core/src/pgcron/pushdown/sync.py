"""The synchronous twin of ``AsyncPushdown`` for ``Client``.

It runs one ``AsyncPushdown`` on a private event loop in a daemon thread, so the sync client keeps the shared
waiter hub (one LISTEN connection for all waits, also across threads) instead of a second implementation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from pgcron.models import Run, RunHandle
from pgcron.pushdown.hub import ConnectFactory
from pgcron.pushdown.service import AsyncPushdown, Timeout

__all__ = ["Pushdown"]

T = TypeVar("T")


class Pushdown:
    """``submit / wait / run_now / cancel / attach`` for synchronous code."""

    def __init__(self, connect: ConnectFactory, *, listen: bool | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pgcron-pushdown", daemon=True)
        self._thread.start()
        self._async = AsyncPushdown(connect, listen=listen)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def inner(self) -> AsyncPushdown:
        """The async implementation (for diagnostics and benchmarks)."""
        return self._async

    def submit(
        self,
        sql: str,
        *,
        database: str | None = None,
        username: str | None = None,
        key: str | None = None,
        timeout: Timeout = None,
    ) -> RunHandle:
        return self._call(
            self._async.submit(sql, database=database, username=username, key=key, timeout=timeout)
        )

    def wait(self, handle: RunHandle, timeout: Timeout = None) -> Run:
        return self._call(self._async.wait(handle, timeout))

    def run_now(
        self,
        sql: str,
        *,
        database: str | None = None,
        username: str | None = None,
        key: str | None = None,
        timeout: Timeout = None,
    ) -> Run:
        return self._call(
            self._async.run_now(sql, database=database, username=username, key=key, timeout=timeout)
        )

    def cancel(self, handle: RunHandle) -> None:
        self._call(self._async.cancel(handle))

    def attach(self, key: str) -> RunHandle:
        return self._call(self._async.attach(key))

    def status(self, handle: RunHandle) -> RunHandle:
        return self._call(self._async.status(handle))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self._async.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()
