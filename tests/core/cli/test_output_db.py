"""Terminal-safe, one-line-per-row output of jobs/runs/plan/run against a real server (issues 11 and 14)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from pgcron import Client, JobSpec
from pgcron.cli import main

from .conftest import HOSTILE, assert_inert, run_cli, wait_for

pytestmark = pytest.mark.integration


def _raising(dsn: str) -> str:
    """SQL that fails with the hostile text as its error message."""
    template = "DO $$BEGIN RAISE EXCEPTION '%%', convert_from(decode(%L, 'hex'), 'UTF8'); END$$"
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT format(%s::text, %s::text)", (template, HOSTILE.encode().hex())).fetchone()
    assert row is not None
    return str(row[0])


def _hostile_jobs(dsn: str, prefix: str) -> tuple[int, int]:
    """A job whose name and command are hostile, and one whose run message is."""
    command = _raising(dsn)
    with Client.connect(dsn) as client:
        named = client.schedule(
            JobSpec(name=f"{prefix}{HOSTILE}", schedule="0 3 * * *", command=f"SELECT '{HOSTILE}'")
        )
        failing = client.schedule(JobSpec(name=f"{prefix}msg", schedule="1 seconds", command=command))
        wait_for(
            lambda: any(r.status.is_terminal for r in client.runs(job=failing.jobid)), what="a failed run"
        )
        client.alter(failing.jobid, active=False)
    return named.jobid, failing.jobid


def test_hostile_names_commands_and_messages_print_inert(pgcron_dsn: str, job_prefix: str) -> None:
    named, failing = _hostile_jobs(pgcron_dsn, job_prefix)
    runner = CliRunner()
    jobs = runner.invoke(main, ["jobs", "--dsn", pgcron_dsn], env={"COLUMNS": "400"})
    assert jobs.exit_code == 0, jobs.output
    assert_inert(jobs.output)
    runs = runner.invoke(
        main, ["runs", "--dsn", pgcron_dsn, "--job", str(failing), "--limit", "1"], env={"COLUMNS": "400"}
    )
    assert runs.exit_code == 0, runs.output
    assert_inert(runs.output)
    assert "ERROR:" in runs.output

    # The real CLI, output to a pipe: nothing is shortened, nothing raw gets through.
    for args in (["jobs"], ["runs", "--job", str(failing), "--limit", "1"]):
        done = run_cli(pgcron_dsn, *args)
        assert done.returncode == 0, done.stderr
        assert_inert(done.stdout)
    # --json is data, not terminal output: the exact text, unchanged.
    data = json.loads(run_cli(pgcron_dsn, "jobs", "--json").stdout)
    assert [j["name"] for j in data if j["jobid"] == named] == [f"{job_prefix}{HOSTILE}"]


def test_plan_and_run_print_inert(pgcron_dsn: str, job_prefix: str, tmp_path: Path) -> None:
    namespace = job_prefix.rstrip("_")
    jobs_file = tmp_path / "jobs.toml"
    jobs_file.write_text(
        f'namespace = "{namespace}"\nversion = 1\n\n[[jobs]]\nname = "a"\nschedule = "0 3 * * *"\n'
        f"command = {json.dumps('SELECT ' + chr(39) + HOSTILE + chr(39))}\n",  # TOML \u escapes
        encoding="utf-8",
    )
    plan = run_cli(pgcron_dsn, "plan", str(jobs_file))
    assert plan.returncode == 2, plan.stdout + plan.stderr  # changes pending
    assert_inert(plan.stdout)

    done = run_cli(pgcron_dsn, "run", _raising(pgcron_dsn), "--wait-timeout", "60")
    assert done.returncode == 1, done.stdout + done.stderr  # the run failed, with the hostile message
    assert_inert(done.stdout)


@pytest.mark.parametrize("columns", [80, 100])
def test_jobs_and_runs_one_line_each(pgcron_dsn: str, job_prefix: str, columns: int) -> None:
    command = (
        "DELETE FROM public.events WHERE created_at < now() - interval '30 days' AND id IN (SELECT 1);\n" * 8
    )
    with Client.connect(pgcron_dsn) as client:
        mine = [
            client.schedule(JobSpec(name=f"{job_prefix}w{i}", schedule="0 4 * * *", command=command)).jobid
            for i in range(6)
        ]
        total = len(client.jobs())
    result = CliRunner().invoke(main, ["jobs", "--dsn", pgcron_dsn], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3 + total, result.output  # title, header, rule, one line per job
    assert max(len(line) for line in lines) <= columns
    rows = lines[3:]  # below the title ("7 pg_cron job(s)" would match jobid 7), header and rule
    for jobid in mine:
        assert sum(bool(re.match(rf"^\s*{jobid}\s", line)) for line in rows) == 1
    assert "…" in result.output

    wide = CliRunner().invoke(main, ["jobs", "--dsn", pgcron_dsn, "--wide"], env={"COLUMNS": str(columns)})
    assert wide.exit_code == 0
    assert "interval '30 days' AND id IN (SELECT 1);" in wide.output  # whole, not shortened

    runs = CliRunner().invoke(
        main, ["runs", "--dsn", pgcron_dsn, "--limit", "10"], env={"COLUMNS": str(columns)}
    )
    assert runs.exit_code == 0, runs.output
    run_lines = runs.output.splitlines()
    title = run_lines[0].strip()
    shown = int(title.split()[0])
    assert len(run_lines) == 3 + shown and max(len(line) for line in run_lines) <= columns


def test_pushdown_run_lists_its_statement_outcome_and_real_runid(pgcron_dsn: str) -> None:
    with Client.connect(pgcron_dsn) as client:
        run = client.run_now("SELECT 42", timeout=60)
        assert run.runid > 0 and run.message == "1 row"
        listed = client.run(run.runid)
        assert (listed.runid, listed.message, listed.rows) == (run.runid, "1 row", 1)
        assert listed.return_message == "CALL"  # pg_cron's own record is the wrapper's
        assert [r.message for r in client.runs(job=run.jobid)] == ["1 row"]
    shown = CliRunner().invoke(main, ["runs", "--dsn", pgcron_dsn, "--job", str(run.jobid)])
    assert shown.exit_code == 0 and "1 row" in shown.output and "CALL" not in shown.output
