"""The one database seam (async source; ``_db.py`` is generated from it by tools/async_to_sync.py).

It connects (a DSN, a psycopg connection or a psycopg_pool pool), runs named queries from
``pgcron/sql/queries`` with bound parameters (and the few statements that need identifiers, composed with
``psycopg.sql``), and translates psycopg errors into ``pgcron.errors``.
Nothing else in the engine talks to psycopg directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from pgcron._client_base import translate_error
from pgcron._shared_async import AsyncSharedTarget, acquire_async_target
from pgcron.errors import PgCronError
from pgcron.sql import get_query

__all__ = ["AsyncDatabase", "Row"]

logger = logging.getLogger(__name__)

Row = dict[str, Any]
Params = Mapping[str, Any]

# The connection the current task (or thread) is using, per database object: nested calls inside
# transaction() reuse it, and other tasks never see it (a plain attribute would leak across tasks).
_ACTIVE: ContextVar[tuple[object, Any] | None] = ContextVar("pgcron_db_active", default=None)


class AsyncDatabase:
    """A connection source plus named-query helpers. Every call is its own transaction unless it runs
    inside ``transaction()``.

    A DSN uses the process's shared connection to that target (``pgcron._shared_async``: one per server,
    database and role, however many clients); a transaction gets a dedicated connection for its duration. A
    connection or pool passed in is borrowed: ``close()`` leaves it open.
    """

    def __init__(
        self,
        *,
        connection: psycopg.AsyncConnection[Any] | None = None,
        pool: AsyncConnectionPool[Any] | None = None,
        shared: AsyncSharedTarget | None = None,
        owned: bool = False,
    ) -> None:
        if sum(x is not None for x in (connection, pool, shared)) != 1:
            raise ValueError("give exactly one of connection, pool or shared")
        self._connection = connection
        self._pool = pool
        self._shared = shared
        self._owned = owned
        self._closed = False
        # One connection serves one caller at a time: a transaction must not interleave with another
        # task's statements on the same connection.
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(
        cls, target: str | psycopg.AsyncConnection[Any] | AsyncConnectionPool[Any]
    ) -> AsyncDatabase:
        """Open (a DSN) or wrap (a connection or pool) the database to talk to."""
        if isinstance(target, str):
            shared = await acquire_async_target(target)
            try:
                async with shared.lock:
                    await shared.connection()  # fail here, with the DSN named, not at the first query
            except BaseException:
                await shared.release()
                raise
            return cls(shared=shared, owned=True)
        if isinstance(target, AsyncConnectionPool):
            return cls(pool=target)
        if isinstance(target, psycopg.AsyncConnection):
            return cls(connection=target)
        raise TypeError(
            "connect() takes a DSN string, a psycopg AsyncConnection or a psycopg_pool AsyncConnectionPool; "
            f"got {type(target).__name__}"
        )

    @property
    def closed(self) -> bool:
        if self._connection is not None:
            return bool(self._connection.closed)
        return self._closed

    @property
    def shared(self) -> AsyncSharedTarget | None:
        """The process-wide target behind a DSN (None for a borrowed connection or pool)."""
        return self._shared

    async def close(self) -> None:
        """Release the shared target (the last user closes it), or close a connection this object opened."""
        if self._closed:
            return
        self._closed = True
        if self._shared is not None:
            await self._shared.release()
        elif self._owned and self._connection is not None:
            await self._connection.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection for a few statements: the caller's current one, the own one, or one from the pool."""
        active = _ACTIVE.get()
        if active is not None and active[0] is self:
            yield active[1]
            return
        if self._connection is not None:
            async with self._lock:
                token = _ACTIVE.set((self, self._connection))
                try:
                    yield self._connection
                finally:
                    _ACTIVE.reset(token)
        elif self._shared is not None:
            async with self._shared.lock:
                conn = await self._shared.connection()
                token = _ACTIVE.set((self, conn))
                try:
                    yield conn
                except psycopg.OperationalError:
                    await self._shared.drop_connection()
                    raise
                finally:
                    _ACTIVE.reset(token)
        else:
            assert self._pool is not None
            async with self._pool.connection() as conn:
                token = _ACTIVE.set((self, conn))
                try:
                    yield conn
                finally:
                    _ACTIVE.reset(token)

    @asynccontextmanager
    async def transaction(
        self, *, force_rollback: bool = False
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """Run the named queries inside one transaction (a savepoint when already inside one)."""
        active = _ACTIVE.get()
        if self._shared is not None and not (active is not None and active[0] is self):
            # A dedicated connection: a transaction on the shared one would hold up every other user.
            conn = await self._shared.connect()
            token = _ACTIVE.set((self, conn))
            try:
                async with conn.transaction(force_rollback=force_rollback):
                    yield conn
            except psycopg.Error as exc:
                raise translate_error(exc, role=conn.info.user) from exc
            finally:
                _ACTIVE.reset(token)
                await conn.close()
            return
        async with self.connection() as conn:
            try:
                async with conn.transaction(force_rollback=force_rollback):
                    yield conn
            except psycopg.Error as exc:
                raise translate_error(exc, role=conn.info.user) from exc

    @asynccontextmanager
    async def session(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """One connection for a routine of statements that each commit by themselves (a batched purge,
        ``CREATE INDEX CONCURRENTLY``, doctor): a dedicated one for a DSN, so a long routine never holds up
        the shared connection's other users; otherwise the borrowed connection or one from the pool."""
        active = _ACTIVE.get()
        if self._shared is None or (active is not None and active[0] is self):
            async with self.connection() as conn:
                yield conn
            return
        conn = await self._shared.connect()
        token = _ACTIVE.set((self, conn))
        try:
            yield conn
        finally:
            _ACTIVE.reset(token)
            await conn.close()

    async def fetch_all_autocommit(self, query: str, params: Params | None = None) -> list[Row]:
        """All rows of a named query run by itself, outside any transaction block (what ``CREATE INDEX
        CONCURRENTLY`` needs, and what makes each batch of a purge commit). The connection must be in
        autocommit mode and idle: a DSN's always is; a borrowed one is refused with the fix otherwise."""
        async with self.connection() as conn:
            if not conn.autocommit or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                raise PgCronError(
                    "this maintenance commits as it goes (a batched purge, CREATE INDEX CONCURRENTLY): "
                    "connect the client with a DSN, or with an autocommit connection outside a transaction "
                    "(psycopg.connect(dsn, autocommit=True))",
                    query=query,
                )
            try:
                async with conn.cursor(row_factory=dict_row) as cur:
                    await cur.execute(get_query(query), dict(params or {}))
                    return await cur.fetchall() if cur.description is not None else []
            except psycopg.Error as exc:
                raise translate_error(exc, role=conn.info.user) from exc

    async def fetch_all(self, query: str, params: Params | None = None) -> list[Row]:
        """All rows of a named query, as dicts."""
        async with self.connection() as conn:
            try:
                async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                    await cur.execute(get_query(query), dict(params or {}))
                    if cur.description is None:  # INSERT/UPDATE without RETURNING
                        return []
                    return await cur.fetchall()
            except psycopg.Error as exc:
                raise translate_error(exc, role=conn.info.user) from exc

    async def fetch_one(self, query: str, params: Params | None = None) -> Row | None:
        """The first row of a named query, or None."""
        rows = await self.fetch_all(query, params)
        return rows[0] if rows else None

    async def execute_script(self, sql_text: str) -> None:
        """Run a whole SQL file (several statements, no parameters) with the simple query protocol."""
        async with self.connection() as conn:
            try:
                async with conn.transaction():
                    await conn.execute(sql_text)  # a trusted package file, never user input
            except psycopg.Error as exc:
                raise translate_error(exc, role=conn.info.user) from exc

    async def execute_composed(self, statement: sql.Composed) -> None:
        """Run one statement composed with ``psycopg.sql`` (identifiers, such as the role of ``GRANT … TO``,
        that a named query cannot bind), in its own transaction or the caller's savepoint."""
        async with self.connection() as conn:
            try:
                async with conn.transaction():
                    await conn.execute(statement)
            except psycopg.Error as exc:
                raise translate_error(exc, role=conn.info.user) from exc
