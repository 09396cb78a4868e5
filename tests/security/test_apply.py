"""Hostile roles against jobs as code: a superuser's `pgcron apply` never adopts, rewrites or is blocked by
another role's job, and forged apply records neither invent drift nor break an apply (issue 11, rows 2, 10,
11)."""

from __future__ import annotations

import threading
from typing import Any

import pgcron
import psycopg
import pytest
from pgcron.models import JobSpec
from pgcron.plan import Plan

from .conftest import (
    MALLORY,
    Cluster,
    attempt,
    connect,
    is_superuser,
    poll,
    query_all,
    scalar,
)

pytestmark = pytest.mark.integration

ESCALATE = "ALTER ROLE mallory SUPERUSER"


def jobs_named(c: Cluster, name: str) -> dict[str, tuple[int, str, str]]:
    """username -> (jobid, schedule, command) of every job called ``name``."""
    rows = query_all(
        c.dsn, "SELECT username, jobid, schedule, command FROM cron.job WHERE jobname = %s", (name,)
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def apply_as(dsn: str, specs: list[JobSpec], namespace: str, *, prune: bool = False) -> Plan:
    with pgcron.Client.connect(dsn) as client:
        plan = client.plan(specs, namespace=namespace, prune=prune)
        client.apply(plan)
        return plan


def test_apply_race_does_not_hand_the_superuser_a_hostile_command(cluster: Cluster, namespace: str) -> None:
    """Row 2: mallory owns a same-named job with the file's schedule and command; while the superuser applies,
    her open transaction swaps in `ALTER ROLE mallory SUPERUSER`. The superuser's job must never carry it."""
    name, schedule = f"{namespace}:report", "2 seconds"
    attempt(cluster.mallory, ("SELECT cron.schedule(%s, %s, 'SELECT 1')", (name, schedule)))
    with pgcron.Client.connect(cluster.dsn) as client:
        plan = client.plan([JobSpec("report", schedule, "SELECT 1")], namespace=namespace)
        outcome: dict[str, Any] = {}
        mallory = connect(cluster.mallory, autocommit=False)
        try:
            mallory_pid = mallory.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
            mallory.execute("SELECT cron.schedule(%s, %s, %s)", (name, schedule, ESCALATE))  # row lock held

            def run() -> None:
                try:
                    outcome["result"] = client.apply(plan)
                except Exception as exc:  # noqa: BLE001 - refused is fine; the state is asserted below
                    outcome["error"] = exc

            applier = threading.Thread(target=run, daemon=True)
            applier.start()
            poll(
                lambda: (
                    not applier.is_alive()
                    or bool(
                        scalar(
                            cluster.dsn,
                            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                            (mallory_pid,),
                        )
                    )
                ),
                10,
            )
            mallory.commit()
        finally:
            mallory.close()
        applier.join(30)
        assert not applier.is_alive(), "the superuser's apply never finished"
    jobs = jobs_named(cluster, name)
    hostile = {u: j for u, j in jobs.items() if u == cluster.superuser and ESCALATE in j[2]}
    if hostile:  # let the hijacked job fire, so the report shows what it did
        poll(lambda: is_superuser(cluster.dsn, MALLORY), 15)
    assert not hostile, f"the superuser's job {name} runs mallory's command: {hostile} ({outcome})"
    assert not is_superuser(cluster.dsn, MALLORY)
    assert MALLORY in jobs, f"mallory's job was taken over: {jobs}"


def test_first_apply_does_not_adopt_a_same_named_job(cluster: Cluster, namespace: str) -> None:
    """Row 11: a same-named job of mallory's (same schedule and command as the file) is not adopted: it
    stays hers, and the superuser gets a job of its own."""
    name = f"{namespace}:report"
    attempt(cluster.mallory, ("SELECT cron.schedule(%s, '0 0 1 1 *', 'SELECT 1')", (name,)))
    mallorys = jobs_named(cluster, name)[MALLORY]
    apply_as(cluster.dsn, [JobSpec("report", "0 0 1 1 *", "SELECT 1")], namespace)
    jobs = jobs_named(cluster, name)
    assert jobs.get(MALLORY) == mallorys, f"mallory's job was changed: {mallorys} -> {jobs.get(MALLORY)}"
    assert cluster.superuser in jobs, f"the superuser's apply created no job of its own: {jobs}"


def test_same_named_job_does_not_block_a_deploy(cluster: Cluster, namespace: str) -> None:
    """Row 11: after the superuser's first apply, mallory adds a job of the same name; the next deploy still
    plans and applies (no PlanConflict), changes only the superuser's job, and leaves mallory's alone."""
    name = f"{namespace}:report"
    apply_as(cluster.dsn, [JobSpec("report", "0 0 1 1 *", "SELECT 1")], namespace)
    attempt(cluster.mallory, ("SELECT cron.schedule(%s, '0 0 1 1 *', 'SELECT 42')", (name,)))
    mallorys = jobs_named(cluster, name)[MALLORY]
    apply_as(cluster.dsn, [JobSpec("report", "0 0 1 1 *", "SELECT 2")], namespace)
    jobs = jobs_named(cluster, name)
    assert jobs[cluster.superuser][2] == "SELECT 2"
    assert jobs.get(MALLORY) == mallorys


@pytest.mark.parametrize("victim", ["alice", "superuser"])
def test_forged_apply_record_does_not_invent_drift(cluster: Cluster, namespace: str, victim: str) -> None:
    """Row 11: mallory writes an apply record for the victim's hand-made job before its first apply; the
    victim's plan must show no drift, and its apply records the victim's spec."""
    dsn = cluster.alice if victim == "alice" else cluster.dsn
    role = "alice" if victim == "alice" else cluster.superuser
    name = f"{namespace}:job"
    jobid = int(scalar(dsn, "SELECT cron.schedule(%s, '0 0 1 1 *', 'SELECT 1')", (name,)))
    forged = '{"schedule": "* * * * *", "command": "SELECT 666", "active": true}'
    attempt(
        cluster.mallory,
        (
            (
                "INSERT INTO pgcron.applied_job (jobid, jobname, namespace, username, spec)"
                " VALUES (%s, %s, %s, %s, %s::jsonb)"
            ),
            (jobid, name, namespace, role, forged),
        ),
    )
    with pgcron.Client.connect(dsn) as client:
        plan = client.plan([JobSpec("job", "0 0 1 1 *", "SELECT 1")], namespace=namespace)
        assert not plan.drifted, f"forged drift in {victim}'s plan: {[c.to_dict() for c in plan.drifted]}"
        client.apply(plan)
        again = client.plan([JobSpec("job", "0 0 1 1 *", "SELECT 1")], namespace=namespace)
    assert not again.pending and not again.drifted


def test_squatted_apply_records_do_not_break_an_apply(cluster: Cluster, namespace: str) -> None:
    """Row 10: apply records pre-inserted for the next jobids make a non-superuser's apply fail (its record
    upsert meets rows it may not see)."""
    last = int(scalar(cluster.dsn, "SELECT last_value FROM cron.jobid_seq"))
    attempt(
        cluster.mallory,
        (
            (
                "INSERT INTO pgcron.applied_job (jobid, jobname, namespace, username, spec)"
                " SELECT g, 'mallory:' || g, 'mallory', current_user, '{}'::jsonb"
                " FROM generate_series(%s::bigint + 1, %s::bigint + 50) g"
            ),
            (last, last),
        ),
    )
    specs = [JobSpec("job", "0 0 1 1 *", "SELECT 1"), JobSpec("other", "0 0 1 1 *", "SELECT 2")]
    try:
        apply_as(cluster.alice, specs, namespace)
    except (pgcron.PgCronError, psycopg.Error) as exc:
        pytest.fail(f"alice's apply failed: {type(exc).__name__}: {exc}")
    with pgcron.Client.connect(cluster.alice) as client:
        again = client.plan(specs, namespace=namespace)
    assert not again.pending, [c.to_dict() for c in again.changes]
    assert {c.name for c in again.changes} == {f"{namespace}:job", f"{namespace}:other"}
