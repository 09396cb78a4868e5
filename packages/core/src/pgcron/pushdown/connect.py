"""Dedicated connections for pushdown: the waiter hub opens its own (LISTEN needs a connection of its own, and
waits must not queue behind the client's work), using the same server and credentials as the client.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from pgcron.errors import ConnectionFailed
from pgcron.pushdown.hub import ConnectFactory

__all__ = ["async_connect_factory", "conninfo_of"]


def conninfo_of(target: Any) -> str:
    """The conninfo behind a DSN, a psycopg (Async)Connection or a psycopg_pool (Async)ConnectionPool."""
    if isinstance(target, str):
        return target
    info = getattr(target, "info", None)
    if info is not None and hasattr(info, "dsn"):
        password = info.password
        return make_conninfo(info.dsn, password=password) if password else str(info.dsn)
    conninfo = getattr(target, "conninfo", None)
    if isinstance(conninfo, str):
        kwargs = getattr(target, "kwargs", None) or {}
        extra = {k: v for k, v in kwargs.items() if isinstance(v, (str, int))}
        return make_conninfo(conninfo, **extra)
    raise TypeError(f"cannot tell which server {type(target).__name__} connects to")


def async_connect_factory(target: Any) -> ConnectFactory:
    """A coroutine factory of new autocommit connections to the same server as ``target``."""
    conninfo = conninfo_of(target)

    async def connect() -> psycopg.AsyncConnection[Any]:
        try:
            return await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise ConnectionFailed(f"could not open a pushdown connection: {exc}") from exc

    return connect
