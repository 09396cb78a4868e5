"""``PgCronHook``: the core pgcron clients from an Airflow ``postgres`` connection.

The hook reuses the postgres provider's connection type (no new type to register): host, port, login,
password and schema (the database, which must be the one named by ``cron.database_name``) plus any libpq
options in the extras (``sslmode``, ``options``, ...). The sync ``Client`` serves operators and sensors;
the ``AsyncClient`` serves triggers and is built without blocking the event loop (async connection lookup,
async extras, psycopg's async connect).

``PgCronHook.use_client(fake)`` makes every hook in the process hand out a given client instead — the seam
for unit tests with ``pgcron.testing.FakeClient`` (docs/testing.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pgcron
from airflow.providers.postgres.hooks.postgres import PostgresHook
from psycopg import pq
from psycopg.conninfo import make_conninfo

__all__ = ["PgCronHook"]

logger = logging.getLogger(__name__)

APPLICATION_NAME = "airflow-pgcron"

# The clients PgCronHook.use_client installed (process-wide: triggers build their own hooks).
_substitute: tuple[pgcron.ClientProtocol, pgcron.AsyncClientProtocol | None] | None = None


def _libpq_keywords() -> frozenset[str]:
    # libpq itself says which keywords a conninfo accepts; extras such as "cursor" or "iam" are the postgres
    # provider's own and must not reach libpq
    return frozenset(opt.keyword.decode() for opt in pq.Conninfo.get_defaults())


def build_conninfo(
    *,
    host: str | None,
    port: int | None,
    login: str | None,
    password: str | None,
    schema: str | None,
    extras: Mapping[str, Any],
    database: str | None = None,
) -> str:
    """A libpq conninfo string from the parts of an Airflow connection (no I/O)."""
    known = _libpq_keywords()
    params: dict[str, Any] = {}
    for name, value in extras.items():
        if name in known and value is not None and not isinstance(value, (dict, list)):
            params[name] = value
        else:
            logger.debug("connection extra %r is not a libpq option; not passed to pgcron", name)
    params.update(
        {
            k: v
            for k, v in {
                "host": host,
                "port": port,
                "user": login,
                "password": password,
                "dbname": database or schema,
            }.items()
            if v not in (None, "")
        }
    )
    params.setdefault("application_name", APPLICATION_NAME)
    return make_conninfo(**params)


class PgCronHook(PostgresHook):
    """Hand out pgcron clients for an Airflow ``postgres`` connection.

    :param postgres_conn_id: the connection (type ``postgres``) to the database named by
        ``cron.database_name``, where pg_cron keeps its jobs. Default ``postgres_default``.

    Everything ``PostgresHook`` offers (``run``, ``get_records``, ...) still works on the same connection.
    """

    hook_name = "pg_cron (PostgreSQL)"

    def get_conninfo(self) -> str:
        """The libpq conninfo of the connection (sync: for operators and sensors on a worker)."""
        conn = self.get_connection(self.get_conn_id())
        return build_conninfo(
            host=conn.host,
            port=conn.port,
            login=conn.login,
            password=conn.password,
            schema=conn.schema,
            extras=conn.extra_dejson,
            database=self.database,
        )

    @staticmethod
    @contextmanager
    def use_client(
        client: pgcron.ClientProtocol, aclient: pgcron.AsyncClientProtocol | None = None
    ) -> Iterator[None]:
        """Until the block ends, every ``PgCronHook`` in this process hands out ``client`` (and ``aclient`` to
        triggers) instead of connecting; they are not closed. For unit tests with
        ``pgcron.testing.FakeClient``, whose ``aio`` view is the default ``aclient`` (docs/testing.md)."""
        global _substitute
        previous = _substitute
        _substitute = (client, aclient if aclient is not None else getattr(client, "aio", None))
        try:
            yield
        finally:
            _substitute = previous

    @contextmanager
    def get_client(self) -> Iterator[pgcron.ClientProtocol]:
        """A connected ``pgcron.Client``, closed when the block ends (or the client of ``use_client``)."""
        if _substitute is not None:
            yield _substitute[0]
            return
        client = pgcron.Client.connect(self.get_conninfo())
        try:
            yield client
        finally:
            client.close()

    async def aget_conninfo(self) -> str:
        """The conninfo, looked up without blocking the event loop (for triggers)."""
        conn = await self.aget_connection(self.get_conn_id())
        extras: dict[str, Any]
        aextra = getattr(conn, "aextra_dejson", None)
        if aextra is not None:  # Airflow >= 3.3.2: masks secrets without the sync supervisor call
            extras = await aextra()
        else:
            extras = json.loads(conn.extra) if conn.extra else {}
        return build_conninfo(
            host=conn.host,
            port=conn.port,
            login=conn.login,
            password=conn.password,
            schema=conn.schema,
            extras=extras,
            database=self.database,
        )

    @asynccontextmanager
    async def aget_client(self) -> AsyncIterator[pgcron.AsyncClientProtocol]:
        """A connected ``pgcron.AsyncClient``, closed when the block ends (for triggers; or the async client
        of ``use_client``)."""
        if _substitute is not None:
            if _substitute[1] is None:
                raise pgcron.PgCronError(
                    "PgCronHook.use_client() was given no async client, and a trigger asks for one: pass "
                    "aclient= (e.g. fake.aio)"
                )
            yield _substitute[1]
            return
        client = await pgcron.AsyncClient.connect(await self.aget_conninfo())
        try:
            yield client
        finally:
            await client.close()
