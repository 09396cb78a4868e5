"""compute_plan: the pure diff between declared jobs and live rows (unit: no database)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pgcron.models import JobSpec
from pgcron.plan import Action, LiveJob, PlanConflict, compute_plan


def live(
    name: str,
    jobid: int = 1,
    *,
    schedule: str = "* * * * *",
    command: str = "SELECT 1",
    active: bool = True,
    record: dict[str, object] | None = None,
) -> LiveJob:
    return LiveJob(jobid, name, schedule, command, "postgres", "app", active, record)


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


def test_duplicate_live_names_conflict() -> None:
    with pytest.raises(PlanConflict, match="two live jobs"):
        plan([], [live("ns:a", 1), live("ns:a", 2)])


def test_live_outside_namespace_is_refused() -> None:
    with pytest.raises(ValueError, match="outside namespace"):
        plan([], [live("other:a", 1)])


def test_qualified_spec_names_are_accepted() -> None:
    assert plan([JobSpec("ns:a", "* * * * *", "SELECT 1")], [live("ns:a")]).summary()["unchanged"] == 1


def test_reserved_namespace() -> None:
    with pytest.raises(ValueError, match="reserved"):
        compute_plan("pgcron", [], [], current_database="d", current_user="u")
