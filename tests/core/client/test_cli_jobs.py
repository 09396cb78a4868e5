"""`pgcron jobs` and `pgcron runs` against a real server (click's runner; acceptance runs the binary)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from pgcron import Client, JobSpec
from pgcron.cli import main

from .conftest import wait_for

pytestmark = pytest.mark.integration


def test_jobs_table_and_json(pgcron_dsn: str, job_prefix: str) -> None:
    with Client.connect(pgcron_dsn) as client:
        job = client.schedule(JobSpec(name=f"{job_prefix}cli", schedule="0 3 * * *", command="SELECT 42"))
    runner = CliRunner()
    result = runner.invoke(main, ["jobs", "--json"], env={"PGCRON_DSN": pgcron_dsn})
    assert result.exit_code == 0, result.output
    mine = [j for j in json.loads(result.output) if j["jobid"] == job.jobid]
    assert mine == [
        {
            "jobid": job.jobid,
            "name": f"{job_prefix}cli",
            "schedule": "0 3 * * *",
            "command": "SELECT 42",
            "database": job.database,
            "username": job.username,
            "active": True,
            "nodename": job.nodename,
            "nodeport": job.nodeport,
        }
    ]
    table = runner.invoke(main, ["jobs", "--dsn", pgcron_dsn], env={"COLUMNS": "250"})
    assert table.exit_code == 0 and f"{job_prefix}cli" in table.output


def test_runs_filters_and_json(pgcron_dsn: str, job_prefix: str) -> None:
    with Client.connect(pgcron_dsn) as client:
        job = client.schedule(JobSpec(name=f"{job_prefix}clirun", schedule="1 seconds", command="SELECT 1/0"))
        wait_for(lambda: any(r.status.is_terminal for r in client.runs(job=job.jobid)), what="a run")
        runner = CliRunner()
        result = runner.invoke(
            main,
            [
                "runs",
                "--dsn",
                pgcron_dsn,
                "--job",
                f"{job_prefix}clirun",
                "--status",
                "failed",
                "--since",
                "10m",
                "--limit",
                "2",
                "--json",
            ],
        )
        client.unschedule(job.jobid)
    assert result.exit_code == 0, result.output
    runs = json.loads(result.output)
    assert 1 <= len(runs) <= 2
    assert {r["jobid"] for r in runs} == {job.jobid}
    assert {r["status"] for r in runs} == {"failed"}
    assert runs[0]["message"] == "ERROR: division by zero"


def test_bad_since_is_a_usage_error(pgcron_dsn: str) -> None:
    result = CliRunner().invoke(main, ["runs", "--dsn", pgcron_dsn, "--since", "yesterday"])
    assert result.exit_code == 2
    assert "30m, 2h, 7d" in result.output


def test_missing_dsn_is_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PGCRON_DSN"}
    proc = subprocess.run(
        [sys.executable, "-m", "pgcron", "jobs"], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 2
    assert "--dsn" in proc.stderr and "PGCRON_DSN" in proc.stderr


def test_connection_error_exit_code_and_json(pgcron_dsn: str) -> None:
    result = CliRunner().invoke(
        main, ["jobs", "--json", "--dsn", "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2"]
    )
    assert result.exit_code == 2
    assert json.loads(result.output)["error"] == "ConnectionFailed"
