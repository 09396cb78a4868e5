"""Top-level statements (one-shot minute path) and the specific errors, in both execution modes."""

from __future__ import annotations

import asyncio
import secrets

import psycopg
import pytest
from pgcron.errors import PermissionDenied, UnsupportedCommand, WrongDatabase
from pgcron.models import RunStatus
from pgcron.pushdown import AsyncPushdown, UnknownDatabase
from psycopg import sql

from .conftest import COUNTER, JOB_REMOVAL_BOUND_S, job_exists, query_one, wait_until

pytestmark = pytest.mark.integration


@pytest.mark.slow
async def test_top_level_statements_run_once(
    pushdown: AsyncPushdown, engine_dsn: str, token: str, other_database: str
) -> None:
    # VACUUM and CREATE INDEX CONCURRENTLY cannot run inside the procedure, nor can SQL for another database
    # (the procedure lives in pg_cron's database only): they get a verbatim job on a cron minute that occurs
    # once. Latency is up to ~65 s (the next minute boundary), so all three wait for the same minute.
    index = f"pushdown_idx_{token}"
    create = (
        sql.SQL("CREATE INDEX CONCURRENTLY {} ON {} (token)")
        .format(sql.Identifier(index), sql.Identifier(COUNTER))
        .as_string(None)
    )
    # Its own table: VACUUM and CREATE INDEX CONCURRENTLY on one table in the same minute take conflicting
    # locks and PostgreSQL may resolve that as a deadlock (seen in libpq mode).
    vacuumed = f"pushdown_vacuum_{token}"
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(vacuumed)))
    vacuum = sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(vacuumed)).as_string(None)
    try:
        h_create, h_vacuum, h_other = await asyncio.gather(
            pushdown.submit(create, key=f"c-{token}"),
            pushdown.submit(vacuum, key=f"v-{token}"),
            pushdown.submit("CREATE TABLE made_here (x int)", database=other_database),
        )
        again = await pushdown.submit(create, key=f"c-{token}")
        assert again.submission_id == h_create.submission_id
        r_create, r_vacuum, r_other = await asyncio.gather(
            pushdown.wait(h_create, timeout=150),
            pushdown.wait(h_vacuum, timeout=150),
            pushdown.wait(h_other, timeout=150),
        )
        assert r_other.status is RunStatus.SUCCEEDED and r_other.database == other_database
        other = psycopg.conninfo.make_conninfo(engine_dsn, dbname=other_database)
        assert query_one(other, "SELECT to_regclass('made_here') IS NOT NULL") == (True,)
        assert r_create.status is RunStatus.SUCCEEDED and r_create.message == "CREATE INDEX"
        assert r_vacuum.status is RunStatus.SUCCEEDED and r_vacuum.message == "VACUUM"
        assert query_one(engine_dsn, "SELECT to_regclass(%s) IS NOT NULL", (index,)) == (True,)
        for run in (r_create, r_vacuum):
            wait_until(
                lambda run=run: not job_exists(engine_dsn, run.jobid), JOB_REMOVAL_BOUND_S, "job removal"
            )
            assert query_one(
                engine_dsn, "SELECT count(*) FROM cron.job_run_details WHERE jobid = %s", (run.jobid,)
            ) == (1,)
    finally:
        with psycopg.connect(engine_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(index)))
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(vacuumed)))


async def test_top_level_cancel_before_its_minute(
    pushdown: AsyncPushdown, engine_dsn: str, token: str
) -> None:
    handle = await pushdown.submit(sql.SQL("VACUUM {}").format(sql.Identifier(COUNTER)).as_string(None))
    assert job_exists(engine_dsn, handle.jobid)
    await pushdown.cancel(handle)
    run = await pushdown.wait(handle, timeout=10)
    assert run.status is RunStatus.CANCELED
    assert not job_exists(engine_dsn, handle.jobid)  # removed at once: it can never fire


@pytest.mark.parametrize(
    "command",
    [
        "BEGIN; SELECT 1; COMMIT",
        "COPY pg_class TO STDOUT",
        "-- only a comment",
        "SELECT 1; VACUUM",
        "SELEC 1",
    ],
)
async def test_refused_by_the_pre_checks_creates_nothing(
    pushdown: AsyncPushdown, engine_dsn: str, command: str
) -> None:
    before = query_one(engine_dsn, "SELECT count(*) FROM pgcron.submission")
    with pytest.raises(UnsupportedCommand):
        await pushdown.submit(command)
    assert query_one(engine_dsn, "SELECT count(*) FROM pgcron.submission") == before


async def test_unknown_target_database(pushdown: AsyncPushdown, token: str) -> None:
    with pytest.raises(UnknownDatabase, match=f"no_such_db_{token}"):
        await pushdown.submit("SELECT 1", database=f"no_such_db_{token}")


@pytest.fixture
def other_database(engine_dsn: str) -> str:
    """A database without pg_cron on the same server (dropped afterwards)."""
    name = f"pushdown_other_{secrets.token_hex(4)}"
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name  # type: ignore[misc]
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def test_connected_to_the_wrong_database(engine_dsn: str, other_database: str) -> None:
    dsn = psycopg.conninfo.make_conninfo(engine_dsn, dbname=other_database)
    p = AsyncPushdown(dsn)
    try:
        with pytest.raises(WrongDatabase, match="Connect to 'postgres'"):
            await p.submit("SELECT 1")
    finally:
        await p.aclose()


async def test_role_without_cron_privilege(engine_dsn: str, token: str) -> None:
    role = f"pushdown_nopriv_{token}"
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        p = AsyncPushdown(psycopg.conninfo.make_conninfo(engine_dsn, user=role))
        try:
            with pytest.raises(PermissionDenied, match="GRANT USAGE ON SCHEMA cron"):
                await p.submit("SELECT 1")
        finally:
            await p.aclose()
    finally:
        with psycopg.connect(engine_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


async def test_an_ordinary_role_with_cron_usage_can_push_down(engine_dsn: str, token: str) -> None:
    # cron.alter_job and cron.schedule_in_database are revoked from PUBLIC: the engine must not need them.
    role = f"pushdown_user_{token}"
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA cron TO {}").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT INSERT ON {} TO {}").format(sql.Identifier(COUNTER), sql.Identifier(role))
        )
    try:
        p = AsyncPushdown(psycopg.conninfo.make_conninfo(engine_dsn, user=role))
        try:
            run = await p.run_now(
                sql.SQL("INSERT INTO public.{} (token) VALUES ({})")
                .format(sql.Identifier(COUNTER), sql.Literal(token))
                .as_string(None),
                key=f"k-{token}",
            )
            assert run.status is RunStatus.SUCCEEDED and run.username == role
        finally:
            await p.aclose()
        wait_until(
            lambda: not job_exists(engine_dsn, run.jobid), JOB_REMOVAL_BOUND_S, "temporary job removal"
        )
        assert query_one(
            engine_dsn,
            sql.SQL("SELECT count(*) FROM {} WHERE token = %s")
            .format(sql.Identifier(COUNTER))
            .as_string(None),
            (token,),
        ) == (1,)
    finally:
        with psycopg.connect(engine_dsn, autocommit=True) as conn:
            # A job whose role is dropped crash-loops pg_cron's launcher: remove the role's jobs first.
            conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE username = %s", (role,))
            conn.execute("DELETE FROM pgcron.submission WHERE username = %s", (role,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
