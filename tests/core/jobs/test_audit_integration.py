"""Audit against real pg_cron: runs missed while a job was inactive (synthetic history, as superuser)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from pgcron.audit import FindingKind
from pgcron.client import Client

pytestmark = pytest.mark.integration


def test_runs_missed_while_inactive_are_found(
    conn: psycopg.Connection[Any], namespace: str, engine_dsn: str
) -> None:
    name = f"{namespace}:every-minute"
    (jobid,) = (
        conn.execute(
            "SELECT cron.schedule_in_database(%s::text, '* * * * *', 'SELECT 1', current_database()::text,"
            " NULL, false)",
            (name,),
        ).fetchone()
        or ()
    )
    # It ran each minute from -30 to -21, was inactive from -20 to -6, ran again from -5 to -2
    # (minute -4 failed), and is inactive now. Start times are the minute + 40 ms, as the launcher's are.
    conn.execute(
        "INSERT INTO cron.job_run_details (jobid, runid, database, username, command, status, return_message,"
        " start_time, end_time)"
        " SELECT %s, nextval('cron.runid_seq'), 'postgres', 'postgres', 'SELECT 1',"
        "        CASE WHEN m = 4 THEN 'failed' ELSE 'succeeded' END,"
        "        CASE WHEN m = 4 THEN 'ERROR: boom' ELSE '1 row' END,"
        "        date_trunc('minute', now()) - m * interval '1 minute' + interval '40 ms',"
        "        date_trunc('minute', now()) - m * interval '1 minute' + interval '90 ms'"
        "   FROM generate_series(30, 2, -1) m WHERE m NOT BETWEEN 6 AND 20",
        (jobid,),
    )
    report = Client.connect(conn).audit(timedelta(minutes=45), job=name)
    kinds = [(f.kind, f.count) for f in report.findings]
    assert (FindingKind.MISSED, 15) in kinds, report.to_dict()
    assert (FindingKind.FAILED, 1) in kinds
    assert len(report.findings) == 2
    missed = next(f for f in report.findings if f.kind is FindingKind.MISSED)
    assert missed.expected is not None and missed.expected.second == 0
    # and the CLI exits non-zero on findings (for monitoring), zero when they are ignored
    env = {**os.environ, "PGCRON_DSN": engine_dsn}
    cli = [sys.executable, "-m", "pgcron", "audit", "--since", "45m", "--job", name]
    found = subprocess.run([*cli, "--json"], env=env, capture_output=True, text=True, check=False)
    assert found.returncode == 1 and '"missed": 15' in found.stdout
    ignored = subprocess.run(
        [*cli, "--ignore", "missed", "--ignore", "failed"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.returncode == 0, ignored.stdout + ignored.stderr


def test_on_time_history_has_no_findings(conn: psycopg.Connection[Any], namespace: str) -> None:
    name = f"{namespace}:hourly"
    (jobid,) = (
        conn.execute(
            "SELECT cron.schedule_in_database(%s::text, '7 * * * *', 'SELECT 1', current_database()::text,"
            " NULL, false)",
            (name,),
        ).fetchone()
        or ()
    )
    conn.execute(
        "INSERT INTO cron.job_run_details (jobid, runid, database, username, command, status, return_message,"
        " start_time, end_time)"
        " SELECT %s, nextval('cron.runid_seq'), 'postgres', 'postgres', 'SELECT 1', 'succeeded', '1 row',"
        "        t, t"
        "   FROM generate_series(date_trunc('hour', now() - interval '10 hours') + interval '7 min 20 ms',"
        "                        now() - interval '2 minutes', interval '1 hour') t",
        (jobid,),
    )
    report = Client.connect(conn).audit(timedelta(hours=6), job=name)
    assert report.findings == () and report.expected_runs in (5, 6)
