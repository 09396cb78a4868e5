"""Run-state integration: each case of facts §3 produced on real pg_cron 1.6 in BOTH execution modes, read
back through ``Client.runs()`` / ``Client.run()`` with the engine's verdict and normalized message."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from pgcron import Client, JobSpec, Run, RunStatus

from .conftest import wait_for

pytestmark = pytest.mark.integration


def _first_run(client: Client, jobid: int) -> Run | None:
    runs = client.runs(job=jobid, limit=100)
    return runs[-1] if runs else None


def _first_terminal(client: Client, jobid: int) -> Run | None:
    run = _first_run(client, jobid)
    return run if run is not None and run.status.is_terminal else None


def test_success_has_rows_duration_and_the_same_message_in_both_modes(
    client: Client, job_prefix: str, forget_runs: list[int]
) -> None:
    job = client.schedule(
        JobSpec(name=f"{job_prefix}ok", schedule="1 seconds", command="SELECT g FROM generate_series(1, 3) g")
    )
    forget_runs.append(job.jobid)
    run = wait_for(lambda: _first_terminal(client, job.jobid), what="a finished run")
    assert run in client.runs(job=f"{job_prefix}ok", status="succeeded", since=timedelta(minutes=5))
    client.unschedule(job.jobid)
    assert run.status is RunStatus.SUCCEEDED
    assert run.message == "SELECT 3"  # libpq writes "3 rows", bgw "SELECT 3"
    assert run.rows == 3
    assert run.duration is not None and run.duration >= timedelta(0)
    assert client.run(run.runid) == run
    assert run not in client.runs(job=job.jobid, status=RunStatus.FAILED)


def test_sql_error_message_is_normalized_in_both_modes(
    client: Client, job_prefix: str, forget_runs: list[int]
) -> None:
    job = client.schedule(JobSpec(name=f"{job_prefix}err", schedule="1 seconds", command="SELECT 1/0"))
    forget_runs.append(job.jobid)
    run = wait_for(lambda: _first_terminal(client, job.jobid), what="a failed run")
    client.unschedule(job.jobid)
    assert run.status is RunStatus.FAILED
    assert run.message == "ERROR: division by zero"
    assert run.return_message is not None and "division by zero" in run.return_message
    assert run.rows is None


def test_multi_statement_run_is_over_only_when_its_backend_is_gone(
    client: Client, job_prefix: str, forget_runs: list[int], mode: str
) -> None:
    job = client.schedule(
        JobSpec(name=f"{job_prefix}multi", schedule="1 seconds", command="SELECT 1; SELECT pg_sleep(3)")
    )
    forget_runs.append(job.jobid)
    seen: list[Run] = []

    def observe() -> Run | None:
        run = _first_run(client, job.jobid)
        if run is not None:
            seen.append(run)
        return run if run is not None and run.status.is_terminal else None

    final = wait_for(observe, interval=0.1, what="the multi-statement run to finish")
    client.unschedule(job.jobid)
    assert final.status is RunStatus.SUCCEEDED
    assert final.message == "SELECT 1"
    early = [r for r in seen if r.raw_status == "succeeded" and r.status is RunStatus.RUNNING]
    if mode == "bgw":
        # pg_cron already said "succeeded" while pg_sleep(3) ran; the engine kept it RUNNING
        assert early, "expected bgw to report succeeded before the last statement finished"
        assert all(r.end_time is None for r in early)
    else:
        assert not early


def test_unscheduling_a_running_job_cancels_its_run(
    client: Client, job_prefix: str, forget_runs: list[int], pgcron_both_modes_dsn: str
) -> None:
    job = client.schedule(
        JobSpec(name=f"{job_prefix}cancel", schedule="1 seconds", command="SELECT pg_sleep(20)")
    )
    forget_runs.append(job.jobid)
    running = wait_for(
        lambda: (r := _first_run(client, job.jobid)) and r.status is RunStatus.RUNNING and r,
        what="the run to start",
    )
    client.alter(job.jobid, active=False)
    run = wait_for(lambda: (r := client.run(running.runid)).status.is_terminal and r, what="the cancellation")
    assert run.status is RunStatus.CANCELED
    assert run.message == "job canceled"
    _stop_backend(pgcron_both_modes_dsn, running.job_pid)  # libpq mode leaves the query running


def test_pg_cancel_backend_is_a_cancellation(
    client: Client, job_prefix: str, forget_runs: list[int], pgcron_both_modes_dsn: str
) -> None:
    job = client.schedule(
        JobSpec(name=f"{job_prefix}usercancel", schedule="1 seconds", command="SELECT pg_sleep(20)")
    )
    forget_runs.append(job.jobid)
    running = wait_for(
        lambda: (r := _first_run(client, job.jobid)) and r.status is RunStatus.RUNNING and r.job_pid and r,
        what="the run to start",
    )
    with psycopg.connect(pgcron_both_modes_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_cancel_backend(%s)", (running.job_pid,))
    run = wait_for(lambda: (r := client.run(running.runid)).status.is_terminal and r, what="the cancellation")
    client.unschedule(job.jobid)
    assert run.status is RunStatus.CANCELED
    assert run.message == "ERROR: canceling statement due to user request"


def test_empty_command_never_finishes_in_bgw_mode_and_the_engine_says_failed(
    client: Client, job_prefix: str, forget_runs: list[int], pgcron_both_modes_dsn: str, mode: str
) -> None:
    # The client refuses empty commands, so create the job behind its back, as a user of plain SQL would.
    name = f"{job_prefix}empty"
    with psycopg.connect(pgcron_both_modes_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT cron.schedule(%s::text, '1 seconds', '-- nothing')", (name,)).fetchone()
    assert row is not None
    forget_runs.append(row[0])
    if mode == "bgw":
        # pg_cron leaves the row 'running' forever; wait until its worker is gone, then look
        run = wait_for(
            lambda: (
                (r := _first_run(client, row[0]))
                and r.raw_status == "running"
                and not _backend_alive(pgcron_both_modes_dsn, r.job_pid)
                and r
            ),
            what="a stuck run",
        )
        run = client.run(run.runid)
        assert run.raw_status == "running"
        assert run.status is RunStatus.FAILED
        assert run.message is not None and "no SQL statement" in run.message
    else:
        run = wait_for(lambda: _first_terminal(client, row[0]), what="the empty run")
        assert run.status is RunStatus.SUCCEEDED
        assert run.message == "SELECT 0"  # libpq: "0 rows"
    client.unschedule(row[0])


def _backend_alive(dsn: str, pid: int | None) -> bool:
    if pid is None:
        return False
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return bool(row and row[0])


def _stop_backend(dsn: str, pid: int | None) -> None:
    if pid is not None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = %s", (pid,))
