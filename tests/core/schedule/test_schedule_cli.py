"""`pgcron schedule check | next | explain`: output, --json and exit codes (no database)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from pgcron.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["schedule", *args])
    return result.exit_code, result.output


def test_check_valid_and_invalid_exit_codes() -> None:
    code, out = run("check", "0 12 $ * *")
    assert code == 0 and "At 12:00 on the last day of every month" in out
    code, out = run("check", "0 0 * * 1#2")
    assert code == 1 and "use --compat" in out and "^" in out
    code, out = run("check", "--compat", "0 0 * * 1#2")
    assert code == 0 and "drops '#2'" in out
    code, _ = run("check", "--version", "1.4", "30 seconds")
    assert code == 1


def test_usage_errors_exit_2() -> None:
    assert run("check", "--version", "1.3", "* * * * *")[0] == 2
    assert run("check", "--timezone", "Mars/Olympus", "* * * * *")[0] == 2
    assert run("next", "--version", "1.4", "--timezone", "Asia/Tokyo", "* * * * *")[0] == 2
    assert run("check")[0] == 2  # missing EXPR


def test_check_json() -> None:
    code, out = run("check", "--json", "*/5 * * * *")
    data = json.loads(out)
    assert code == 0 and data["valid"] and data["kind"] == "cron" and data["description"] == "Every 5 minutes"
    code, out = run("check", "--json", "60 seconds")
    data = json.loads(out)
    assert code == 1 and not data["valid"] and data["position"] == 0 and "1-59 seconds" in data["error"]


def test_next_json_follows_dst() -> None:
    code, out = run(
        "next",
        "--json",
        "--timezone",
        "America/New_York",
        "--after",
        "2026-10-31T12:00:00",
        "-n",
        "2",
        "30 1 * * *",
    )
    data = json.loads(out)
    assert code == 0
    assert data["next"] == ["2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00"]
    assert data["next_utc"] == ["2026-11-01T05:30:00+00:00", "2026-11-01T06:30:00+00:00"]


def test_next_table_and_explain() -> None:
    code, out = run(
        "next", "--timezone", "Asia/Kathmandu", "--after", "2025-12-31T23:00:00", "-n", "1", "45 5 * * *"
    )
    assert code == 0 and "2026-01-01 05:45:00" in out and "2026-01-01 00:00:00" in out
    code, out = run("explain", "--compat", "50-10 * * * *")
    assert code == 0 and "8,9,10,50,51,52,53,54,55" in out and "reversed range" in out
    code, out = run("explain", "--json", "@reboot")
    assert code == 0 and json.loads(out)["kind"] == "reboot" and json.loads(out)["next"] == []
