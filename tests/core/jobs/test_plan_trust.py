"""plan/apply and other roles against real pg_cron: issue 11 rows 2, 4, 7 (`apply --prune`), 11; ADR 0005 (7).

``mallory`` is an ordinary role set up as the docs say (LOGIN, USAGE on schema cron). Every test asserts that
the harm did not happen (her job unchanged in every column, she is not superuser, nothing applied, no drift),
not only that an error was raised.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from pgcron.client import Client
from pgcron.models import JobSpec
from pgcron.plan import Action, ApplyResult, PlanLocked, PlanStale
from psycopg import sql

pytestmark = pytest.mark.integration

NEVER = "0 0 31 2 *"  # February 31st: these jobs never run on the shared server
EVIL = "ALTER ROLE {} SUPERUSER"


def _job_rows(conn: psycopg.Connection[Any], name: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT jobid, jobname, schedule, command, database, username, active, nodename, nodeport"
        " FROM cron.job WHERE jobname = %s ORDER BY jobid",
        (name,),
    ).fetchall()


def _is_superuser(conn: psycopg.Connection[Any], role: str) -> bool:
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    assert row is not None
    return bool(row[0])


@pytest.fixture
def mallory(plain_role: tuple[str, str]) -> Iterator[tuple[str, psycopg.Connection[Any]]]:
    """The hostile role and an autocommit connection as her."""
    role, dsn = plain_role
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield role, conn


def _malicious_job(mallory: tuple[str, psycopg.Connection[Any]], name: str) -> int:
    role, conn = mallory
    command = EVIL.format(sql.Identifier(role).as_string(conn))
    row = conn.execute("SELECT cron.schedule(%s, %s, %s)", (name, NEVER, command)).fetchone()
    assert row is not None
    return int(row[0])


def test_a_same_named_job_of_another_role_is_never_adopted_or_pruned(
    conn: psycopg.Connection[Any], namespace: str, mallory: tuple[str, psycopg.Connection[Any]]
) -> None:
    role, _ = mallory
    name = f"{namespace}:report"
    theirs = _malicious_job(mallory, name)
    before = _job_rows(conn, name)
    assert [r[5] for r in before] == [role]

    # The file's job has mallory's schedule, even her command: it is still not hers to give away.
    specs = [JobSpec("report", NEVER, before[0][3], active=False)]
    plan = Client.connect(conn).plan(specs, namespace=namespace)
    (change,) = plan.changes
    assert change.action is Action.CREATE  # never an update of jobid `theirs`
    assert plan.notes == (f"job {name} (jobid {theirs}) of role {role} is not managed by this plan",)
    result = Client.connect(conn).apply(plan)

    me = conn.execute("SELECT current_user").fetchone()
    assert me is not None
    rows = _job_rows(conn, name)
    mine = [r for r in rows if r[5] == me[0]]
    assert len(rows) == 2 and len(mine) == 1 and mine[0][0] == result.jobids[name] != theirs
    assert [r for r in rows if r[0] == theirs] == before  # every column as mallory left it
    assert not _is_superuser(conn, role)
    assert (
        not Client.connect(conn).plan(specs, namespace=namespace).pending
    )  # her job does not disturb the next plan

    # --prune as the superuser deletes its own job only.
    prune = Client.connect(conn).plan([], namespace=namespace, prune=True)
    assert [(c.action, c.jobid) for c in prune.changes] == [(Action.DELETE, mine[0][0])]
    Client.connect(conn).apply(prune)
    assert _job_rows(conn, name) == before
    assert not _is_superuser(conn, role)


def test_another_roles_open_transaction_neither_blocks_nor_rides_along(
    conn: psycopg.Connection[Any], namespace: str, mallory: tuple[str, psycopg.Connection[Any]]
) -> None:
    # Issue 11 row 2: mallory holds an open same-name upsert that swaps in her command while the superuser
    # applies. Her job is not the plan's, so the apply neither waits for her nor touches her row.
    role, mconn = mallory
    name = f"{namespace}:race"
    theirs = _malicious_job(mallory, name)
    specs = [JobSpec("race", NEVER, "SELECT 1", active=False)]
    plan = Client.connect(conn).plan(specs, namespace=namespace)
    mconn.autocommit = False
    try:
        mconn.execute("SELECT cron.schedule(%s, %s, 'SELECT 2')", (name, NEVER))  # row lock on her job
        started = time.monotonic()
        result = Client.connect(conn).apply(plan, lock_timeout=timedelta(seconds=2))
        assert time.monotonic() - started < 30
    finally:
        mconn.rollback()
        mconn.autocommit = True
    rows = {r[0]: r for r in _job_rows(conn, name)}
    assert rows[result.jobids[name]][3] == "SELECT 1" and rows[result.jobids[name]][5] != role
    assert rows[theirs][5] == role and rows[theirs][3].startswith("ALTER ROLE")
    assert not _is_superuser(conn, role)


def test_a_change_committed_while_apply_waits_refuses_the_apply(
    conn: psycopg.Connection[Any], engine_dsn: str, namespace: str
) -> None:
    # Compare-and-swap: another session changes the planned job and holds it; apply waits for the row, sees
    # the new version, and refuses instead of applying its plan over (or with) that change.
    name = f"{namespace}:cas"
    Client.connect(conn).apply(
        Client.connect(conn).plan([JobSpec("cas", NEVER, "SELECT 1", active=False)], namespace=namespace)
    )
    plan = Client.connect(conn).plan(
        [JobSpec("cas", "0 0 30 2 *", "SELECT 1", active=False)], namespace=namespace
    )
    app = f"pgcron-test-cas-{secrets.token_hex(3)}"
    outcome: dict[str, Any] = {}

    def run_apply() -> None:
        with psycopg.connect(engine_dsn, autocommit=True, application_name=app) as applier:
            try:
                outcome["result"] = Client.connect(applier).apply(plan, lock_timeout=timedelta(seconds=60))
            except Exception as exc:  # noqa: BLE001 - handed to the test thread
                outcome["error"] = exc

    with psycopg.connect(engine_dsn) as other:  # not autocommit: holds the row until commit
        other.execute(
            "SELECT cron.alter_job(jobid, command := 'SELECT 3') FROM cron.job WHERE jobname = %s"
            " AND username = current_user",
            (name,),
        )
        thread = threading.Thread(target=run_apply)
        thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = %s AND wait_event_type = 'Lock'",
                (app,),
            ).fetchone()
            if row == (1,) or not thread.is_alive():
                break
            time.sleep(0.05)
        other.commit()
    thread.join(60)
    assert not thread.is_alive()
    assert "result" not in outcome, outcome
    error = outcome["error"]
    assert isinstance(error, PlanStale), error
    assert f"{name} (jobid" in error.message and "command" in error.message
    (live,) = _job_rows(conn, name)
    assert live[2:4] == (
        NEVER,
        "SELECT 3",
    )  # the other session's change stands; the plan's did not ride on it


def test_a_blocking_transaction_fails_the_apply_within_lock_timeout(
    conn: psycopg.Connection[Any], engine_dsn: str, namespace: str
) -> None:
    name = f"{namespace}:held"
    created = Client.connect(conn).apply(
        Client.connect(conn).plan([JobSpec("held", NEVER, "SELECT 1", active=False)], namespace=namespace)
    )
    jobid = created.jobids[name]
    plan = Client.connect(conn).plan([JobSpec("held", NEVER, "SELECT 2", active=False)], namespace=namespace)
    with psycopg.connect(engine_dsn) as other:
        other.execute("SELECT 1 FROM cron.job WHERE jobid = %s FOR UPDATE", (jobid,))
        started = time.monotonic()
        with pytest.raises(PlanLocked, match=rf"another session holds job {name} \(jobid {jobid}\).*retry"):
            Client.connect(conn).apply(plan, lock_timeout=timedelta(seconds=1))
        assert time.monotonic() - started < 30  # bounded by lock_timeout, not by the other session
        other.rollback()
    (live,) = _job_rows(conn, name)
    assert live[3] == "SELECT 1"  # nothing applied
    assert Client.connect(conn).apply(plan).updated == (
        name,
    )  # and the same plan applies once the lock is gone


def test_another_role_cannot_forge_a_record_or_invent_drift(
    conn: psycopg.Connection[Any], namespace: str, mallory: tuple[str, psycopg.Connection[Any]]
) -> None:
    role, mconn = mallory
    specs = [JobSpec("rec", NEVER, "SELECT 1", active=False, timeout=timedelta(minutes=5))]
    jobid = (
        Client.connect(conn)
        .apply(Client.connect(conn).plan(specs, namespace=namespace))
        .jobids[f"{namespace}:rec"]
    )
    record = conn.execute(
        "SELECT spec, timeout FROM pgcron.applied_job WHERE jobid = %s", (jobid,)
    ).fetchone()
    assert record is not None and record[1] == timedelta(minutes=5)

    forged = psycopg.types.json.Jsonb({"schedule": "* * * * *", "timeout_seconds": 0.001})
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=str(jobid)):
        mconn.execute("SELECT pgcron.record_applied_jobs(%s, %s, %s)", ([jobid], [forged], [False]))
    for statement in (
        (
            "INSERT INTO pgcron.applied_job (jobid, jobname, namespace, username, spec)"
            " VALUES (%(jobid)s, 'x:y', 'x', current_user, '{}')"
        ),
        "UPDATE pgcron.applied_job SET spec = '{}' WHERE jobid = %(jobid)s",
        "DELETE FROM pgcron.applied_job WHERE jobid = %(jobid)s",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            mconn.execute(statement, {"jobid": jobid})
    mconn.execute("SELECT pgcron.forget_applied_jobs(%s, %s)", (namespace, [jobid]))
    assert mconn.execute("SELECT count(*) FROM pgcron.applied_job").fetchone() == (0,)  # sees only her own

    after = conn.execute("SELECT spec, timeout FROM pgcron.applied_job WHERE jobid = %s", (jobid,)).fetchone()
    assert after == record
    plan = Client.connect(conn).plan(specs, namespace=namespace)
    assert not plan.pending and not plan.drifted, plan.to_dict()
    assert not _is_superuser(conn, role)


def test_functions_in_a_writable_schema_on_the_search_path_are_never_called(
    conn: psycopg.Connection[Any], namespace: str
) -> None:
    # Issue 11 row 7: a role with CREATE on a schema of the applier's search_path defines better matches for
    # the built-ins apply calls (unnest(bigint[]) in --prune, unnest(text[]) in creates); none may run.
    schema = f"t_shadow_{secrets.token_hex(4)}"
    ident = sql.Identifier(schema)
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
    try:
        for signature, returns in (("bigint[]", "bigint"), ("text[]", "text"), ("boolean[]", "boolean")):
            conn.execute(
                sql.SQL(
                    "CREATE FUNCTION {}.unnest({}) RETURNS SETOF {} LANGUAGE plpgsql AS"
                    " $$BEGIN RAISE EXCEPTION 'shadowing unnest called'; END$$"
                ).format(ident, sql.SQL(signature), sql.SQL(returns))
            )
        conn.execute(sql.SQL("SET search_path = {}, public").format(ident))
        with pytest.raises(psycopg.Error, match="shadowing unnest called"):  # the trap works
            conn.execute("SELECT * FROM unnest(ARRAY[1]::bigint[])")

        specs = [JobSpec("a", NEVER, "SELECT 1", active=False), JobSpec("b", NEVER, "SELECT 2", active=False)]
        first: ApplyResult = Client.connect(conn).apply(Client.connect(conn).plan(specs, namespace=namespace))
        assert sorted(first.created) == [f"{namespace}:a", f"{namespace}:b"]
        changed = [JobSpec("a", NEVER, "SELECT 3", active=False)]
        pruned = Client.connect(conn).apply(
            Client.connect(conn).plan(changed, namespace=namespace, prune=True)
        )
        assert pruned.updated == (f"{namespace}:a",) and pruned.deleted == (f"{namespace}:b",)
        # the session's own search_path is back after plan and apply
        assert conn.execute("SHOW search_path").fetchone() == (f"{schema}, public",)
    finally:
        conn.execute("RESET search_path")
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(ident))
