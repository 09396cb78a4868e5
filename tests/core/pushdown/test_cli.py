"""`pgcron run` end to end (click runner against the real servers): output, JSON and exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from pgcron.cli import main

from .conftest import count, insert_sql

pytestmark = [pytest.mark.integration, pytest.mark.acceptance]


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["run", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_success_json_and_key_reattach(engine_dsn: str, token: str) -> None:
    code, out = _run(insert_sql(token), "--dsn", engine_dsn, "--key", f"k-{token}", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["status"] == "succeeded" and data["rows"] == 1 and data["key"] == f"k-{token}"
    code, out = _run(insert_sql(token), "--dsn", engine_dsn, "--key", f"k-{token}", "--json")
    assert code == 0 and json.loads(out)["runid"] == data["runid"]
    assert count(engine_dsn, token) == 1


def test_failed_run_exits_1(engine_dsn: str) -> None:
    code, out = _run("SELECT 1/0", "--dsn", engine_dsn)
    assert code == 1
    assert "failed" in out and "ERROR: division by zero" in out


def test_refused_command_exits_2(engine_dsn: str) -> None:
    code, out = _run("COPY pg_class TO STDOUT", "--dsn", engine_dsn, "--json")
    assert code == 2
    assert json.loads(out)["error"] == "UnsupportedCommand"


def test_connection_error_exits_2() -> None:
    code, out = _run("SELECT 1", "--dsn", "postgresql://postgres@127.0.0.1:1/postgres")
    assert code == 2 and "connection" in out


def test_no_wait_prints_the_handle(engine_dsn: str, token: str) -> None:
    code, out = _run(insert_sql(token), "--dsn", engine_dsn, "--no-wait", "--json")
    assert code == 0
    handle = json.loads(out)
    assert handle["status"] == "pending" and handle["submission_id"] > 0 and handle["jobid"] > 0


def test_wait_timeout_exits_1(engine_dsn: str) -> None:
    code, out = _run("SELECT pg_sleep(3)", "--dsn", engine_dsn, "--wait-timeout", "0.5")
    assert code == 1 and "goes on in the database" in out
