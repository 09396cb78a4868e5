"""Pin ``search_path = pg_catalog, pg_temp`` while pgcron runs its own statements on a connection.

Privileged commands (``pgcron history purge``, ``pgcron doctor``, index creation) are often run by a superuser
whose search_path includes a schema another role may write (``public`` on clusters created before PG 15). A
function there with an exact argument type beats the polymorphic built-in (``public.array_agg(bigint)`` over
``pg_catalog.array_agg(anynonarray)``) and would run with the superuser's rights. The named queries qualify
their calls too; pinning the path also covers operators and anything a query forgets.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from pgcron.sql import get_query

__all__ = ["pinned_search_path"]

_USABLE = (psycopg.pq.TransactionStatus.IDLE, psycopg.pq.TransactionStatus.INTRANS)


@contextmanager
def pinned_search_path(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Run the block with the connection's search_path pinned, then put the caller's back.

    The setting is session-level (it must outlive each autocommit statement); inside a transaction that
    rolls back, PostgreSQL undoes it by itself.
    """
    with conn.cursor() as cur:
        cur.execute(get_query("search_path_current"))
        row = cur.fetchone()
        previous = str(row[0]) if row is not None else ""
        cur.execute(get_query("search_path_pin"))
    try:
        yield
    finally:
        if not conn.closed and conn.info.transaction_status in _USABLE:
            with conn.cursor() as cur:
                cur.execute(get_query("search_path_restore"), {"search_path": previous})
