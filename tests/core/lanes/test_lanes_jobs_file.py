"""A jobs file's ``[lanes]``: reading and validation, the lane in a plan, and how plan prints it (unit: no
database; the real server is in test_lanes_apply.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pgcron.errors import PgCronError, SchemaOutOfDate
from pgcron.jobsfile import JobsFileError, Lanes, load_jobs_file, parse_jobs_document
from pgcron.lanes import MAX_WORKERS, LaneStatus, LaneWorker
from pgcron.plan import ApplyResult, LaneChange, compute_lane, lane_not_applied, plan_steps, run_steps
from rich.console import Console

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / "docs" / "jobs-file.schema.json").read_text())


def lanes_file(body: str, fmt: str = "toml") -> Any:
    if fmt == "toml":
        return parse_jobs_document(f'namespace = "ns"\n{body}', fmt="toml", path="jobs.toml")
    return parse_jobs_document(f"namespace: ns\n{body}", fmt="yaml", path="jobs.yaml")


def problems(body: str, fmt: str = "toml") -> list[str]:
    with pytest.raises(JobsFileError) as info:
        lanes_file(body, fmt)
    return [str(p) for p in info.value.problems]


# -- reading and validation -------------------------------------------------------------------------------


def test_lanes_table_in_toml_and_yaml() -> None:
    toml = lanes_file("[lanes]\nworkers = 2\n")
    yaml = lanes_file("lanes:\n  workers: 2\n", "yaml")
    assert toml.lanes == yaml.lanes == Lanes(2)
    assert toml.lane_workers == 2
    assert lanes_file("[lanes]\nworkers = 0\n").lane_workers == 0  # 0: stop the lane


def test_no_lanes_table_leaves_lanes_alone() -> None:
    jobs_file = lanes_file("")
    assert jobs_file.lanes is None and jobs_file.lane_workers is None


@pytest.mark.parametrize(
    "value",
    ["-1", str(MAX_WORKERS + 1), '"2"', "true", "2.0", "[2]"],
)
def test_workers_must_be_an_integer_in_range(value: str) -> None:
    [message] = problems(f"[lanes]\nworkers = {value}\n")
    assert message.startswith("jobs.toml: field 'lanes.workers': must be an integer from 0 to 32, got ")
    assert "0 stops the lane" in message and "cron.max_running_jobs" in message


def test_max_workers_is_the_engines_limit() -> None:
    migration = ROOT / "packages/core/src/pgcron/sql/migrations/0006_lanes.sql"
    assert f"p_workers > {MAX_WORKERS} THEN" in migration.read_text()  # pgcron._lane_configure
    assert lanes_file(f"[lanes]\nworkers = {MAX_WORKERS}\n").lane_workers == MAX_WORKERS


def test_missing_workers_and_wrong_shapes_name_the_fix() -> None:
    [missing] = problems("[lanes]\n")
    assert "field 'lanes.workers': missing" in missing and "workers = 2" in missing
    [not_table] = problems("lanes = 2\n")
    assert "field 'lanes': must be a table/mapping such as [lanes] workers = 2" in not_table


def test_a_lane_of_another_role_cannot_be_declared() -> None:
    found = problems('[lanes]\nworkers = 1\nusername = "alice"\ndatabase = "other"\n')
    assert len(found) == 2
    assert all("unknown key; allowed: workers" in p for p in found)
    assert "field 'lanes.username'" in found[1] or "field 'lanes.username'" in found[0]
    assert "the role that runs `pgcron apply`" in found[0] and "apply as that role" in found[0]


def test_lane_problems_are_reported_with_the_others() -> None:
    found = problems('[lanes]\nworkers = 99\n[[jobs]]\nname = "a"\nschedule = "nope"\ncommand = "SELECT 1"\n')
    assert any("'lanes.workers'" in p for p in found) and any("'schedule'" in p for p in found)


def test_the_example_and_the_json_schema() -> None:
    example = ROOT / "examples" / "lanes.toml"
    assert load_jobs_file(example).lanes == Lanes(2)
    import tomllib

    jsonschema.validate(tomllib.loads(example.read_text()), SCHEMA)
    for bad in ({"workers": 33}, {"workers": -1}, {}, {"workers": 1, "username": "alice"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"namespace": "ns", "lanes": bad}, SCHEMA)


# -- the lane in a plan -----------------------------------------------------------------------------------


def worker(n: int, *, scheduled: bool = True, live: bool = True, jobid: int | None = 0) -> LaneWorker:
    return LaneWorker(
        worker=n,
        jobid=100 + n if jobid == 0 else jobid,
        state="idle" if live else "stopped",
        pid=None,
        alive=live,
        live=live,
        heartbeat_age=0.1,
        submission_id=None,
        served=0,
        runs=1,
        run_started_at=None,
        last_claim_at=None,
        scheduled=scheduled,
    )


def status(wanted: int, *workers: LaneWorker) -> LaneStatus:
    return LaneStatus("app", "postgres", wanted, tuple(workers))


def test_compute_lane_start_resize_stop_unchanged() -> None:
    start = compute_lane(status(0), 2)
    assert (start.action, start.pending, start.before, start.after, start.missing) == (
        "start",
        True,
        0,
        2,
        (1, 2),
    )
    same = compute_lane(status(2, worker(1), worker(2)), 2)
    assert (same.action, same.pending, same.live) == ("unchanged", False, 2)
    grow = compute_lane(status(2, worker(1), worker(2)), 3)
    assert (grow.action, grow.missing) == ("resize", (3,))
    stop = compute_lane(status(2, worker(1), worker(2)), 0)
    assert (stop.action, stop.pending) == ("stop", True)
    assert not compute_lane(status(0), 0).pending  # no lane, none wanted


def test_a_lane_job_removed_outside_the_file_is_pending() -> None:
    change = compute_lane(status(2, worker(1), worker(2, scheduled=False)), 2)
    assert (change.pending, change.action, change.missing) == (True, "start", (2,))


def test_a_stopped_lane_whose_workers_still_finish_is_pending() -> None:
    change = compute_lane(status(0, worker(1, scheduled=False)), 0)
    assert (change.pending, change.action, change.leftover) == (True, "stop", 1)
    assert not compute_lane(status(0, worker(1, scheduled=False, jobid=None)), 0).pending  # job gone


def test_compute_lane_refuses_workers_the_engine_refuses() -> None:
    for bad in (-1, MAX_WORKERS + 1, True):
        with pytest.raises(PgCronError, match="1 to 32 workers"):
            compute_lane(status(0), bad)


CONTEXT = {
    "current_database": "postgres",
    "current_user": "app",
    "has_apply_record": True,
    "has_record_functions": True,
    "has_purge_procedure": True,
    "has_lanes": True,
}


def lane_rows(wanted: int, *workers: int) -> list[dict[str, Any]]:
    base = {"role": "app", "database": "postgres", "wanted": wanted}
    if not workers:
        return [{**base, "worker": None}]
    return [
        {
            **base,
            "worker": n,
            "jobid": 100 + n,
            "schedule": "1 seconds",
            "active": True,
            "pid": 4000 + n,
            "state": "idle",
            "submission_id": None,
            "served": 0,
            "runs": 1,
            "run_started_at": None,
            "last_claim_at": None,
            "heartbeat_age": 0.2,
            "alive": True,
        }
        for n in workers
    ]


class LaneSeam:
    """Answers plan_steps' queries: no jobs, the role's lane, other lanes, the cron settings."""

    def __init__(self, lane: list[dict[str, Any]], *, slots: list[dict[str, Any]], max_running: str | None):
        self.context = dict(CONTEXT)
        self.answers: dict[str, list[dict[str, Any]]] = {
            "jobs_session": [{"search_path": "public", "lock_timeout": "0"}],
            "lane_status": lane,
            "lane_slots": slots,
            "cron_settings": []
            if max_running is None
            else [{"name": "cron.max_running_jobs", "setting": max_running}],
        }
        self.queries: list[str] = []

    def __call__(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.queries.append(query)
        if query == "jobs_context":
            return [self.context]
        return self.answers.get(query, [])


def plan_with(seam: LaneSeam, workers: int | None):  # type: ignore[no-untyped-def]
    return run_steps(plan_steps([], namespace="ns", lane_workers=workers), seam)


def test_plan_without_lanes_reads_no_lane() -> None:
    seam = LaneSeam(lane_rows(2, 1, 2), slots=[], max_running="5")
    plan = plan_with(seam, None)
    assert plan.lane is None and not plan.pending
    assert not any(q.startswith("lane_") for q in seam.queries)
    assert plan.to_dict()["lane"] is None


def test_plan_with_lanes_is_pending_and_clean_after() -> None:
    started = plan_with(LaneSeam(lane_rows(0), slots=[], max_running="8"), 2)
    assert started.pending and started.lane is not None
    assert started.lane.to_dict() == {
        "action": "start",
        "role": "app",
        "database": "postgres",
        "pending": True,
        "before": 0,
        "after": 2,
        "live": 0,
        "missing": [1, 2],
        "leftover": 0,
        "warning": None,
    }
    assert started.to_dict()["pending"] and started.to_dict()["lane"]["after"] == 2
    clean = plan_with(LaneSeam(lane_rows(2, 1, 2), slots=[], max_running="8"), 2)
    assert not clean.pending and clean.lane is not None and clean.lane.action == "unchanged"


def test_plan_warns_like_doctor_when_the_lane_would_starve_scheduled_jobs() -> None:
    # another role's lane holds 1 slot; this role's current lane (1 worker) is counted as the file's 3
    others = [
        {"role": "bob", "database": "postgres", "workers": 1},
        {"role": "app", "database": "postgres", "workers": 1},
    ]
    seam = LaneSeam(lane_rows(1, 1), slots=others, max_running="6")
    plan = plan_with(seam, 3)
    assert plan.lane is not None and plan.lane.warning is not None
    assert "4 lane worker(s) hold 4 of cron.max_running_jobs = 6 slots; 1 remain" in plan.lane.warning
    assert plan_with(LaneSeam(lane_rows(1, 1), slots=others, max_running="8"), 3).lane.warning is None
    # a lane that shrinks or stays is never warned about (doctor reports the lanes as they are)
    shrink = LaneSeam(lane_rows(3, 1, 2, 3), slots=others, max_running="4")
    assert plan_with(shrink, 2).lane.warning is None and "lane_slots" not in shrink.queries


def test_plan_warns_when_the_limit_is_not_readable() -> None:
    plan = plan_with(LaneSeam(lane_rows(0), slots=[], max_running=None), 1)
    assert plan.lane is not None and "not readable by this role" in (plan.lane.warning or "")


def test_lanes_need_the_engine_schema() -> None:
    seam = LaneSeam(lane_rows(0), slots=[], max_running="5")
    seam.context["has_lanes"] = False
    with pytest.raises(SchemaOutOfDate, match=r"\[lanes\].*pgcron schema install"):
        plan_with(seam, 1)
    stopped = plan_with(seam, 0)  # nothing to stop without the schema
    assert stopped.lane is not None and not stopped.pending
    assert "lane_status" not in seam.queries


def test_lane_not_applied_says_the_jobs_were_applied() -> None:
    result = ApplyResult(("ns:a",), (), (), 0, {"ns:a": 1}, 5, True)
    error = lane_not_applied(
        LaneChange("app", "postgres", 0, 2), result, PgCronError("0 reported within 15 s.")
    )
    assert "the jobs were applied (1 created, 0 updated, 0 deleted)" in error.message
    assert "did not reach 2 worker(s): 0 reported within 15 s." in error.message
    assert error.context["result"] is result


# -- how plan prints it -----------------------------------------------------------------------------------


def printed(lane: LaneChange | None) -> str:
    from pgcron.cli.plan import print_plan
    from pgcron.plan import Plan

    out = Console(record=True, width=200, emoji=False, highlight=False)
    print_plan(
        out, Plan("ns", (), current_user="app", current_database="postgres", has_record=True, lane=lane)
    )
    return out.export_text()


def test_plan_prints_the_lane_as_its_own_block() -> None:
    text = printed(LaneChange("app", "postgres", 0, 2))
    assert "+ lane      app in postgres\n    workers: 0 → 2\n" in text
    assert (
        "Plan: 0 to create, 0 to update, 0 to delete, 0 unchanged, lane 0 → 2 worker(s) — changes pending."
        in text
    )
    assert "~ lane      app in postgres\n    workers: 2 → 3\n" in printed(LaneChange("app", "postgres", 2, 3))
    assert "- lane      app in postgres\n    workers: 2 → 0 (stops the lane)\n" in printed(
        LaneChange("app", "postgres", 2, 0)
    )
    repair = printed(LaneChange("app", "postgres", 2, 2, missing=(2,)))
    assert "workers: 2 (worker 2 has no active job: apply starts them again)" in repair
    both = printed(LaneChange("app", "postgres", 2, 2, missing=(1, 2)))
    assert "workers: 2 (workers 1, 2 have no active job" in both


def test_plan_prints_an_unchanged_lane_only_in_the_summary() -> None:
    text = printed(LaneChange("app", "postgres", 2, 2, live=2))
    assert "lane " not in text.split("Plan:")[0].split("\n", 1)[1]
    assert "lane unchanged (2 worker(s)) — no changes." in text
    assert "lane" not in printed(None)


def test_plan_prints_the_warning_and_escapes_the_role() -> None:
    text = printed(LaneChange("[red]m\x1b]0;x", "postgres", 0, 4, warning="4 lane worker(s) hold 4 of ..."))
    assert "lane      [red]m" in text and "\x1b" not in text
    assert "    warning: 4 lane worker(s) hold 4 of ..." in text
