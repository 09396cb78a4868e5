"""Fixtures of the Dagster integration tests: a scratch table per test on the real pg_cron server."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from pgcron.schema import install
from psycopg import sql


@pytest.fixture(scope="session")
def engine_dsn(pgcron_dsn: str) -> str:
    """The default server with the engine schema installed (pushdown, apply record), as users do."""
    install(pgcron_dsn)
    return pgcron_dsn


@pytest.fixture
def scratch_table(engine_dsn: str, job_prefix: str) -> Iterator[str]:
    """A fresh table ``<job_prefix>t(n int)``, dropped after the test."""
    name = f"{job_prefix}t"
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (n int)").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


def insert_command(table: str, n: int = 1) -> str:
    """A pg_cron command inserting 1..n into ``table`` (composed with psycopg.sql, not formatted)."""
    query = sql.SQL("INSERT INTO {} SELECT generate_series(1, {})").format(
        sql.Identifier(table), sql.Literal(n)
    )
    return query.as_string(None)


def count_rows(dsn: str, table: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    assert row is not None
    return int(row[0])
