"""A jobs file's ``[lanes]`` against the real server: `pgcron plan` / `pgcron apply` start, resize and stop
the applying role's lane, a second plan is clean, and a role applying a file never touches another's lane."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pgcron import Client
from pgcron.cli import main
from pgcron.jobsfile import load_jobs_file
from pgcron.plan import desired_specs

from .conftest import query_one

pytestmark = pytest.mark.timeout(240)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lanes.toml"


def jobs_file(folder: Path, namespace: str, workers: int) -> str:
    path = folder / f"jobs-{workers}.toml"
    path.write_text(
        f'namespace = "{namespace}"\n\n[lanes]\nworkers = {workers}\n\n'
        '[[jobs]]\nname = "tick"\nschedule = "0 0 30 2 *"\ncommand = "SELECT 1"\n'
    )
    return str(path)


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def plan_json(file: str, dsn: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = cli("plan", file, "--dsn", dsn, "--json")
    return result.exit_code, json.loads(result.output)


def lane_jobs(dsn: str) -> int:
    row = query_one(dsn, "SELECT count(*) FROM cron.job WHERE jobname LIKE 'pgcron:lane:%%'")
    assert row is not None
    return int(row[0])  # type: ignore[call-overload]


def test_plan_apply_resize_and_stop_a_lane(engine_dsn, make_role, tmp_path):
    alice = make_role("alice")
    role = query_one(alice, "SELECT current_user")
    assert role is not None
    namespace = f"lanes-{secrets.token_hex(3)}"
    try:
        # the example file: a lane of 2 workers for the role that applies it, no jobs
        code, plan = plan_json(str(EXAMPLE), alice)
        assert code == 2 and plan["pending"]
        lane = plan["lane"]
        assert (lane["action"], lane["role"], lane["before"], lane["after"]) == ("start", role[0], 0, 2)
        assert "not readable by this role" in lane["warning"]  # alice may not read cron.max_running_jobs
        shown = cli("plan", str(EXAMPLE), "--dsn", alice)
        assert shown.exit_code == 2
        assert f"+ lane      {role[0]} in " in shown.output and "workers: 0 → 2" in shown.output
        applied = cli("apply", str(EXAMPLE), "--dsn", alice, "--yes", "--json")
        assert applied.exit_code == 0, applied.output
        lane = json.loads(applied.output)["lane"]
        assert (lane["wanted"], lane["live"], lane["role"]) == (2, 2, role[0])
        code, plan = plan_json(str(EXAMPLE), alice)
        assert code == 0 and not plan["pending"] and plan["lane"]["action"] == "unchanged"

        # a file with jobs and a smaller lane: the job is created and the lane resized in one apply
        one = jobs_file(tmp_path, namespace, 1)
        code, plan = plan_json(one, alice)
        assert code == 2 and plan["summary"]["create"] == 1
        assert (plan["lane"]["action"], plan["lane"]["before"], plan["lane"]["after"]) == ("resize", 2, 1)
        applied = cli("apply", one, "--dsn", alice, "--yes")
        assert applied.exit_code == 0, applied.output
        assert "1 created" in applied.output and "1 of 1 worker(s) live" in applied.output
        assert plan_json(one, alice)[0] == 0
        with Client.connect(alice) as client:
            status = client.lane_status()
            assert (status.wanted, status.live) == (1, 1)
            # a lane job removed outside the file: the plan says so and apply starts it again
            client.unschedule(f"pgcron:lane:{status.workers[0].worker}")
        code, plan = plan_json(one, alice)
        assert code == 2 and plan["lane"]["missing"] == [1] and plan["summary"]["create"] == 0
        assert cli("apply", one, "--dsn", alice, "--yes").exit_code == 0
        assert plan_json(one, alice)[0] == 0

        # workers = 0 stops the lane and removes its jobs; the job stays
        zero = jobs_file(tmp_path, namespace, 0)
        code, plan = plan_json(zero, alice)
        assert code == 2 and plan["lane"]["action"] == "stop"
        applied = cli("apply", zero, "--dsn", alice, "--yes")
        assert applied.exit_code == 0 and "stopped" in applied.output, applied.output
        assert lane_jobs(alice) == 0
        assert query_one(
            alice, "SELECT count(*) FROM cron.job WHERE jobname = %s", (f"{namespace}:tick",)
        ) == (1,)
        code, plan = plan_json(zero, alice)
        assert code == 0 and plan["lane"]["action"] == "unchanged"
        # no [lanes] at all: the plan leaves lanes alone
        with Client.connect(alice) as client:
            spec_file = load_jobs_file(zero)
            plan_obj = client.plan(desired_specs(spec_file), namespace=namespace)
            assert plan_obj.lane is None and not plan_obj.pending
    finally:
        with Client.connect(alice) as client:
            client.lane_stop()


def test_mallory_s_jobs_file_cannot_touch_alice_s_lane(engine_dsn, make_role, tmp_path):
    alice, mallory = make_role("alice"), make_role("mallory")
    namespace = f"lanes-{secrets.token_hex(3)}"
    with Client.connect(alice) as alice_client, Client.connect(mallory) as mallory_client:
        try:
            alice_client.lane_start(2)
            # mallory's lanes are mallory's own: "0" plans nothing (mallory has no lane), alice's is unseen
            zero = jobs_file(tmp_path, namespace, 0)
            code, plan = plan_json(zero, mallory)
            assert plan["lane"]["before"] == 0 and plan["lane"]["role"] != alice_client.lane_status().role
            assert code == 2 and plan["summary"]["create"] == 1  # only mallory's job
            assert cli("apply", zero, "--dsn", mallory, "--yes").exit_code == 0
            one = jobs_file(tmp_path, namespace, 1)
            applied = cli("apply", one, "--dsn", mallory, "--yes", "--json")
            assert applied.exit_code == 0, applied.output
            assert json.loads(applied.output)["lane"]["wanted"] == 1
            assert cli("apply", zero, "--dsn", mallory, "--yes").exit_code == 0
            assert mallory_client.lane_status().wanted == 0 and lane_jobs(mallory) == 0
            # alice's lane kept its two workers through all of it
            status = alice_client.lane_status()
            assert (status.wanted, status.live) == (2, 2)
            assert lane_jobs(alice) == 2
        finally:
            mallory_client.lane_stop()
            alice_client.lane_stop()


def test_plan_warns_a_superuser_before_the_lane_takes_the_last_slots(engine_dsn, tmp_path):
    """Only a plan: the warning is doctor's lanes finding, with the file's workers (nothing starts)."""
    code, plan = plan_json(jobs_file(tmp_path, f"lanes-{secrets.token_hex(3)}", 32), engine_dsn)
    assert code == 2 and plan["lane"]["after"] == 32
    # every lane the superuser sees counts (none should be left by other tests, but never assume it)
    assert re.search(
        r"^\d+ lane worker\(s\) hold \d+ of cron\.max_running_jobs = \d+ slots", plan["lane"]["warning"]
    )
    shown = cli("plan", jobs_file(tmp_path, "lanes-x", 32), "--dsn", engine_dsn)
    assert "    warning: " in shown.output and "lane worker(s)" in shown.output
