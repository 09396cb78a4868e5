"""Unit tests of the pure pushdown verdict (no database): which row says what."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pgcron.models import RunStatus
from pgcron.pushdown._state import SubmissionState, normalize_message, to_run, verdict

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CTX = "PL/pgSQL function pgcron.execute_submission(bigint) line 65 at RAISE"

BASE = SubmissionState(
    id=1,
    key="k",
    jobid=10,
    top_level=False,
    command="SELECT 1",
    database="postgres",
    username="u",
    timeout=None,
    submitted_at=T0,
    claimed_at=None,
    claimed_pid=None,
    finished_at=None,
    outcome=None,
    rows=None,
    sqlstate=None,
    error=None,
    cancel_requested_at=None,
    job_removed_at=None,
    runid=None,
    raw_status=None,
    return_message=None,
    start_time=None,
    end_time=None,
    job_pid=None,
    backend_alive=False,
)
CLAIMED = replace(BASE, claimed_at=T0 + timedelta(seconds=1), claimed_pid=42)
DONE = replace(
    CLAIMED,
    runid=7,
    job_pid=42,
    start_time=CLAIMED.claimed_at,
    end_time=T0 + timedelta(seconds=2),
    finished_at=T0 + timedelta(seconds=2),
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            f"ERROR: division by zero\nCONTEXT: {CTX}",
            "ERROR: division by zero",
        ),
        (
            f"ERROR:  division by zero\nCONTEXT:  {CTX}\n",
            "ERROR: division by zero",
        ),
        (
            f"ERROR:  x\nDETAIL:  d\nCONTEXT:  {CTX}\n",
            "ERROR: x\nDETAIL: d",
        ),
        (None, None),
    ],
)
def test_normalize_drops_our_context_in_both_modes(raw: str | None, expected: str | None) -> None:
    assert normalize_message(raw) == expected


def test_pending_then_running() -> None:
    assert verdict(BASE)[0] is RunStatus.PENDING
    assert verdict(replace(CLAIMED, backend_alive=True))[0] is RunStatus.RUNNING


def test_running_while_the_claimed_backend_lives_even_if_the_row_says_failed() -> None:
    # libpq mode: a launcher restart marks the row 'server restarted' while the backend still runs the SQL.
    s = replace(CLAIMED, backend_alive=True, raw_status="failed", return_message="server restarted")
    assert verdict(s)[0] is RunStatus.RUNNING


def test_success_reports_rows_from_the_record() -> None:
    s = replace(DONE, raw_status="succeeded", return_message="CALL", outcome="succeeded", rows=3)
    assert verdict(s) == (RunStatus.SUCCEEDED, "3 rows")
    run = to_run(s)
    assert run.rows == 3 and run.duration == timedelta(seconds=1)


def test_cancel_and_timeout() -> None:
    msg = "ERROR: canceling statement due to user request"
    assert verdict(replace(DONE, raw_status="failed", return_message=msg, outcome="canceled"))[0] is (
        RunStatus.CANCELED
    )
    timed = replace(
        DONE,
        raw_status="failed",
        return_message="ERROR: pgcron: the run exceeded its timeout",
        outcome="timed_out",
    )
    assert verdict(timed)[0] is RunStatus.FAILED


def test_no_outcome_and_backend_gone_is_a_known_failure() -> None:
    s = replace(DONE, raw_status="failed", return_message="server restarted", finished_at=None)
    status, message = verdict(s)
    assert status is RunStatus.FAILED and message is not None and "did not commit" in message


def test_record_alone_after_grace_when_pg_cron_has_no_row() -> None:
    s = replace(CLAIMED, outcome="succeeded", rows=1, finished_at=T0, finished_age=1.0)
    assert verdict(s)[0] is RunStatus.RUNNING  # within the grace period: wait for pg_cron's row
    assert verdict(replace(s, finished_age=10.0)) == (RunStatus.SUCCEEDED, "1 row")


def test_canceled_or_expired_before_start() -> None:
    assert (
        verdict(replace(BASE, outcome="canceled", error="canceled before it started"))[0]
        is RunStatus.CANCELED
    )
    assert verdict(replace(BASE, outcome="expired", error="did not start"))[0] is RunStatus.FAILED


def test_one_shot_path() -> None:
    once = replace(BASE, top_level=True, command="VACUUM t")
    assert verdict(once)[0] is RunStatus.PENDING
    ran = replace(once, runid=3, raw_status="succeeded", return_message="VACUUM", job_pid=9)
    assert verdict(replace(ran, backend_alive=True))[0] is RunStatus.RUNNING  # bgw flips early
    assert verdict(ran) == (RunStatus.SUCCEEDED, "VACUUM")
    assert verdict(replace(ran, raw_status="failed", return_message="server restarted"))[0] is RunStatus.LOST
