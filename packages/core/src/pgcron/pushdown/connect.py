"""Which server a pushdown talks to: the conninfo behind whatever the client was given (the connections
themselves are the process's shared ones, ``pgcron._shared_async``).
"""

from __future__ import annotations

from typing import Any

from psycopg.conninfo import make_conninfo

__all__ = ["conninfo_of"]


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
