"""`pgcron lane start|status|stop` in-process, and the engine keeping a lane's own run history small."""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner
from pgcron import Client
from pgcron.cli import main

from .conftest import query_one, wait_until

pytestmark = pytest.mark.timeout(180)


def test_cli_start_status_stop(engine_dsn, make_role):
    alice = make_role("alice")
    runner = CliRunner()
    started = runner.invoke(main, ["lane", "start", "--workers", "2", "--dsn", alice, "--json"])
    assert started.exit_code == 0, started.output
    data = json.loads(started.output)
    assert data["wanted"] == 2 and data["live"] == 2
    assert {w["worker"] for w in data["workers"]} == {1, 2}
    shown = runner.invoke(main, ["lane", "status", "--dsn", alice])
    assert shown.exit_code == 0 and "2 of 2 worker(s) live" in shown.output
    stopped = runner.invoke(main, ["lane", "stop", "--dsn", alice, "--json"])
    assert stopped.exit_code == 0, stopped.output
    assert json.loads(stopped.output)["running"] == 0
    assert query_one(alice, "SELECT count(*) FROM cron.job WHERE jobname LIKE 'pgcron:lane:%%'") == (0,)
    bad = runner.invoke(main, ["lane", "start", "--workers", "0", "--dsn", alice])
    assert bad.exit_code == 2  # usage error: nothing started


def test_lane_run_rows_are_purged_by_maintenance(engine_dsn, make_role):
    """Each lane run ends after lane_period and pg_cron starts the next; maintenance deletes the finished run
    rows once they are older than own_run_retention (both shortened here)."""
    alice = make_role("alice")
    with psycopg.connect(engine_dsn, autocommit=True) as su:
        old = dict(su.execute("SELECT name, value FROM pgcron.config").fetchall())
        su.execute("UPDATE pgcron.config SET value = '2 seconds' WHERE name = 'lane_period'")
        su.execute("UPDATE pgcron.config SET value = '1 second' WHERE name = 'own_run_retention'")
        try:
            with Client.connect(alice) as client:
                client.lane_start(1)
                jobid = client.lane_status().workers[0].jobid

                def runs() -> int:
                    row = query_one(
                        engine_dsn, "SELECT count(*) FROM cron.job_run_details WHERE jobid = %s", (jobid,)
                    )
                    assert row is not None
                    return int(row[0])  # type: ignore[call-overload]

                wait_until(lambda: (client.lane_status().workers[0].runs or 0) >= 5, 60, "five lane runs")
                # Five runs happened; without the purge their rows would stay. Maintenance (every 5 s) deletes
                # the finished ones older than 1 s: the run in progress and at most one more remain.
                wait_until(lambda: runs() <= 2, 30, "maintenance to purge the lane's finished run rows")
                assert client.lane_status().workers[0].runs >= 5
                client.lane_stop()
        finally:
            for name in ("lane_period", "own_run_retention"):
                su.execute("UPDATE pgcron.config SET value = %s WHERE name = %s", (old[name], name))
