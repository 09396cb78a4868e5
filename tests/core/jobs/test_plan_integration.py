"""plan/apply against real pg_cron: idempotence, drift, namespace isolation, jobid and history kept."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgcron.client import Client
from pgcron.errors import PermissionDenied, PgCronError
from pgcron.jobsfile import load_jobs_file
from pgcron.models import JobSpec
from pgcron.plan import Action, PlanStale, desired_specs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"


def _jobs(conn: psycopg.Connection[Any], prefix: str) -> dict[str, tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT jobname, jobid, schedule, command, database, username, active FROM cron.job"
        " WHERE starts_with(jobname, %s)",
        (prefix,),
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_docs_example_is_the_example_file() -> None:
    page = (ROOT / "docs" / "jobs-file.md").read_text()
    block = re.search(r"```toml\n(# Jobs of the \"shop\".*?)```", page, re.DOTALL)
    assert block is not None, "docs/jobs-file.md must show examples/jobs.toml in full"
    assert block.group(1) == (EXAMPLES / "jobs.toml").read_text()


@pytest.mark.parametrize("name", ["jobs.toml", "jobs.yaml"])
def test_example_applies_and_second_plan_is_empty(
    conn: psycopg.Connection[Any], namespace: str, name: str
) -> None:
    conn.execute((EXAMPLES / "setup.sql").read_text())
    jobs_file = dataclasses.replace(load_jobs_file(EXAMPLES / name), namespace=namespace)
    first = Client.connect(conn).plan(desired_specs(jobs_file), namespace=namespace)
    assert first.summary()["create"] == 4 and first.pending
    result = Client.connect(conn).apply(first)
    live = _jobs(conn, namespace)
    assert set(live) == {
        f"{namespace}:expire-reservations",
        f"{namespace}:purge-events",
        f"{namespace}:refresh-daily-sales",
        f"{namespace}:_retention",
    }
    assert live[f"{namespace}:expire-reservations"][2] == "SELECT shop.expire_reservations()"
    assert "pgcron.purge_history" in live[f"{namespace}:_retention"][2]
    assert result.round_trips <= 10
    second = Client.connect(conn).plan(desired_specs(jobs_file), namespace=namespace)
    assert not second.pending, second.to_dict()
    assert second.summary()["unchanged"] == 4
    # timeouts live in the typed column the engine's one job (pgcron:maintenance) enforces; no watchdog job
    timeouts = conn.execute(
        "SELECT a.jobname, a.timeout FROM pgcron.applied_job a WHERE starts_with(a.jobname, %s)"
        " AND a.timeout IS NOT NULL",
        (namespace,),
    ).fetchall()
    assert timeouts and all(t > timedelta(0) for _name, t in timeouts)
    assert conn.execute("SELECT count(*) FROM cron.job WHERE jobname = 'pgcron:job-timeouts'").fetchone() == (
        0,
    )
    # the retention job really runs the purge procedure (scoped to the namespace)
    conn.execute(live[f"{namespace}:_retention"][2])


def test_drift_is_detected_and_repaired(conn: psycopg.Connection[Any], namespace: str) -> None:
    specs = [JobSpec("a", "*/5 * * * *", "SELECT 1", active=False)]
    Client.connect(conn).apply(Client.connect(conn).plan(specs, namespace=namespace))
    jobid = _jobs(conn, namespace)[f"{namespace}:a"][0]
    conn.execute("SELECT cron.alter_job(%s, schedule := '*/7 * * * *')", (jobid,))
    plan = Client.connect(conn).plan(specs, namespace=namespace)
    (change,) = plan.changes
    assert change.action is Action.UPDATE
    assert [(d.field, d.before, d.after) for d in change.drift] == [
        ("schedule", "*/5 * * * *", "*/7 * * * *")
    ]
    Client.connect(conn).apply(plan)
    assert _jobs(conn, namespace)[f"{namespace}:a"][1] == "*/5 * * * *"
    after = Client.connect(conn).plan(specs, namespace=namespace)
    assert not after.pending and not after.drifted


def test_jobs_outside_the_namespace_are_never_touched(conn: psycopg.Connection[Any], namespace: str) -> None:
    # Same prefix characters, different namespace: 'ns' owns 'ns:*' only.
    outside = [f"{namespace}other", f"{namespace}x:y", namespace.rstrip("_")]
    for name in outside:
        conn.execute(
            "SELECT cron.schedule_in_database(%s::text, '0 0 31 2 *', 'SELECT 42', current_database()::text,"
            " NULL, false)",
            (name,),
        )
    before = {n: v for n, v in _jobs(conn, namespace.rstrip("_")).items() if n in outside}
    assert len(before) == 3
    Client.connect(conn).apply(
        Client.connect(conn).plan(
            [JobSpec("mine", "0 0 31 2 *", "SELECT 1", active=False)], namespace=namespace, prune=True
        ),
    )
    prune_all = Client.connect(conn).plan([], namespace=namespace, prune=True)
    assert [c.name for c in prune_all.by_action(Action.DELETE)] == [f"{namespace}:mine"]
    Client.connect(conn).apply(prune_all)
    after = {n: v for n, v in _jobs(conn, namespace.rstrip("_")).items() if n in outside}
    assert after == before
    for name in outside:  # the job_prefix teardown misses the one without the trailing '_'
        conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = %s", (name,))


def test_update_keeps_jobid_and_history(conn: psycopg.Connection[Any], namespace: str) -> None:
    v1 = [JobSpec("keep", "0 0 31 2 *", "SELECT 1", active=False)]
    Client.connect(conn).apply(Client.connect(conn).plan(v1, namespace=namespace))
    jobid = _jobs(conn, namespace)[f"{namespace}:keep"][0]
    conn.execute(
        "INSERT INTO cron.job_run_details (jobid, runid, database, username, command, status, return_message,"
        " start_time, end_time) SELECT %s, nextval('cron.runid_seq'), 'postgres', 'postgres', 'SELECT 1',"
        " 'succeeded', '1 row', now() - g * interval '1 minute', now() - g * interval '1 minute'"
        " FROM generate_series(1, 5) g",
        (jobid,),
    )
    v2 = [JobSpec("keep", "0 3 * * *", "SELECT 2", active=True, description="changed")]
    plan = Client.connect(conn).plan(v2, namespace=namespace)
    assert {f.field for f in plan.changes[0].changes} == {"schedule", "command", "active", "description"}
    Client.connect(conn).apply(plan)
    live = _jobs(conn, namespace)[f"{namespace}:keep"]
    assert live[0] == jobid
    assert live[1:3] == ("0 3 * * *", "SELECT 2") and live[5] is True
    runs = conn.execute("SELECT count(*) FROM cron.job_run_details WHERE jobid = %s", (jobid,)).fetchone()
    assert runs == (5,)
    conn.execute("SELECT cron.alter_job(%s, active := false)", (jobid,))  # keep the shared server quiet


def test_apply_refuses_a_stale_plan(conn: psycopg.Connection[Any], namespace: str) -> None:
    specs = [JobSpec("s", "0 0 31 2 *", "SELECT 1", active=False)]
    Client.connect(conn).apply(Client.connect(conn).plan(specs, namespace=namespace))
    plan = Client.connect(conn).plan(
        [JobSpec("s", "0 0 30 2 *", "SELECT 1", active=False)], namespace=namespace
    )
    conn.execute(
        "SELECT cron.alter_job(jobid, command := 'SELECT 3') FROM cron.job WHERE jobname = %s",
        (f"{namespace}:s",),
    )
    with pytest.raises(PlanStale, match=rf"{namespace}:s \(jobid \d+\) changed .*command"):
        Client.connect(conn).apply(plan)
    assert _jobs(conn, namespace)[f"{namespace}:s"][1] == "0 0 31 2 *"  # nothing applied


def test_apply_is_one_transaction(conn: psycopg.Connection[Any], namespace: str) -> None:
    # The second create fails inside pg_cron (no such role): the first must not remain.
    specs = [
        JobSpec("ok", "0 0 31 2 *", "SELECT 1", active=False),
        JobSpec("bad", "0 0 31 2 *", "SELECT 1", username="no_such_role_pgcron_test", active=False),
    ]
    # The client translates the server's error (one translator); the psycopg error is its cause.
    with pytest.raises(PgCronError, match="does not exist") as caught:
        Client.connect(conn).apply(Client.connect(conn).plan(specs, namespace=namespace))
    assert isinstance(caught.value.__cause__, psycopg.Error)
    assert _jobs(conn, namespace) == {}


def test_ordinary_role_applies_its_own_jobs(plain_role: tuple[str, str], namespace: str) -> None:
    _role, dsn = plain_role
    with psycopg.connect(dsn, autocommit=True) as conn:
        specs = [JobSpec("mine", "0 0 31 2 *", "SELECT 1")]
        Client.connect(conn).apply(Client.connect(conn).plan(specs, namespace=namespace))
        assert not Client.connect(conn).plan(specs, namespace=namespace).pending
        # schedule and command change through the same-name upsert (no EXECUTE on alter_job)
        Client.connect(conn).apply(
            Client.connect(conn).plan([JobSpec("mine", "0 0 30 2 *", "SELECT 2")], namespace=namespace)
        )
        assert _jobs(conn, namespace)[f"{namespace}:mine"][1:3] == ("0 0 30 2 *", "SELECT 2")
        with pytest.raises(PermissionDenied, match="alter_job"):
            Client.connect(conn).apply(
                Client.connect(conn).plan(
                    [JobSpec("mine", "0 0 30 2 *", "SELECT 2", active=False)], namespace=namespace
                ),
            )


def test_cli_plan_exit_codes(engine_dsn: str, namespace: str, tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(
        f"namespace: {namespace}\njobs:\n  - name: cli\n    schedule: '0 0 31 2 *'\n"
        "    command: SELECT 1\n    active: false\n"
    )
    env = {**os.environ, "PGCRON_DSN": engine_dsn}
    cli = [sys.executable, "-m", "pgcron"]
    plan = subprocess.run([*cli, "plan", str(path)], env=env, capture_output=True, text=True, check=False)
    assert plan.returncode == 2, plan.stderr
    assert "1 to create" in plan.stdout
    applied = subprocess.run(
        [*cli, "apply", str(path), "--yes"], env=env, capture_output=True, text=True, check=False
    )
    assert applied.returncode == 0, applied.stderr
    again = subprocess.run(
        [*cli, "plan", str(path), "--json"], env=env, capture_output=True, text=True, check=False
    )
    assert again.returncode == 0 and '"pending": false' in again.stdout
    path.write_text("namespace: pgcron\njobs: []\n")
    bad = subprocess.run([*cli, "plan", str(path)], env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "reserved" in bad.stderr


def test_client_plan_and_apply(engine_dsn: str, namespace: str) -> None:
    import pgcron

    specs = [JobSpec("via-client", "0 0 31 2 *", "SELECT 1", active=False)]
    with pgcron.Client.connect(engine_dsn) as client:
        plan = client.plan(specs, namespace=namespace)
        assert plan.summary()["create"] == 1
        result = client.apply(plan)
        assert list(result.jobids) == [f"{namespace}:via-client"]
        assert not client.plan(specs, namespace=namespace).pending


async def test_async_client_plan_and_apply(engine_dsn: str, namespace: str) -> None:
    import pgcron

    specs = [JobSpec("via-async", "0 0 31 2 *", "SELECT 1", active=False)]
    async with await pgcron.AsyncClient.connect(engine_dsn) as client:
        plan = await client.plan(specs, namespace=namespace)
        result = await client.apply(plan)
        job = await client.job(f"{namespace}:via-async")
        assert result.jobids[f"{namespace}:via-async"] == job.jobid
        changed = await client.plan([dataclasses.replace(specs[0], command="SELECT 2")], namespace=namespace)
        await client.apply(changed)
        assert (await client.job(job.jobid)).command == "SELECT 2"


@pytest.mark.slow
def test_timeout_cancels_a_long_run(conn: psycopg.Connection[Any], namespace: str) -> None:
    import time

    specs = [JobSpec("sleepy", "3 seconds", "SELECT pg_sleep(300)", timeout=timedelta(seconds=2))]
    result = Client.connect(conn).apply(Client.connect(conn).plan(specs, namespace=namespace))
    jobid = result.jobids[f"{namespace}:sleepy"]
    # enforced by the engine's one job from applied_job.timeout (migration 0004), no watchdog of its own
    assert conn.execute("SELECT timeout FROM pgcron.applied_job WHERE jobid = %s", (jobid,)).fetchone() == (
        timedelta(seconds=2),
    )
    deadline = time.monotonic() + 120
    row = None
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT status, return_message, end_time - start_time FROM cron.job_run_details"
            " WHERE jobid = %s AND status = 'failed' ORDER BY runid LIMIT 1",
            (jobid,),
        ).fetchone()
        if row is not None:
            break
        time.sleep(0.5)
    assert row is not None, "pgcron:maintenance did not cancel the run within 120 s"
    assert "canceling statement" in row[1]
    # canceled by maintenance (2 s timeout, 5 s period; slower on a loaded server), not the end of the sleep
    assert row[2] < timedelta(seconds=120)
    conn.execute("SELECT cron.alter_job(%s, active := false)", (jobid,))


def test_plan_and_apply_on_pg_cron_14(pgcron_14_dsn: str, job_prefix: str) -> None:
    # pg_cron 1.4.2: jobname is type `name`, and no engine schema is needed for plan/apply.
    with psycopg.connect(pgcron_14_dsn, autocommit=True) as conn:
        v1 = [JobSpec("a", "0 0 31 2 *", "SELECT 1", active=False)]
        created = Client.connect(conn).apply(Client.connect(conn).plan(v1, namespace=job_prefix))
        v2 = [JobSpec("a", "0 0 30 2 *", "SELECT 2", active=False)]
        Client.connect(conn).apply(Client.connect(conn).plan(v2, namespace=job_prefix))
        assert not Client.connect(conn).plan(v2, namespace=job_prefix).pending
        live = _jobs(conn, job_prefix)[f"{job_prefix}:a"]
        assert live[0] == created.jobids[f"{job_prefix}:a"] and live[1:3] == ("0 0 30 2 *", "SELECT 2")
