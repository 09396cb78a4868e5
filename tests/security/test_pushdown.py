"""Hostile roles against pushdown runs: alice's run_now must run her SQL exactly once, as alice, whatever
mallory does with keys, ids, the engine's functions and its notifications (issue 11, rows 6, 10, 15 and
the attacks that come next)."""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

import pgcron
import psycopg
import pytest
from pgcron.models import RunStatus
from psycopg import sql

from .conftest import (
    ALICE,
    MALLORY,
    Cluster,
    attempt,
    connect,
    has_engine_function,
    is_superuser,
    job_exists,
    ledger,
    ledger_insert,
    maintenance_jobid,
    maintenance_passes,
    query_all,
    query_one,
    scalar,
    wait_until,
)

pytestmark = pytest.mark.integration


def alice_runs(c: Cluster, command: str, key: str | None = None) -> pgcron.Run:
    """Alice's submit and wait, bounded (a re-attached run that never ends fails this test only)."""
    with pgcron.Client.connect(c.alice) as client:
        return client.wait(client.submit(command, key=key), timeout=60)


def assert_ran_once_as_alice(c: Cluster, run: pgcron.Run, token: str) -> None:
    assert run.status is RunStatus.SUCCEEDED, f"alice's run: {run.status} {run.message!r}"
    assert ledger(c.dsn, token) == [ALICE], (
        f"alice's SQL ran as {ledger(c.dsn, token)} (expected once as alice)"
    )


def test_forged_finished_row_does_not_replace_alices_run(cluster: Cluster, token: str) -> None:
    """Row 6 (forge): alice's predictable key pre-inserted as a finished, succeeded submission of hers."""
    key, command = f"alice-report-{token}", ledger_insert(token)
    attempt(
        cluster.mallory,
        (
            (
                "INSERT INTO pgcron.submission (key, command, database, username, start_by, claimed_at,"
                " finished_at,"
                " outcome, rows) VALUES (%s, %s, current_database(), %s, now(), now(), now(), 'succeeded', 1)"
            ),
            (key, command, ALICE),
        ),
    )
    assert_ran_once_as_alice(cluster, alice_runs(cluster, command, key), token)


@pytest.mark.parametrize("how", ["forged row", "own submission"])
def test_mallorys_use_of_alices_key_does_not_block_her(cluster: Cluster, token: str, how: str) -> None:
    """Row 6 (DoS): mallory takes alice's key first (a raw row, or a submission of her own through the API);
    alice's run_now with that key must really run her SQL, exactly once."""
    key, command = f"alice-report-{token}", ledger_insert(token)
    if how == "forged row":
        stmt = (
            "INSERT INTO pgcron.submission (key, command, database, username, start_by)"
            " VALUES (%s, 'SELECT 1', current_database(), current_user, now() + interval '1 day')"
        )
    else:
        stmt = "SELECT * FROM pgcron.submit('SELECT 1', %s)"
    attempt(cluster.mallory, (stmt, (key,)))
    assert_ran_once_as_alice(cluster, alice_runs(cluster, command, key), token)


def test_mallorys_attempt_keys_do_not_steer_alices_retries(cluster: Cluster, token: str) -> None:
    """Row 6 (retries): mallory holds alice's base key and its next attempt keys (<key>#2, #3, a forged row
    for #4); alice's attempt chain sees only her own submissions: her first try is attempt 1, a retry
    re-attaches to it, and her SQL runs once, as alice."""
    key, command = f"alice-retry-{token}", ledger_insert(token)
    forge = (
        "INSERT INTO pgcron.submission (key, command, database, username, start_by)"
        " VALUES (%s, 'SELECT 1', current_database(), %s, now() + interval '1 day')"
    )
    own = "SELECT * FROM pgcron.submit('SELECT 1', %s)"
    attempt(
        cluster.mallory, *((own, (k,)) for k in (key, f"{key}#2", f"{key}#3")), (forge, (f"{key}#4", ALICE))
    )
    with pgcron.Client.connect(cluster.alice) as client:
        assert client.latest_attempt(key) is None
        first = client.submit_attempt(command, key=key)
        assert (first.number, first.key, first.reattached) == (1, key, False)
        retry = client.submit_attempt(command, key=key)
        assert retry.reattached and retry.handle.submission_id == first.handle.submission_id
        run = client.wait(first.handle, timeout=60)
    assert_ran_once_as_alice(cluster, run, token)
    with pgcron.Client.connect(cluster.mallory) as client:
        theirs = client.latest_attempt(key)
        assert theirs is not None and theirs.number == 3
        assert theirs.handle.submission_id != first.handle.submission_id


def test_squatted_submission_ids_do_not_block_submits(cluster: Cluster, token: str) -> None:
    """Row 10: rows pre-inserted with the next submission ids (OVERRIDING SYSTEM VALUE)."""
    last = scalar(
        cluster.dsn,
        "SELECT coalesce((SELECT s.last_value FROM pg_sequences s WHERE s.schemaname = 'pgcron'"
        " AND s.sequencename = 'submission_id_seq'), (SELECT max(id) FROM pgcron.submission), 0)",
    )
    attempt(
        cluster.mallory,
        (
            (
                "INSERT INTO pgcron.submission (id, key, command, database, username, start_by)"
                " OVERRIDING SYSTEM VALUE"
                " SELECT g, 'squat-' || g, 'SELECT 1', current_database(), current_user,"
                " now() + interval '1 day'"
                " FROM generate_series(%s::bigint + 1, %s::bigint + 50) g"
            ),
            (last, last),
        ),
    )
    assert_ran_once_as_alice(cluster, alice_runs(cluster, ledger_insert(token)), token)


def test_squatted_job_names_are_not_taken_for_alices_or_the_engines(cluster: Cluster, token: str) -> None:
    """Next attack: mallory owns jobs named like the engine's (`pgcron:maintenance`, `pgcron:run:<id>`)."""
    last = int(scalar(cluster.dsn, "SELECT coalesce(max(id), 0) FROM pgcron.submission"))
    attempt(
        cluster.mallory,
        ("SELECT cron.schedule('pgcron:maintenance', '0 0 1 1 *', 'SELECT 1')", ()),
        *[
            ("SELECT cron.schedule(%s, '0 0 1 1 *', 'SELECT 1')", (f"pgcron:run:{i}",))
            for i in range(last + 1, last + 20)
        ],
    )
    run = alice_runs(cluster, ledger_insert(token))
    assert_ran_once_as_alice(cluster, run, token)
    assert (
        scalar(cluster.dsn, "SELECT username FROM cron.job_run_details WHERE runid = %s", (run.runid,))
        == ALICE
    )
    wait_until(lambda: not job_exists(cluster.dsn, run.jobid), 25, "removal of alice's temporary job")
    engine = query_one(
        cluster.dsn,
        "SELECT command FROM cron.job WHERE jobname = 'pgcron:maintenance' AND username = current_user",
    )
    assert engine is not None and "pgcron.maintenance" in engine[0]
    assert maintenance_passes(cluster.dsn), "the engine job stopped running"


def test_execute_submission_of_alices_id_runs_nothing(cluster: Cluster, token: str) -> None:
    """Next attack: mallory calls the job command `CALL pgcron.execute_submission(<alice's id>)` herself,
    before alice's job fires: it must neither run alice's SQL (as mallory) nor claim alice's run."""
    with pgcron.Client.connect(cluster.alice) as client:
        handle = client.submit(ledger_insert(token))
        attempt(cluster.mallory, *[("CALL pgcron.execute_submission(%s)", (handle.submission_id,))] * 3)
        run = client.wait(handle, timeout=60)
    assert_ran_once_as_alice(cluster, run, token)


def _claimed(c: Cluster, submission_id: int) -> bool:
    row = query_one(c.dsn, "SELECT to_jsonb(s) FROM pgcron.submission s WHERE s.id = %s", (submission_id,))
    return row is not None and bool(row[0].get("claimed_at") or row[0].get("claimed_pid"))


def test_cancel_submission_of_alices_id_does_not_cancel_her_run(cluster: Cluster, token: str) -> None:
    """Next attack: `pgcron.cancel_submission(<alice's id>)` while her run executes."""
    with pgcron.Client.connect(cluster.alice) as client:
        handle = client.submit(ledger_insert(token) + "; SELECT pg_sleep(3)")
        wait_until(lambda: _claimed(cluster, handle.submission_id), 30, "alice's run to start")
        attempt(cluster.mallory, ("SELECT pgcron.cancel_submission(%s)", (handle.submission_id,)))
        run = client.wait(handle, timeout=60)
    assert_ran_once_as_alice(cluster, run, token)


def test_submit_as_another_role_is_refused(cluster: Cluster, token: str) -> None:
    """Next attack: mallory submits alice's SQL asking for `username => alice`, directly through pg_cron, or
    after `SET ROLE` / `SET SESSION AUTHORIZATION`: nothing may run as alice."""
    command = ledger_insert(token)
    attempt(
        cluster.mallory,
        ("SELECT * FROM pgcron.submit(%s, NULL, NULL, %s)", (command, ALICE)),
        ("SELECT * FROM pgcron.submit(%s, NULL, NULL, %s, NULL, true)", (command, ALICE)),
        (
            "SELECT cron.schedule_in_database('m-as-alice', '1 seconds', %s, current_database(), %s)",
            (command, ALICE),
        ),
        (sql.SQL("SET ROLE {}").format(sql.Identifier(ALICE)), ()),
        (sql.SQL("SET SESSION AUTHORIZATION {}").format(sql.Identifier(ALICE)), ()),
    )
    with connect(cluster.mallory) as conn:  # one session: SET ROLE, then submit
        for stmt in (
            sql.SQL("SET ROLE {}").format(sql.Identifier(ALICE)),
            sql.SQL("SELECT * FROM pgcron.submit({})").format(sql.Literal(command)),
        ):
            with contextlib.suppress(psycopg.Error):
                conn.execute(stmt)
    as_alice = query_all(
        cluster.dsn,
        "SELECT jobid FROM cron.job WHERE username = %s AND strpos(command, %s) > 0",
        (ALICE, token),
    )
    assert not as_alice, f"mallory created jobs that run as alice: {as_alice}"
    maintenance_passes(cluster.dsn)
    assert ledger(cluster.dsn, token) == []


# -- the engine's internal functions, called directly ------------------------------------------------------

_ARG_VALUES: dict[str, list[Any]] = {
    "text": ["alice"],
    "name": ["alice"],
    "regrole": ["alice"],
    "interval": ["1 millisecond"],
    "boolean": [True],
    "timestamp with time zone": ["now"],
    "jsonb": ['{"timeout_seconds": 0.001}'],
    "json": ['{"timeout_seconds": 0.001}'],
    "integer[]": [[1]],
    "text[]": [["alice"]],
    "boolean[]": [[True]],
    "jsonb[]": [['{"timeout_seconds": 0.001}']],
}


def _calls(c: Cluster, ids: list[int]) -> list[tuple[sql.Composable, tuple[Any, ...]]]:
    """Every pgcron function and procedure mallory may execute, called with alice's ids and name."""
    rows = query_all(
        c.dsn,
        "SELECT p.proname, p.prokind, ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t)"
        " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'pgcron' AND p.prokind IN ('f', 'p') AND p.prorettype <> 'trigger'::regtype"
        " AND has_function_privilege(%s, p.oid, 'EXECUTE') ORDER BY p.proname",
        (MALLORY,),
    )
    calls: list[tuple[sql.Composable, tuple[Any, ...]]] = []
    for name, kind, types in rows:
        for ident in ids:
            params: list[Any] = []
            for t in types:
                if t in ("bigint", "integer", "smallint", "numeric"):
                    params.append(ident)
                elif t == "bigint[]":
                    params.append([ident])
                else:
                    params.append(_ARG_VALUES.get(t, [None])[0])
            args = sql.SQL(", ").join(
                sql.SQL("{}::{}").format(sql.Placeholder(), sql.SQL(t))  # type names from pg_catalog
                for t in types
            )
            verb = sql.SQL("CALL") if kind == "p" else sql.SQL("SELECT")
            calls.append(
                (sql.SQL("{} pgcron.{}({})").format(verb, sql.Identifier(name), args), tuple(params))
            )
    return calls


def test_engine_functions_called_directly_do_not_touch_alices_run(cluster: Cluster, token: str) -> None:
    """Next attack: every engine function mallory may execute (the internal `pgcron._*` ones included,
    `pgcron.maintenance()`, `cancel_submission`, `execute_submission`), called with alice's submission id,
    job id and role name while alice's run is pending and running. Alice's run still runs once, as alice."""
    with pgcron.Client.connect(cluster.alice) as client:
        handle = client.submit(ledger_insert(token) + "; SELECT pg_sleep(2)")
        calls = _calls(cluster, [handle.submission_id, int(handle.jobid or 0)])
        assert calls, "mallory may execute no engine function (not even submit)"
        with connect(cluster.mallory) as conn:
            conn.execute("SET statement_timeout = '10s'")
            for stmt, params in calls:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(stmt, params)
        run = client.wait(handle, timeout=60)
    assert_ran_once_as_alice(cluster, run, token)
    assert not is_superuser(cluster.dsn, MALLORY)
    assert maintenance_jobid(cluster.dsn) is not None
    wait_until(lambda: not job_exists(cluster.dsn, run.jobid), 25, "removal of alice's temporary job")


# -- notifications -----------------------------------------------------------------------------------------


def _channel(dsn: str) -> str | None:
    """The role's own run channel (0004), None before it existed."""
    if not has_engine_function(dsn, "pgcron.run_channel()"):
        return None
    return str(scalar(dsn, "SELECT pgcron.run_channel()"))


def test_run_events_reach_only_the_runs_role(cluster: Cluster, token: str) -> None:
    """Row 15 (NOTIFY): mallory listening on `pgcron_run` and on her own channel learns nothing of alice's
    runs; alice's own channel does carry them (so the test can see a leak)."""
    alice_channel = _channel(cluster.alice) or "pgcron_run"
    mallory_channels = {"pgcron_run", _channel(cluster.mallory) or "pgcron_run"}
    with connect(cluster.mallory) as conn:  # she asks the engine for alice's channel
        try:
            stolen = conn.execute("SELECT pgcron._run_channel(%s)", (ALICE,)).fetchone()
            if stolen and stolen[0]:
                mallory_channels.add(str(stolen[0]))
        except psycopg.Error:
            pass
    with connect(cluster.mallory) as mallory, connect(cluster.alice) as alice:
        for ch in mallory_channels:
            mallory.execute(sql.SQL("LISTEN {}").format(sql.Identifier(ch)))
        alice.execute(sql.SQL("LISTEN {}").format(sql.Identifier(alice_channel)))
        run = alice_runs(cluster, ledger_insert(token))
        got: list[dict[str, Any]] = []

        def terminal_seen() -> bool:
            got.extend(json.loads(n.payload) for n in alice.notifies(timeout=0.5, stop_after=1))
            return any(
                g.get("jobid") == run.jobid and g.get("status") in ("succeeded", "failed") for g in got
            )

        wait_until(terminal_seen, 20, "alice's own run notification")
        # NOTIFY is delivered to every listener at the same commit: what mallory got, she has by now.
        leaked = [(n.channel, n.payload) for n in mallory.notifies(timeout=1)]
    assert not leaked, f"mallory received run events of other roles: {leaked[:5]}"


# -- lanes (0006): long-running workers of one role ---------------------------------------------------------


def test_lanes_run_only_their_own_roles_sql(cluster: Cluster, token: str) -> None:
    """Next attack (lanes, 0006): mallory starts a lane of her own and runs `CALL pgcron.lane_run(1)` herself
    in a session of hers while alice, who has a lane, submits: only alice's own worker or job may run her SQL.
    (Before lanes existed the calls are refused and alice's runs use their own jobs.)"""
    attempt(cluster.alice, ("SELECT pgcron.lane_start(1)", ()))
    attempt(cluster.mallory, ("SELECT pgcron.lane_start(1)", ()))
    intruder = connect(cluster.mallory)
    intruder.execute("SET statement_timeout = '20s'")

    def intrude() -> None:
        with contextlib.suppress(psycopg.Error):
            intruder.execute("CALL pgcron.lane_run(1)")

    thread = threading.Thread(target=intrude, daemon=True)
    thread.start()
    try:
        for i in range(3):
            tok = f"{token}x{i}"
            assert_ran_once_as_alice(cluster, alice_runs(cluster, ledger_insert(tok)), tok)
    finally:
        with contextlib.suppress(psycopg.Error):
            query_all(cluster.alice, "SELECT pgcron.lane_stop()")
        with contextlib.suppress(psycopg.Error):
            query_all(cluster.dsn, "SELECT pg_cancel_backend(%s)", (intruder.info.backend_pid,))
        thread.join(30)
        intruder.close()
