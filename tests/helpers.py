"""Helpers shared by every test package: raw look-ups over a DSN (what a test checks behind the client's back)
and pollers with a deadline. Import them as ``from tests.helpers import ...`` (pytest runs from the repository
root, ``python -m pytest``); the conftests re-export them, so ``from .conftest import wait_until`` works too.

Test-only: the library reaches PostgreSQL through its one seam, these helpers deliberately do not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import sql

__all__ = ["poll", "query_all", "query_one", "scalar", "wait_for", "wait_until"]

T = TypeVar("T")


def query_all(dsn: str, query: sql.Composable | str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every row of ``query`` on a fresh autocommit connection (none for a statement without rows)."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        statement = query if isinstance(query, sql.Composable) else sql.SQL(query)  # type: ignore[arg-type]
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description is not None else []


def query_one(dsn: str, query: sql.Composable | str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """The first row of ``query``, or None."""
    rows = query_all(dsn, query, params)
    return rows[0] if rows else None


def scalar(dsn: str, query: sql.Composable | str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row of ``query``, or None."""
    row = query_one(dsn, query, params)
    return None if row is None else row[0]


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> float:
    """Poll ``check`` until true; fail naming ``what`` after ``timeout`` s. Returns the seconds taken."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def poll(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Like ``wait_until`` but returns False on timeout (the caller asserts what it means)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            return False
        time.sleep(interval)
    return True


def wait_for(
    probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy and return that; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
