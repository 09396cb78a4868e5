"""compute_plan, the pure diff between declared jobs and live rows, and apply_steps driven by a fake seam
(unit: no database)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from pgcron.errors import PgCronError, SchemaOutOfDate
from pgcron.jobsfile import Retention
from pgcron.models import JobSpec
from pgcron.plan import (
    Action,
    LiveJob,
    Plan,
    PlanConflict,
    PlanLocked,
    PlanStale,
    apply_steps,
    compute_plan,
    plan_steps,
    retention_spec,
    run_steps,
)


def live(
    name: str,
    jobid: int = 1,
    *,
    schedule: str = "* * * * *",
    command: str = "SELECT 1",
    active: bool = True,
    username: str = "app",
    record: dict[str, object] | None = None,
) -> LiveJob:
    return LiveJob(jobid, name, schedule, command, "postgres", username, active, record)


def plan(specs: list[JobSpec], jobs: list[LiveJob], **kw: object):  # type: ignore[no-untyped-def]
    return compute_plan("ns", specs, jobs, current_database="postgres", current_user="app", **kw)  # type: ignore[arg-type]


def test_create_update_unchanged_orphan() -> None:
    specs = [
        JobSpec("a", "* * * * *", "SELECT 1"),
        JobSpec("b", "0 * * * *", "SELECT 2"),
        JobSpec("c", "* * * * *", "SELECT 3"),
    ]
    p = plan(specs, [live("ns:a", 1), live("ns:b", 2, command="SELECT 99"), live("ns:old", 3)])
    actions = {c.name: c.action for c in p.changes}
    assert actions == {
        "ns:a": Action.UNCHANGED,
        "ns:b": Action.UPDATE,
        "ns:c": Action.CREATE,
        "ns:old": Action.ORPHAN,
    }
    b = next(c for c in p.changes if c.name == "ns:b")
    assert {(f.field, f.before, f.after) for f in b.changes} == {
        ("schedule", "* * * * *", "0 * * * *"),
        ("command", "SELECT 99", "SELECT 2"),
    }
    assert b.jobid == 2
    assert p.pending
    assert p.notes == () and p.foreign == ()


def test_prune_turns_orphans_into_deletes() -> None:
    p = plan([], [live("ns:old", 3)], prune=True)
    assert [c.action for c in p.changes] == [Action.DELETE]


def test_orphans_alone_are_not_pending() -> None:
    assert not plan([], [live("ns:old", 3)]).pending


def test_same_state_is_empty() -> None:
    p = plan([JobSpec("a", "* * * * *", "SELECT 1", database="postgres", username="app")], [live("ns:a")])
    assert not p.pending and p.summary()["unchanged"] == 1


def test_defaults_resolve_to_connection() -> None:
    p = plan([JobSpec("a", "* * * * *", "SELECT 1")], [live("ns:a")])  # database/username None
    assert not p.pending


def test_drift_is_live_versus_record() -> None:
    record = {
        "schedule": "*/5 * * * *",
        "command": "SELECT 1",
        "database": "postgres",
        "username": "app",
        "active": True,
    }
    p = plan([JobSpec("a", "*/5 * * * *", "SELECT 1")], [live("ns:a", record=record)], has_record=True)
    change = p.changes[0]
    assert change.action is Action.UPDATE
    assert [(d.field, d.before, d.after) for d in change.drift] == [("schedule", "*/5 * * * *", "* * * * *")]


def test_record_only_fields_are_compared_when_a_record_exists() -> None:
    record = {
        "schedule": "* * * * *",
        "command": "SELECT 1",
        "database": "postgres",
        "username": "app",
        "active": True,
        "timeout_seconds": 30.0,
    }
    spec = JobSpec("a", "* * * * *", "SELECT 1", timeout=timedelta(seconds=60), tags=("x",))
    change = plan([spec], [live("ns:a", record=record)], has_record=True).changes[0]
    assert change.action is Action.UPDATE and not change.cron_changes
    assert {f.field for f in change.changes} == {"timeout", "tags"}


def test_duplicate_live_names_of_one_role_conflict() -> None:
    with pytest.raises(PlanConflict, match="two live jobs of role 'app'"):
        plan([], [live("ns:a", 1), live("ns:a", 2)])


def test_live_outside_namespace_is_refused() -> None:
    with pytest.raises(ValueError, match="outside namespace"):
        plan([], [live("other:a", 1)])


def test_qualified_spec_names_are_accepted() -> None:
    assert plan([JobSpec("ns:a", "* * * * *", "SELECT 1")], [live("ns:a")]).summary()["unchanged"] == 1


def test_reserved_namespace() -> None:
    with pytest.raises(ValueError, match="reserved"):
        compute_plan("pgcron", [], [], current_database="d", current_user="u")


# -- another role's jobs (ADR 0005 point 7; issue 11 rows 2 and 11) -------------------------------------


def test_same_named_job_of_another_role_is_not_adopted() -> None:
    # mallory's ns:report has the file's schedule and command: it is still not the file's job.
    mallory = live("ns:report", 7, username="mallory")
    p = plan([JobSpec("report", "* * * * *", "SELECT 1")], [mallory])
    (change,) = p.changes
    assert change.action is Action.CREATE and change.jobid is None and change.live is None
    assert {f.field: f.after for f in change.changes}["username"] == "app"
    assert p.foreign == (mallory,)
    assert p.notes == ("job ns:report (jobid 7) of role mallory is not managed by this plan",)
    assert p.to_dict()["not_managed"] == [{"name": "ns:report", "jobid": 7, "username": "mallory"}]
    assert p.fingerprint == ()  # a change to mallory's job never makes this plan stale


def test_another_roles_job_is_never_pruned_and_never_conflicts() -> None:
    jobs = [live("ns:a", 1), live("ns:a", 2, username="mallory"), live("ns:x", 3, username="mallory")]
    p = plan([], jobs, prune=True)
    assert [(c.action, c.jobid) for c in p.changes] == [(Action.DELETE, 1)]
    assert [j.jobid for j in p.foreign] == [2, 3]
    assert len(p.notes) == 2 and all("of role mallory is not managed" in n for n in p.notes)


def test_the_own_job_is_matched_beside_another_roles_namesake() -> None:
    jobs = [live("ns:a", 1, username="mallory", command="ALTER ROLE mallory SUPERUSER"), live("ns:a", 2)]
    p = plan([JobSpec("a", "* * * * *", "SELECT 2")], jobs)
    (change,) = p.changes
    assert change.action is Action.UPDATE and change.jobid == 2
    assert [(f.field, f.before) for f in change.changes] == [("command", "SELECT 1")]


def test_declared_roles_are_managed_and_matched_by_role() -> None:
    # A superuser's file may declare username: the jobs of that role in the namespace are managed.
    jobs = [live("ns:a", 1, username="etl", command="SELECT 0"), live("ns:gone", 2, username="etl")]
    p = plan([JobSpec("a", "* * * * *", "SELECT 1", username="etl")], jobs, prune=True)
    assert p.roles == ("app", "etl")
    assert {c.name: (c.action, c.jobid) for c in p.changes} == {
        "ns:a": (Action.UPDATE, 1),
        "ns:gone": (Action.DELETE, 2),
    }
    assert p.notes == ()


def test_a_change_of_role_is_a_new_job_never_an_alter_of_username() -> None:
    p = plan([JobSpec("a", "* * * * *", "SELECT 1", username="etl")], [live("ns:a", 1)])
    assert {c.action for c in p.changes} == {Action.CREATE, Action.ORPHAN}
    assert not any(f.field == "username" and f.before is not None for c in p.changes for f in c.changes)
    (note,) = p.notes
    assert "runs as role app" in note and "for role etl" in note and "--prune" in note


def test_timeout_out_of_range_is_refused_before_anything_runs() -> None:
    for bad in (timedelta(days=32), timedelta(0)):
        with pytest.raises(PgCronError, match="at most 31 days"):
            plan([JobSpec("a", "* * * * *", "SELECT 1", timeout=bad)], [])


def test_retention_command_is_quoted_by_psycopg_and_qualified() -> None:
    keep = Retention(keep=timedelta(days=7), schedule="0 3 * * *", batch=500, scope="namespace")
    command = retention_spec("shop", keep).command
    assert command == "CALL pgcron.purge_history(pg_catalog.make_interval(secs => 604800), 500, 'shop:')"
    everything = Retention(keep=timedelta(days=7), schedule="0 3 * * *", batch=500, scope="all")
    assert retention_spec("shop", everything).command.endswith(", 500, NULL)")


# -- apply_steps against a fake seam ----------------------------------------------------------------------

CONTEXT = {
    "current_database": "postgres",
    "current_user": "app",
    "is_superuser": True,
    "extversion": "1.6",
    "can_schedule_in_database": True,
    "can_alter_job": True,
    "can_update_cron_job": True,
    "has_apply_record": True,
    "has_record_functions": True,
    "has_purge_procedure": True,
}


def row(job: LiveJob, **changed: Any) -> dict[str, Any]:
    values = {
        "jobid": job.jobid,
        "jobname": job.name,
        "schedule": job.schedule,
        "command": job.command,
        "database": job.database,
        "username": job.username,
        "active": job.active,
    }
    return {**values, **changed}


class FakeSeam:
    """Answers the named queries of jobs_plan.sql from canned rows and records the calls."""

    def __init__(
        self, jobs: list[LiveJob], **answers: Callable[[dict[str, Any]], list[dict[str, Any]]]
    ) -> None:
        self.jobs = jobs
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answers = answers
        self.context = dict(CONTEXT)

    def __call__(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.calls.append((query, params))
        if query in self.answers:
            return self.answers[query](params)
        if query == "jobs_session":
            return [{"search_path": '"$user", public', "lock_timeout": "0"}]
        if query == "jobs_context":
            return [self.context]
        if query == "jobs_owned":
            return [row(j) for j in self.jobs]
        if query in ("jobs_lock_try", "jobs_lock_wait"):
            return [row(j) for j in self.jobs if j.jobid in params["jobids"]]
        if query.startswith("jobs_create"):
            return [{"jobname": n, "jobid": 100 + i} for i, n in enumerate(params["names"])]
        return []

    @property
    def queries(self) -> list[str]:
        return [q for q, _ in self.calls]


def planned(seam: FakeSeam, specs: list[JobSpec], prune: bool = False) -> Plan:
    return run_steps(plan_steps(specs, namespace="ns", prune=prune), seam)


def test_apply_sets_search_path_and_lock_timeout_first_and_restores_them() -> None:
    seam = FakeSeam([live("ns:a", 1, command="SELECT 0")])
    p = planned(seam, [JobSpec("a", "* * * * *", "SELECT 1")])
    seam.calls.clear()
    run_steps(apply_steps(p, lock_timeout=timedelta(seconds=2)), seam)
    assert seam.calls[0] == ("jobs_session", {"lock_timeout": "2000ms"})
    assert seam.calls[-1] == ("jobs_session_restore", {"search_path": '"$user", public', "lock_timeout": "0"})


def test_a_superuser_locks_and_compares_before_it_writes() -> None:
    own = live("ns:a", 1, command="SELECT 0")
    seam = FakeSeam([own, live("ns:a", 2, username="mallory")])
    p = planned(seam, [JobSpec("a", "* * * * *", "SELECT 1")])
    seam.calls.clear()
    result = run_steps(apply_steps(p), seam)
    assert result.updated == ("ns:a",)
    q = seam.queries
    assert q.index("jobs_lock_try") < q.index("jobs_owned") < q.index("jobs_alter")
    assert dict(seam.calls)["jobs_lock_try"] == {"jobids": [1]}  # never mallory's row
    assert "jobs_lock_wait" not in q
    alter = dict(seam.calls)["jobs_alter"]
    assert "usernames" not in alter and alter["jobids"] == [1]
    # records through the engine functions, never table DML
    assert dict(seam.calls)["jobs_record_apply"]["jobids"] == [1]
    assert "jobs_record_forget" in q


def test_a_row_changed_under_the_lock_refuses_the_apply() -> None:
    own = live("ns:a", 1, command="SELECT 0")
    seam = FakeSeam(
        [own], jobs_lock_try=lambda _p: [row(own, username="mallory", command="ALTER ROLE mallory SUPERUSER")]
    )
    p = planned(seam, [JobSpec("a", "* * * * *", "SELECT 1")])
    with pytest.raises(PlanStale, match=r"ns:a \(jobid 1\) changed .*command, username.*role mallory"):
        run_steps(apply_steps(p), seam)
    assert not any(q.startswith(("jobs_alter", "jobs_create", "jobs_record")) for q in seam.queries)


def test_a_held_row_is_waited_for_and_a_timeout_names_the_job() -> None:
    own = live("ns:a", 1, command="SELECT 0")

    def blocked(_params: dict[str, Any]) -> list[dict[str, Any]]:
        raise psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")

    seam = FakeSeam([own], jobs_lock_try=lambda _p: [], jobs_lock_wait=blocked)
    p = planned(seam, [JobSpec("a", "* * * * *", "SELECT 1")])
    with pytest.raises(PlanLocked, match=r"another session holds job ns:a \(jobid 1\).*retry"):
        run_steps(apply_steps(p, lock_timeout=timedelta(seconds=1)), seam)
    assert "jobs_alter" not in seam.queries


def test_a_lock_timeout_elsewhere_is_a_clear_error_too() -> None:
    def blocked(_params: dict[str, Any]) -> list[dict[str, Any]]:
        raise psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")

    seam = FakeSeam([live("ns:a", 1, command="SELECT 0")], jobs_upsert_by_name=blocked)
    seam.context.update(can_update_cron_job=False, can_alter_job=False, is_superuser=False)
    p = planned(seam, [JobSpec("a", "* * * * *", "SELECT 1")])
    with pytest.raises(PlanLocked, match=r"another session holds a lock.*ns:a.*retry"):
        run_steps(apply_steps(p), seam)


def test_a_role_that_can_only_change_its_own_jobs_does_not_lock() -> None:
    seam = FakeSeam([live("ns:a", 1, command="SELECT 0")])
    seam.context.update(can_update_cron_job=False, is_superuser=False)
    p = planned(seam, [JobSpec("a", "* * * * *", "SELECT 1")])
    run_steps(apply_steps(p), seam)
    assert "jobs_lock_try" not in seam.queries and "jobs_alter" in seam.queries


def test_a_new_job_of_a_managed_role_makes_the_plan_stale() -> None:
    seam = FakeSeam([])
    p = planned(seam, [JobSpec("a", "* * * * *", "SELECT 1")])
    seam.jobs = [live("ns:a", 5)]
    with pytest.raises(PlanStale, match=r"ns:a \(jobid 5, role app\) appeared"):
        run_steps(apply_steps(p), seam)


def test_another_roles_changes_never_make_the_plan_stale() -> None:
    seam = FakeSeam([live("ns:a", 2, username="mallory")])
    p = planned(seam, [JobSpec("a", "* * * * *", "SELECT 1")])
    seam.jobs = [
        live("ns:a", 2, username="mallory", command="SELECT evil"),
        live("ns:b", 3, username="mallory"),
    ]
    assert run_steps(apply_steps(p), seam).created == ("ns:a",)


def test_a_plan_of_another_role_is_refused() -> None:
    seam = FakeSeam([])
    p = planned(seam, [JobSpec("a", "* * * * *", "SELECT 1")])
    seam.context["current_user"] = "other"
    with pytest.raises(PlanStale, match="made as role 'app'"):
        run_steps(apply_steps(p), seam)


def test_an_engine_schema_without_the_record_functions_is_out_of_date() -> None:
    seam = FakeSeam([])
    seam.context["has_record_functions"] = False
    with pytest.raises(SchemaOutOfDate, match="pgcron schema install"):
        planned(seam, [JobSpec("a", "* * * * *", "SELECT 1")])


def test_no_engine_schema_still_plans_and_applies_without_records() -> None:
    seam = FakeSeam([])
    seam.context.update(has_apply_record=False, has_record_functions=False)
    p = planned(seam, [JobSpec("a", "* * * * *", "SELECT 1")])
    result = run_steps(apply_steps(p), seam)
    assert result.created == ("ns:a",) and not result.record_written
    assert not any(q.startswith("jobs_record") or q == "jobs_applied_records" for q in seam.queries)


def test_the_cli_prints_the_notes_escaped() -> None:
    from pgcron.cli.plan import print_plan
    from rich.console import Console

    p = plan(
        [JobSpec("report", "* * * * *", "SELECT 1")], [live("ns:report", 7, username="[red]mal\x1b]0;x")]
    )
    out = Console(record=True, width=300, emoji=False, highlight=False)
    print_plan(out, p, wide=True)
    text = out.export_text()
    assert "note: job ns:report (jobid 7) of role [red]mal" in text and "not managed by this plan" in text
    assert "\x1b" not in text
