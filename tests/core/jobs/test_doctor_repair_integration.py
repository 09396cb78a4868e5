"""Doctor where things are broken, and `pgcron schema install` repairing the engine job (issue 11, row 12);
history purge under a hostile search_path (row 7). Real pg_cron, both execution modes where it matters.

Nothing here may raise for what doctor is meant to diagnose: no pg_cron in the database, no privileges,
no engine schema, a deleted or altered engine job.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from pgcron.cli import main as cli
from pgcron.client import Client
from pgcron.doctor import ENGINE_JOB, ENGINE_JOB_COMMAND, Check, Status
from pgcron.jobsfile import parse_duration
from pgcron.schema import install
from psycopg import sql

pytestmark = pytest.mark.integration


def _doctor(dsn: str) -> dict[str, Check]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {c.name: c for c in Client.connect(conn).doctor()}


def _wait_for(dsn: str, ok: Callable[[dict[str, Check]], bool], seconds: float = 60) -> dict[str, Check]:
    """Doctor's checks once ``ok`` holds (the engine job runs every 5 s)."""
    deadline = time.monotonic() + seconds
    while True:
        checks = _doctor(dsn)
        if ok(checks) or time.monotonic() > deadline:
            return checks
        time.sleep(1)


def _engine_jobs(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT jobid, command, active, username FROM cron.job WHERE jobname = %s", (ENGINE_JOB,)
        ).fetchall()


def _owner(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'pgcron'"
        ).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
def engine(pgcron_both_modes_dsn: str) -> Iterator[str]:
    """A server (each mode) with the engine installed; whatever a test breaks, install repairs after it."""
    install(pgcron_both_modes_dsn)
    yield pgcron_both_modes_dsn
    install(pgcron_both_modes_dsn)
    assert len(_engine_jobs(pgcron_both_modes_dsn)) == 1


@pytest.fixture
def database_without_pg_cron(pgcron_dsn: str) -> Iterator[str]:
    """A database on the same server where the extension is not created (dropped after the test)."""
    name = f"t_nocron_{secrets.token_hex(4)}"
    with psycopg.connect(pgcron_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(pgcron_dsn, dbname=name)
    finally:
        with psycopg.connect(pgcron_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# -- no pg_cron, wrong database, no privileges: FAIL lines, never a traceback -------------------------------


def test_doctor_in_a_database_without_pg_cron(database_without_pg_cron: str, pgcron_dsn: str) -> None:
    with psycopg.connect(pgcron_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    cron_db = str(row[0])
    checks = _doctor(database_without_pg_cron)
    extension = checks["extension"]
    assert extension.status is Status.FAIL
    # a superuser sees the launcher: doctor names the database to connect to instead
    assert f"runs in database {cron_db!r}" in extension.detail and cron_db in extension.hint
    assert checks["cron.database_name"].status is Status.FAIL
    assert checks["preload"].status is Status.PASS

    result = CliRunner().invoke(cli, ["doctor", "--dsn", database_without_pg_cron])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "FAIL" in result.output and "Traceback" not in result.output
    assert 'schema "cron" does not exist' not in result.output


def test_doctor_as_ordinary_role_without_pg_cron(
    database_without_pg_cron: str, plain_role: tuple[str, str]
) -> None:
    role, _ = plain_role
    dsn = psycopg.conninfo.make_conninfo(database_without_pg_cron, user=role)
    checks = _doctor(dsn)
    assert checks["extension"].status is Status.FAIL
    assert "CREATE EXTENSION pg_cron" in checks["extension"].hint


def test_doctor_as_role_without_any_grant(engine_dsn: str) -> None:
    role = f"t_bare_{secrets.token_hex(4)}"
    ident = sql.Identifier(role)
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
    try:
        dsn = psycopg.conninfo.make_conninfo(engine_dsn, user=role)
        checks = _doctor(dsn)
        assert (
            checks["privileges"].status is Status.FAIL
            and "USAGE on schema cron" in checks["privileges"].detail
        )
        assert checks["jobs"].status is Status.SKIP
        for name in ("execution mode", "max_running_jobs", "log_run"):
            assert checks[name].status is Status.SKIP
            assert "unknown (not readable by this role)" in checks[name].detail
        result = CliRunner().invoke(cli, ["doctor", "--dsn", dsn, "--json"])
        assert result.exit_code == 1 and "Traceback" not in result.output
    finally:
        with psycopg.connect(engine_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(ident))


def test_ordinary_role_sees_engine_checks_as_skip(plain_role: tuple[str, str]) -> None:
    _, dsn = plain_role
    checks = _doctor(dsn)
    assert checks["engine schema"].status is Status.PASS
    assert checks["engine job"].status is Status.SKIP
    assert "cron.job shows each role only its own jobs" in checks["engine job"].detail


def test_doctor_without_the_engine_schema(engine_dsn: str) -> None:
    # DROP SCHEMA inside a transaction that is rolled back: the shared server never loses the engine.
    with psycopg.connect(engine_dsn) as conn:
        conn.execute("SET LOCAL lock_timeout = '5s'")
        conn.execute("DROP SCHEMA pgcron CASCADE")
        checks = {c.name: c for c in Client.connect(conn).doctor()}
        conn.rollback()
    engine = checks["engine schema"]
    assert engine.status is Status.WARN and "not installed" in engine.detail
    assert "pgcron schema install" in engine.hint
    assert "engine job" not in checks


def test_connection_failure_is_a_check_line() -> None:
    result = CliRunner().invoke(cli, ["doctor", "--dsn", "host=/nonexistent-socket-dir connect_timeout=2"])
    assert result.exit_code == 1
    assert "connection" in result.output and "FAIL" in result.output and "Traceback" not in result.output


# -- the engine job: doctor checks it, install restores it ---------------------------------------------------


def _engine_ok(checks: dict[str, Check]) -> bool:
    return checks["engine job"].status is Status.PASS and checks["engine job runs"].status is Status.PASS


def test_unscheduled_engine_job_fails_doctor_and_install_restores_it(engine: str) -> None:
    owner = _owner(engine)
    before = _wait_for(engine, _engine_ok)
    assert _engine_ok(before), (before["engine job"], before["engine job runs"])
    assert owner in before["engine job"].detail

    with psycopg.connect(engine, autocommit=True) as conn:
        conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = %s", (ENGINE_JOB,))
    assert _engine_jobs(engine) == []
    broken = _doctor(engine)["engine job"]
    assert broken.status is Status.FAIL
    assert "does not exist" in broken.detail and "pgcron schema install" in broken.hint
    assert CliRunner().invoke(cli, ["doctor", "--dsn", engine]).exit_code == 1

    result = CliRunner().invoke(cli, ["schema", "install", "--dsn", engine])
    assert result.exit_code == 0, result.output
    ((_, command, active, username),) = _engine_jobs(engine)
    assert (command, active, username) == (ENGINE_JOB_COMMAND, True, owner)
    after = _wait_for(engine, _engine_ok)
    assert _engine_ok(after), (after["engine job"], after["engine job runs"])


def test_altered_engine_job_fails_doctor_and_install_repairs_it(engine: str) -> None:
    ((jobid, *_),) = _engine_jobs(engine)
    with psycopg.connect(engine, autocommit=True) as conn:
        conn.execute("SELECT cron.alter_job(%s::bigint, command := 'SELECT 1', active := false)", (jobid,))
    broken = _doctor(engine)["engine job"]
    assert broken.status is Status.FAIL
    assert "inactive" in broken.detail and ENGINE_JOB_COMMAND in broken.detail

    status = install(engine)
    assert status.maintenance_jobid is not None
    ((_, command, active, _),) = _engine_jobs(engine)
    assert (command, active) == (ENGINE_JOB_COMMAND, True)
    assert _doctor(engine)["engine job"].status is Status.PASS


def test_leftover_job_timeouts_is_a_warning_that_install_clears(engine: str) -> None:
    with psycopg.connect(engine, autocommit=True) as conn:
        # Feb 31 never comes: the leftover never runs during the test.
        conn.execute(
            "SELECT cron.schedule('pgcron:job-timeouts', '0 0 31 2 *',"
            " 'SELECT pgcron.enforce_job_timeouts()')"
        )
    leftover = _doctor(engine)["leftover engine job"]
    assert leftover.status is Status.WARN and "merged it into pgcron:maintenance" in leftover.detail
    assert "pgcron schema install" in leftover.hint
    install(engine)
    assert "leftover engine job" not in _doctor(engine)
    with psycopg.connect(engine, autocommit=True) as conn:
        assert conn.execute(
            "SELECT count(*) FROM cron.job WHERE jobname = 'pgcron:job-timeouts'"
        ).fetchone() == (0,)


def test_engine_job_whose_runs_all_fail_is_a_failure(engine: str) -> None:
    _wait_for(engine, _engine_ok)
    ((jobid, *_),) = _engine_jobs(engine)
    with psycopg.connect(engine) as conn:  # rolled back: the launcher never sees the change
        # One snapshot for the whole transaction: a run that finishes meanwhile stays invisible.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.execute("SET LOCAL lock_timeout = '2s'")
        # Only finished rows: the launcher still writes the running one.
        conn.execute(
            "UPDATE cron.job_run_details SET status = 'failed', return_message = 'ERROR:  boom'"
            " WHERE jobid = %s AND status = 'succeeded' AND start_time > now() - interval '10 minutes'",
            (jobid,),
        )
        checks = {c.name: c for c in Client.connect(conn).doctor()}
        conn.rollback()
    runs = checks["engine job runs"]
    assert runs.status is Status.FAIL and "boom" in runs.detail


# -- row 7: a shadowed built-in on the search_path is never called by history purge ------------------------


@pytest.fixture
def hostile_search_path(engine_dsn: str) -> Iterator[tuple[str, str]]:
    """A schema on the search_path with exact-type twins of the built-ins the purge used to call unqualified.

    Each twin logs that it ran (as whom) and then behaves like the built-in. Yields (dsn, schema).
    """
    schema = f"t_evil_{secrets.token_hex(4)}"
    ident = sql.Identifier(schema)
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
        conn.execute(sql.SQL("CREATE TABLE {}.log (fn text, who text)").format(ident))
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {s}.agg_step(bigint[], bigint) RETURNS bigint[] LANGUAGE plpgsql AS"
                " $$ BEGIN INSERT INTO {s}.log VALUES ('array_agg', current_user); RETURN $1 || $2; END $$"
            ).format(s=ident)
        )
        conn.execute(
            sql.SQL("CREATE AGGREGATE {s}.array_agg(bigint) (sfunc = {s}.agg_step, stype = bigint[])").format(
                s=ident
            )
        )
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {s}.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql AS"
                " $$ BEGIN INSERT INTO {s}.log VALUES ('unnest', current_user);"
                " RETURN QUERY SELECT pg_catalog.unnest($1); END $$"
            ).format(s=ident)
        )
    dsn = psycopg.conninfo.make_conninfo(engine_dsn, options=f"-c search_path={schema},public")
    try:
        yield dsn, schema
    finally:
        with psycopg.connect(engine_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(ident))


_OLD_RUNS = (
    "INSERT INTO cron.job_run_details (jobid, runid, database, username, command, status, return_message,"
    " start_time, end_time)"
    " SELECT %(jobid)s, nextval('cron.runid_seq'), current_database(), current_user, 'SELECT 1', 'succeeded',"
    " '1 row', now() - %(age)s::interval, now() - %(age)s::interval FROM generate_series(1, %(n)s)"
)


def _job(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute(
        "SELECT cron.schedule_in_database(%s::text, '0 0 31 2 *', 'SELECT 1', current_database()::text,"
        " NULL, false)",
        (name,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _runs(conn: psycopg.Connection[Any], jobid: int) -> int:
    row = conn.execute("SELECT count(*) FROM cron.job_run_details WHERE jobid = %s", (jobid,)).fetchone()
    assert row is not None
    return int(row[0])


def _calls(dsn: str, schema: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql.SQL("SELECT fn, who FROM {}.log").format(sql.Identifier(schema))).fetchall()


def test_purge_never_calls_a_shadowed_builtin(hostile_search_path: tuple[str, str], namespace: str) -> None:
    dsn, schema = hostile_search_path
    with psycopg.connect(dsn, autocommit=True) as conn:
        # The trap is real: unqualified, the exact-type twin wins over the polymorphic built-in.
        conn.execute("SELECT array_agg(x) FROM (VALUES (1::bigint)) v(x)")
        assert _calls(dsn, schema), "the hostile array_agg(bigint) should shadow the built-in"
        conn.execute(sql.SQL("TRUNCATE {}.log").format(sql.Identifier(schema)))
        mine = _job(conn, f"{namespace}:a")
        other = _job(conn, f"{namespace}outside")  # not in the namespace: its runs stay
        for jobid, n, age in ((mine, 30, "10 days"), (mine, 3, "1 hour"), (other, 5, "10 days")):
            conn.execute(_OLD_RUNS, {"jobid": jobid, "n": n, "age": age})
        before = conn.execute("SHOW search_path").fetchone()
        dry = Client.connect(conn).purge_history(
            parse_duration("7d"), job_prefix=f"{namespace}:", dry_run=True
        )
        assert dry.deleted == 30
        done = Client.connect(conn).purge_history(parse_duration("7d"), batch=7, job_prefix=f"{namespace}:")
        assert done.deleted == 30 and done.batches >= 2
        assert (
            Client.connect(conn)
            .purge_history(parse_duration("7d"), job_prefix="t_no_such_namespace:")
            .deleted
            == 0
        )
        assert conn.execute("SHOW search_path").fetchone() == before  # the caller's path is put back
        assert (_runs(conn, mine), _runs(conn, other)) == (3, 5)
        conn.execute(_OLD_RUNS, {"jobid": mine, "n": 4, "age": "10 days"})
    result = CliRunner().invoke(
        cli, ["history", "purge", "--older-than", "7d", "--namespace", namespace, "--dsn", dsn]
    )
    assert result.exit_code == 0, result.output
    assert "deleted 4 run rows" in result.output
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert (_runs(conn, mine), _runs(conn, other)) == (3, 5)
        conn.execute("DELETE FROM cron.job_run_details WHERE jobid = %s", (other,))
    result = CliRunner().invoke(cli, ["doctor", "--dsn", dsn])
    assert "Traceback" not in result.output
    assert _calls(dsn, schema) == []


def test_install_pins_and_restores_the_search_path(hostile_search_path: tuple[str, str]) -> None:
    dsn, schema = hostile_search_path
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = conn.execute("SHOW search_path").fetchone()
        assert before is not None and schema in str(before[0])
        status = install(conn)
        assert status.up_to_date and status.maintenance_jobid is not None
        assert conn.execute("SHOW search_path").fetchone() == before
        checks = {c.name: c for c in Client.connect(conn).doctor()}
        assert checks["engine job"].status is Status.PASS
        assert conn.execute("SHOW search_path").fetchone() == before
    assert _calls(dsn, schema) == []
