# WARNING: generated from _db_async.py by tools/async_to_sync.py; edit that file instead.
# ruff: noqa
"""The one database seam (async source; ``_db.py`` is generated from it by tools/async_to_sync.py).

It connects (a DSN, a psycopg connection or a psycopg_pool pool), runs named queries from
``pgcron/sql/queries`` with bound parameters (and the few statements that need identifiers, composed with
``psycopg.sql``), and translates psycopg errors into ``pgcron.errors``.
Nothing else in the engine talks to psycopg directly.
"""

from __future__ import annotations
import threading
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pgcron._client_base import translate_error
from pgcron._shared import SharedTarget, acquire_target
from pgcron.errors import PgCronError
from pgcron.sql import get_query

__all__ = ["Database", "Row"]
logger = logging.getLogger(__name__)
Row = dict[str, Any]
Params = Mapping[str, Any]
_ACTIVE: ContextVar[tuple[object, Any] | None] = ContextVar("pgcron_db_active", default=None)


class Database:
    """A connection source plus named-query helpers. Every call is its own transaction unless it runs
    inside ``transaction()``.

    A DSN uses the process's shared connection to that target (``pgcron._shared``: one per server,
    database and role, however many clients); a transaction gets a dedicated connection for its duration. A
    connection or pool passed in is borrowed: ``close()`` leaves it open.
    """

    def __init__(
        self,
        *,
        connection: psycopg.Connection[Any] | None = None,
        pool: ConnectionPool[Any] | None = None,
        shared: SharedTarget | None = None,
        owned: bool = False,
    ) -> None:
        if sum((x is not None for x in (connection, pool, shared))) != 1:
            raise ValueError("give exactly one of connection, pool or shared")
        self._connection = connection
        self._pool = pool
        self._shared = shared
        self._owned = owned
        self._closed = False
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, target: str | psycopg.Connection[Any] | ConnectionPool[Any]) -> Database:
        """Open (a DSN) or wrap (a connection or pool) the database to talk to."""
        if isinstance(target, str):
            shared = acquire_target(target)
            try:
                with shared.lock:
                    shared.connection()
            except BaseException:
                shared.release()
                raise
            return cls(shared=shared, owned=True)
        if isinstance(target, ConnectionPool):
            return cls(pool=target)
        if isinstance(target, psycopg.Connection):
            return cls(connection=target)
        raise TypeError(
            f"connect() takes a DSN string, a psycopg Connection or a psycopg_pool ConnectionPool; got {type(target).__name__}"
        )

    @property
    def closed(self) -> bool:
        if self._connection is not None:
            return bool(self._connection.closed)
        return self._closed

    @property
    def shared(self) -> SharedTarget | None:
        """The process-wide target behind a DSN (None for a borrowed connection or pool)."""
        return self._shared

    def close(self) -> None:
        """Release the shared target (the last user closes it), or close a connection this object opened."""
        if self._closed:
            return
        self._closed = True
        if self._shared is not None:
            self._shared.release()
        elif self._owned and self._connection is not None:
            self._connection.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for a few statements: the caller's current one, the own one, or one from the pool."""
        active = _ACTIVE.get()
        if active is not None and active[0] is self:
            yield active[1]
            return
        if self._connection is not None:
            with self._lock:
                token = _ACTIVE.set((self, self._connection))
                try:
                    yield self._connection
                finally:
                    _ACTIVE.reset(token)
        elif self._shared is not None:
            with self._shared.lock:
                conn = self._shared.connection()
                token = _ACTIVE.set((self, conn))
                try:
                    yield conn
                except psycopg.OperationalError:
                    self._shared.drop_connection()
                    raise
                finally:
                    _ACTIVE.reset(token)
        else:
            assert self._pool is not None
            with self._pool.connection() as conn:
                token = _ACTIVE.set((self, conn))
                try:
                    yield conn
                finally:
                    _ACTIVE.reset(token)

    @contextmanager
    def transaction(self, *, force_rollback: bool = False) -> Iterator[psycopg.Connection[Any]]:
        """Run the named queries inside one transaction (a savepoint when already inside one)."""
        active = _ACTIVE.get()
        if self._shared is not None and (not (active is not None and active[0] is self)):
            conn = self._shared.connect()
            token = _ACTIVE.set((self, conn))
            try:
                with conn.transaction(force_rollback=force_rollback):
                    yield conn
            except psycopg.Error as exc:
                raise translate_error(exc, role=conn.info.user) from exc
            finally:
                _ACTIVE.reset(token)
                conn.close()
            return
        with self.connection() as conn:
            try:
                with conn.transaction(force_rollback=force_rollback):
                    yield conn
            except psycopg.Error as exc:
                raise translate_error(exc, role=conn.info.user) from exc

    @contextmanager
    def session(self) -> Iterator[psycopg.Connection[Any]]:
        """One connection for a routine of statements that each commit by themselves (a batched purge,
        ``CREATE INDEX CONCURRENTLY``, doctor): a dedicated one for a DSN, so a long routine never holds up
        the shared connection's other users; otherwise the borrowed connection or one from the pool."""
        active = _ACTIVE.get()
        if self._shared is None or (active is not None and active[0] is self):
            with self.connection() as conn:
                yield conn
            return
        conn = self._shared.connect()
        token = _ACTIVE.set((self, conn))
        try:
            yield conn
        finally:
            _ACTIVE.reset(token)
            conn.close()

    def fetch_all_autocommit(self, query: str, params: Params | None = None) -> list[Row]:
        """All rows of a named query run by itself, outside any transaction block (what ``CREATE INDEX
        CONCURRENTLY`` needs, and what makes each batch of a purge commit). The connection must be in
        autocommit mode and idle: a DSN's always is; a borrowed one is refused with the fix otherwise."""
        with self.connection() as conn:
            if not conn.autocommit or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                raise PgCronError(
                    "this maintenance commits as it goes (a batched purge, CREATE INDEX CONCURRENTLY): connect the client with a DSN, or with an autocommit connection outside a transaction (psycopg.connect(dsn, autocommit=True))",
                    query=query,
                )
            try:
                with conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(get_query(query), dict(params or {}))
                    return cur.fetchall() if cur.description is not None else []
            except psycopg.Error as exc:
                raise translate_error(exc, role=conn.info.user) from exc

    def fetch_all(self, query: str, params: Params | None = None) -> list[Row]:
        """All rows of a named query, as dicts."""
        with self.connection() as conn:
            try:
                with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(get_query(query), dict(params or {}))
                    if cur.description is None:
                        return []
                    return cur.fetchall()
            except psycopg.Error as exc:
                raise translate_error(exc, role=conn.info.user) from exc

    def fetch_one(self, query: str, params: Params | None = None) -> Row | None:
        """The first row of a named query, or None."""
        rows = self.fetch_all(query, params)
        return rows[0] if rows else None

    def execute_script(self, sql_text: str) -> None:
        """Run a whole SQL file (several statements, no parameters) with the simple query protocol."""
        with self.connection() as conn:
            try:
                with conn.transaction():
                    conn.execute(sql_text)
            except psycopg.Error as exc:
                raise translate_error(exc, role=conn.info.user) from exc

    def execute_composed(self, statement: sql.Composed) -> None:
        """Run one statement composed with ``psycopg.sql`` (identifiers, such as the role of ``GRANT … TO``,
        that a named query cannot bind), in its own transaction or the caller's savepoint."""
        with self.connection() as conn:
            try:
                with conn.transaction():
                    conn.execute(statement)
            except psycopg.Error as exc:
                raise translate_error(exc, role=conn.info.user) from exc
