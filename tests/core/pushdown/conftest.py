"""Fixtures for the pushdown tests: the engine schema on the server, a counter table that proves how often a
command ran, and clients (async and sync) bound to one execution mode."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from pgcron.pushdown import AsyncPushdown, Pushdown
from pgcron.schema import install
from psycopg import sql

from tests.helpers import query_one, wait_until  # noqa: F401 (the tests import them from here)

COUNTER = "pushdown_test_counter"


def ensure_engine(dsn: str) -> None:
    """Install the engine schema (pushdown included) the way users do; idempotent."""
    install(dsn)


_prepared: set[str] = set()


@pytest.fixture
def engine_dsn(pgcron_both_modes_dsn: str) -> str:
    if pgcron_both_modes_dsn not in _prepared:
        ensure_engine(pgcron_both_modes_dsn)
        with psycopg.connect(pgcron_both_modes_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (token text NOT NULL, at timestamptz DEFAULT now())"
                ).format(sql.Identifier(COUNTER))
            )
        _prepared.add(pgcron_both_modes_dsn)
    return pgcron_both_modes_dsn


@pytest.fixture
def token() -> str:
    """A unique marker a test's command writes into the counter table."""
    return f"t{secrets.token_hex(6)}"


def insert_sql(token: str, then: str | None = None) -> str:
    """A command that records one execution of itself, optionally followed by another statement."""
    insert = sql.SQL("INSERT INTO {} (token) VALUES ({})").format(sql.Identifier(COUNTER), sql.Literal(token))
    parts = [insert] if then is None else [insert, sql.SQL(then)]  # type: ignore[arg-type]
    return sql.SQL("; ").join(parts).as_string(None)


def count(dsn: str, token: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE token = %s").format(sql.Identifier(COUNTER)), (token,)
        ).fetchone()
        assert row is not None
        return int(row[0])


def job_exists(dsn: str, jobid: int | None) -> bool:
    return query_one(dsn, "SELECT 1 FROM cron.job WHERE jobid = %s", (jobid,)) is not None


# Bound: maintenance runs every 5 s and removes a job once its run row is terminal and its backend gone.
JOB_REMOVAL_BOUND_S = 20.0


@pytest.fixture
async def pushdown(engine_dsn: str) -> AsyncIterator[AsyncPushdown]:
    p = AsyncPushdown(engine_dsn)
    yield p
    await p.aclose()


@pytest.fixture
def sync_pushdown(engine_dsn: str) -> Iterator[Pushdown]:
    p = Pushdown(engine_dsn)
    yield p
    p.close()
