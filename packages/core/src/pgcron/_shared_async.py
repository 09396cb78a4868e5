"""Connections shared per process and target (async source; ``_shared.py`` is generated from it).

Every client in a process that points at the same server, database and role uses one ``AsyncSharedTarget``:
one connection for its statements (serialized by a lock: each named query is one short round trip) and one
waiter hub for its pushdown waits (its state queries use the same connection; its LISTEN connection is the
only other one). So an Airflow triggerer with 1,000 deferred waits, or a program with 50 threads, holds two
server connections per target, not a set per client object or per wait. A transaction gets a dedicated
connection for its duration, so it never holds up the waits.

Targets are reference-counted: the last client to close closes the connections. The registry is keyed by
process id (a forked child never touches its parent's sockets) and, for asyncio, by event loop (an asyncio
connection belongs to the loop that opened it). Passwords are part of the key but never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
from threading import Lock as ThreadLock
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgcron._client_base import translate_error
from pgcron._scope import async_scope

__all__ = ["AsyncSharedTarget", "acquire_async_target", "shared_key"]

logger = logging.getLogger(__name__)

# The registry is touched from many threads (sync side) or many loops (async side): a plain thread lock,
# held only for dictionary updates, never across I/O.
_REGISTRY_LOCK = ThreadLock()
_TARGETS: dict[tuple[int, int, str], AsyncSharedTarget] = {}


def shared_key(conninfo: str) -> str:
    """A canonical form of a conninfo, so ``host=a dbname=b`` and ``postgresql://a/b`` share a target."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return conninfo
    return make_conninfo("", **{k: str(v) for k, v in sorted(params.items())})


class AsyncSharedTarget:
    """One server/database/role in this process: a shared statement connection and the waiter hub."""

    def __init__(self, conninfo: str, key: tuple[int, int, str]) -> None:
        self.conninfo = conninfo
        self._key = key
        self.refs = 0
        self.lock = asyncio.Lock()
        self._conn: psycopg.AsyncConnection[Any] | None = None
        # Waiter hubs by LISTEN preference (None: where the trigger exists), made on first use.
        self.hubs: dict[bool | None, Any] = {}

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        """A new dedicated autocommit connection to this target (a transaction, the LISTEN connection)."""
        try:
            return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise translate_error(exc, connecting=True) from exc

    async def connection(self) -> psycopg.AsyncConnection[Any]:
        """The shared statement connection, (re)opened when needed. Use it only while holding ``lock``."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await self.connect()
        return self._conn

    async def drop_connection(self) -> None:
        """Forget a connection that failed; the next use opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            try:
                await conn.close()
            except psycopg.Error:
                logger.debug("closing a broken shared connection failed", exc_info=True)

    @property
    def connections(self) -> int:
        """Server connections this target holds right now (for tests and benchmarks)."""
        own = int(self._conn is not None and not self._conn.closed)
        return own + sum(int(hub.listen_connections) for hub in self.hubs.values())

    async def release(self) -> None:
        """Drop one reference; the last one closes the hub and the connection."""
        with _REGISTRY_LOCK:
            self.refs -= 1
            last = self.refs <= 0
            if last and _TARGETS.get(self._key) is self:
                del _TARGETS[self._key]
        if not last:
            return
        hubs, self.hubs = list(self.hubs.values()), {}
        for hub in hubs:
            await hub.aclose()
        await self.drop_connection()


async def acquire_async_target(conninfo: str) -> AsyncSharedTarget:
    """The process's shared target for this conninfo (a new reference; ``release()`` it when done)."""
    key = (os.getpid(), async_scope(), shared_key(conninfo))
    with _REGISTRY_LOCK:
        target = _TARGETS.get(key)
        if target is None:
            target = AsyncSharedTarget(conninfo, key)
            _TARGETS[key] = target
        target.refs += 1
    return target
