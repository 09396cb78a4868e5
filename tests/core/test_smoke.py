"""Smoke tests of every server flavour the test run uses: versions, a real run in both modes, cleanup."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

pytestmark = pytest.mark.integration

_EXPECTED = {
    # fixture: (extversion, cron.use_background_workers)
    "pgcron_dsn": ("1.6", "on"),
    "pgcron_libpq_dsn": ("1.6", "off"),
    "pgcron_14_dsn": ("1.4-1", None),
}


@pytest.mark.parametrize("fixture", sorted(_EXPECTED))
def test_extension_version_and_mode(fixture: str, request: pytest.FixtureRequest) -> None:
    dsn = request.getfixturevalue(fixture)
    expected_version, expected_mode = _EXPECTED[fixture]
    with psycopg.connect(dsn, autocommit=True) as conn:
        extversion = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'").fetchone()
        mode = conn.execute("SELECT current_setting('cron.use_background_workers', true)").fetchone()
    assert extversion == (expected_version,)
    if expected_mode is not None:
        assert mode == (expected_mode,)


def _wait_for(
    conn: psycopg.Connection, query: sql.Composable, params: tuple[object, ...], deadline_s: float
) -> list[tuple[object, ...]]:
    """Poll ``query`` until it returns rows or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        rows = conn.execute(query, params).fetchall()
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_one_second_job_runs_and_is_recorded(pgcron_both_modes_dsn: str, job_prefix: str) -> None:
    table = sql.Identifier(f"{job_prefix}ticks")
    with psycopg.connect(pgcron_both_modes_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (at timestamptz DEFAULT clock_timestamp())").format(table))
        try:
            command = sql.SQL("INSERT INTO {} DEFAULT VALUES").format(table).as_string(conn)
            jobid = conn.execute(
                "SELECT cron.schedule(%s, '1 seconds', %s)", (f"{job_prefix}tick", command)
            ).fetchone()
            assert jobid is not None
            runs = _wait_for(
                conn,
                sql.SQL(
                    "SELECT status, return_message FROM cron.job_run_details "
                    "WHERE jobid = %s AND status = 'succeeded'"
                ),
                (jobid[0],),
                deadline_s=15,
            )
            assert runs, "pg_cron recorded no succeeded run of a '1 seconds' job within 15 s"
            assert runs[0][1] == "INSERT 0 1"
            ticks = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
            assert ticks is not None and ticks[0] >= 1  # the SQL really ran inside the database
        finally:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))


def test_seconds_schedule_is_rejected_by_pg_cron_14(pgcron_14_dsn: str, job_prefix: str) -> None:
    with (
        psycopg.connect(pgcron_14_dsn, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InvalidParameterValue, match="invalid schedule"),
    ):
        conn.execute("SELECT cron.schedule(%s, '1 seconds', 'SELECT 1')", (f"{job_prefix}s",))


_INNER_TEST = """
import psycopg


def test_schedules_two_jobs(pgcron_dsn, job_prefix):
    with open({out!r}, "w") as fh:
        fh.write(job_prefix)
    with psycopg.connect(pgcron_dsn, autocommit=True) as conn:
        for n in (1, 2):
            conn.execute("SELECT cron.schedule(%s, '0 0 1 1 *', 'SELECT 1')", (f"{{job_prefix}}{{n}}",))
        count = conn.execute(
            "SELECT count(*) FROM cron.job WHERE starts_with(jobname, %s)", (job_prefix,)
        ).fetchone()[0]
    assert count == 2
"""


def test_job_prefix_cleanup_leaves_no_job(pgcron_dsn: str, tmp_path: Path) -> None:
    """Run a real inner pytest session that schedules jobs under job_prefix; afterwards none is left."""
    out = tmp_path / "prefix.txt"
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(_INNER_TEST.format(out=str(out))))
    env = dict(os.environ, PGCRON_DSN=pgcron_dsn)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_inner.py"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    prefix = out.read_text()
    assert prefix.startswith("t_")
    with psycopg.connect(pgcron_dsn, autocommit=True) as conn:
        left = conn.execute(
            "SELECT jobname FROM cron.job WHERE starts_with(jobname, %s)", (prefix,)
        ).fetchall()
    assert left == []
