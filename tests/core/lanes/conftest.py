"""Fixtures for the lane tests: the engine schema, real login roles (alice, mallory) set up as the docs ask
(LOGIN, USAGE on schema cron), a counter table they may write, and clean-up that stops their lanes and removes
their jobs before the roles are dropped (a job whose role is gone crash-loops pg_cron's launcher)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from pgcron.schema import install
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.helpers import query_one, wait_until  # noqa: F401 (the tests import them from here)

COUNTER = "lane_test_counter"
_prepared: set[str] = set()


@pytest.fixture
def engine_dsn(pgcron_both_modes_dsn: str) -> str:
    dsn = pgcron_both_modes_dsn
    if dsn not in _prepared:
        install(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            table = sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (token text NOT NULL, at timestamptz DEFAULT now())"
            )
            conn.execute(table.format(sql.Identifier(COUNTER)))
            conn.execute(sql.SQL("GRANT SELECT, INSERT ON {} TO PUBLIC").format(sql.Identifier(COUNTER)))
        _prepared.add(dsn)
    return dsn


def as_role(dsn: str, role: str) -> str:
    params = conninfo_to_dict(dsn)
    params["user"] = role
    params.pop("password", None)
    return make_conninfo(**params)  # type: ignore[arg-type]


def _drop_role(dsn: str, role: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE pgcron.lane_config SET workers = 0 WHERE role = %s", (role,))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # let its workers end their runs before their jobs go
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()",
                (role,),
            ).fetchone()
            if row is not None and row[0] == 0:
                break
            time.sleep(0.2)
        conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE username = %s", (role,))
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
        conn.execute("DELETE FROM pgcron.lane_worker WHERE role = %s", (role,))
        conn.execute("DELETE FROM pgcron.lane_config WHERE role = %s", (role,))
        conn.execute("DELETE FROM pgcron.submission WHERE submitted_by = %s OR username = %s", (role, role))
        conn.execute("DELETE FROM pgcron.role_channel WHERE role = %s", (role,))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture
def make_role(engine_dsn: str) -> Iterator[Callable[[str], str]]:
    """``make_role("alice")`` → the DSN of a fresh LOGIN role ``lane_alice_<hex>`` with USAGE on cron."""
    made: list[str] = []

    def make(name: str) -> str:
        role = f"lane_{name}_{secrets.token_hex(3)}"
        with psycopg.connect(engine_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA cron TO {}").format(sql.Identifier(role)))
        made.append(role)
        return as_role(engine_dsn, role)

    yield make
    for role in made:
        _drop_role(engine_dsn, role)


@pytest.fixture
def token() -> str:
    return f"t{secrets.token_hex(6)}"


def insert_sql(token: str, then: str | None = None) -> str:
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
