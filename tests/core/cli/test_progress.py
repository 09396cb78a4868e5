"""Live status of `pgcron run` on a terminal; silent with --json and when output is not a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from .conftest import cli_env, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.acceptance]

SQL = "SELECT pg_sleep(2)"


def test_run_on_a_terminal_shows_a_live_status(pgcron_dsn: str) -> None:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgcron", "run", SQL, "--wait-timeout", "60"],
        env=cli_env(pgcron_dsn, TERM="xterm", COLUMNS="120"),
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    text = seen.decode(errors="replace")
    assert "pending: submission" in text  # the status line before the run starts
    assert "running: submission" in text  # … and while the statement runs
    assert re.search(r"— \d+\.\ds", text), text  # elapsed time
    assert "succeeded" in text and "1 row" in text


def test_run_is_silent_when_piped_and_with_json(pgcron_dsn: str) -> None:
    piped = run_cli(pgcron_dsn, "run", SQL, "--wait-timeout", "60")
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == ""  # no status line
    assert piped.stdout.startswith("succeeded") and piped.stdout.count("\n") == 1
    as_json = run_cli(pgcron_dsn, "run", "SELECT 1", "--json", "--wait-timeout", "60")
    assert as_json.returncode == 0 and as_json.stderr == ""
    data = json.loads(as_json.stdout)
    assert data["status"] == "succeeded" and data["message"] == "1 row" and data["runid"] > 0
