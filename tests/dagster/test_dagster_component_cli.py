"""The jobs component through dg and the Dagster CLI on the examples, against real pg_cron."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pgcron
import psycopg
import pytest
from dagster_pgcron import PgCronJobsComponent

pytestmark = [pytest.mark.integration, pytest.mark.acceptance]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "dagster"
BIN = Path(sys.executable).parent


def run_cli(args: list[str], cwd: Path, dsn: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PGCRON_DSN": dsn, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").touch()
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_definitions_validate_on_the_example(engine_dsn: str, tmp_path: Path) -> None:
    out = run_cli(
        ["dagster", "definitions", "validate", "-f", "definitions.py"], EXAMPLES, engine_dsn, tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "passed validation" in out.stderr + out.stdout


def _count_today(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('demo_daily_sales') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return 0
        row = conn.execute(
            "SELECT coalesce(max(n), 0) FROM demo_daily_sales WHERE day = current_date"
        ).fetchone()
    return int(row[0]) if row else 0


def test_asset_materialize_on_the_example(engine_dsn: str, tmp_path: Path) -> None:
    before = _count_today(engine_dsn)
    ok = run_cli(
        ["dagster", "asset", "materialize", "-f", "definitions.py", "--select", "demo/daily_sales"],
        EXAMPLES,
        engine_dsn,
        tmp_path,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert _count_today(engine_dsn) == before + 1  # the SQL ran inside PostgreSQL exactly once
    bad = run_cli(
        ["dagster", "asset", "materialize", "-f", "definitions.py", "--select", "demo/always_fails"],
        EXAMPLES,
        engine_dsn,
        tmp_path,
    )
    assert bad.returncode != 0
    assert "division by zero" in bad.stdout + bad.stderr


def test_dg_lists_the_component_and_checks_the_project(engine_dsn: str, tmp_path: Path) -> None:
    project = EXAMPLES / "dg_project"
    listed = run_cli(["dg", "list", "components"], project, engine_dsn, tmp_path)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "dagster_pgcron.PgCronJobsComponent" in listed.stdout
    checked = run_cli(["dg", "check", "defs"], project, engine_dsn, tmp_path)
    assert checked.returncode == 0, checked.stderr[-2000:] + checked.stdout[-2000:]
    defs = run_cli(["dg", "list", "defs", "--json"], project, engine_dsn, tmp_path)
    assert defs.returncode == 0, defs.stderr[-2000:]
    assert "pg_cron/shop/refresh_totals" in defs.stdout
    assert "pg_cron_apply_shop" in defs.stdout and "pg_cron_runs_shop" in defs.stdout


def test_apply_job_plans_and_applies_only_when_run(engine_dsn: str, job_prefix: str, tmp_path: Path) -> None:
    namespace = job_prefix.rstrip("_")
    comp = PgCronJobsComponent.resolve_from_yaml(
        f"""
jobs:
  namespace: {namespace}
  jobs:
    - name: a
      schedule: "0 3 * * *"
      command: SELECT 1
    - name: b
      schedule: "*/10 * * * *"
      command: SELECT 2
"""
    )
    os.environ.setdefault("PGCRON_DSN", engine_dsn)
    defs = comp.build_defs_at(tmp_path)
    instance = dg.DagsterInstance.ephemeral()

    def live() -> dict[str, str]:
        with pgcron.Client.connect(engine_dsn) as client:
            return {j.name: j.schedule for j in client.jobs() if (j.name or "").startswith(namespace + ":")}

    try:
        assert live() == {}  # loading definitions changed nothing
        job = defs.resolve_job_def(f"pg_cron_apply_{namespace}")
        resources = {"pg_cron": defs.resources["pg_cron"].model_copy(update={"dsn": engine_dsn})}
        dry = job.execute_in_process(
            instance=instance,
            resources=resources,
            run_config={"ops": {f"pg_cron_apply_{namespace}_op": {"config": {"dry_run": True}}}},
        )
        assert dry.success and live() == {}
        applied = job.execute_in_process(instance=instance, resources=resources)
        assert applied.success
        assert live() == {f"{namespace}:a": "0 3 * * *", f"{namespace}:b": "*/10 * * * *"}
        again = job.execute_in_process(instance=instance, resources=resources)
        (out,) = [e for e in again.all_events if e.event_type_value == "STEP_OUTPUT"]
        meta = out.event_specific_data.metadata
        assert meta["applied"].value is False and meta["plan/unchanged"].value == 2
    finally:
        with pgcron.Client.connect(engine_dsn) as client:
            for name in live():
                client.unschedule(name)
