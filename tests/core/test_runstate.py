"""Unit tests of the engine's finality rules and message normalization (pgcron.runstate).

Every raw row below is copied from pg_cron-facts.md §3.1–§3.3 (observed on 1.4.2, 1.6.5 and master).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pgcron.models import RunStatus
from pgcron.runstate import RunFacts, decide, normalize_message, rows_from_message

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


# (libpq return_message, bgw return_message, normalized) from facts §3.2
SAME_MESSAGE_BOTH_MODES = [
    ("1 row", "SELECT 1", "SELECT 1"),
    ("3 rows", "SELECT 3", "SELECT 3"),
    ("INSERT 0 1", "INSERT 0 1", "INSERT 0 1"),
    ("VACUUM", "VACUUM", "VACUUM"),
    ("ERROR:  division by zero\n", "ERROR: division by zero", "ERROR: division by zero"),
    (
        "ERROR:  canceling statement due to statement timeout\n",
        "ERROR: canceling statement due to statement timeout",
        "ERROR: canceling statement due to statement timeout",
    ),
    (
        "ERROR:  canceling statement due to user request\n",
        "ERROR: canceling statement due to user request",
        "ERROR: canceling statement due to user request",
    ),
    (
        (
            'ERROR:  column "nope" does not exist\nLINE 1: SELECT nope\n               ^\n'
            "HINT:  Perhaps you meant x.\n"
        ),
        'ERROR: column "nope" does not exist\nHINT: Perhaps you meant x.',
        'ERROR: column "nope" does not exist\nHINT: Perhaps you meant x.',
    ),
    (
        "ERROR:  boom\nDETAIL:  the detail\nCONTEXT:  PL/pgSQL function inline_code_block line 1 at RAISE\n",
        "ERROR: boom\nDETAIL: the detail\nCONTEXT: PL/pgSQL function inline_code_block line 1 at RAISE",
        "ERROR: boom\nDETAIL: the detail\nCONTEXT: PL/pgSQL function inline_code_block line 1 at RAISE",
    ),
]


@pytest.mark.parametrize(("libpq", "bgw", "expected"), SAME_MESSAGE_BOTH_MODES)
def test_messages_of_both_modes_normalize_to_one_form(libpq: str, bgw: str, expected: str) -> None:
    assert normalize_message(libpq) == expected
    assert normalize_message(bgw) == expected


def test_libpq_row_count_of_a_call_with_inout_params_becomes_the_call_tag() -> None:
    # facts §3.2: CALL p_out(null) → libpq "1 row", bgw "CALL"
    assert normalize_message("1 row", command="CALL p_out(null)") == "CALL"
    assert normalize_message("CALL", command="CALL p_out(null)") == "CALL"


def test_terminated_backend_message_is_joined_into_one_line() -> None:
    raw = (
        "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n"
        "\tbefore or while processing the request.\n"
    )
    assert normalize_message(raw) == (
        "server closed the connection unexpectedly This probably means the server terminated abnormally "
        "before or while processing the request."
    )


def test_none_message_stays_none() -> None:
    assert normalize_message(None) is None


@pytest.mark.parametrize(
    ("message", "rows"),
    [
        ("INSERT 0 5", 5),
        ("UPDATE 0", 0),
        ("DELETE 12", 12),
        ("SELECT 3", 3),
        ("COPY 1", 1),
        ("VACUUM", None),
        ("CALL", None),
        (None, None),
        ("ERROR: x", None),
    ],
)
def test_rows_come_from_the_command_tag(message: str | None, rows: int | None) -> None:
    assert rows_from_message(message) == rows


def facts(**kw: object) -> RunFacts:
    base: dict[str, object] = {
        "raw_status": "running",
        "return_message": None,
        "command": "SELECT 1",
        "start_time": T0,
        "end_time": None,
        "job_pid": 100,
        "pid_alive": True,
    }
    base.update(kw)
    return RunFacts(**base)  # type: ignore[arg-type]


def test_single_statement_succeeded_is_terminal_in_both_modes() -> None:
    for mode in ("bgw", "libpq", None):
        v = decide(
            facts(raw_status="succeeded", return_message="SELECT 1", end_time=T0, pid_alive=True),
            execution_mode=mode,
        )
        assert v.status is RunStatus.SUCCEEDED
        assert v.rows == 1


def test_bgw_multi_statement_succeeded_with_live_worker_is_still_running() -> None:
    # facts §3.1: INSERT …; SELECT pg_sleep(12) showed succeeded / INSERT 0 1 for 12 s
    f = facts(
        raw_status="succeeded",
        return_message="INSERT 0 1",
        end_time=T0,
        command="INSERT INTO t VALUES (1); SELECT pg_sleep(12)",
        pid_alive=True,
    )
    assert decide(f, execution_mode="bgw").status is RunStatus.RUNNING
    assert decide(f, execution_mode=None).status is RunStatus.RUNNING  # unknown mode: be safe
    assert decide(f, execution_mode="libpq").status is RunStatus.SUCCEEDED  # libpq reports once, at the end


def test_bgw_multi_statement_succeeded_after_the_worker_left_is_succeeded() -> None:
    f = facts(
        raw_status="succeeded",
        return_message="SELECT 1",
        end_time=T0,
        command="INSERT INTO t VALUES (1); SELECT pg_sleep(12)",
        pid_alive=False,
    )
    v = decide(f, execution_mode="bgw")
    assert v.status is RunStatus.SUCCEEDED


def test_mode_is_inferred_from_the_backend_type_when_settings_are_hidden() -> None:
    f = facts(
        raw_status="succeeded",
        return_message="INSERT 0 1",
        end_time=T0,
        command="INSERT INTO t VALUES (1); SELECT pg_sleep(12)",
        pid_alive=True,
        job_backend_type="pg_cron",
    )
    assert decide(f, execution_mode=None).status is RunStatus.RUNNING
    g = facts(
        raw_status="succeeded",
        return_message="1 row",
        end_time=T0,
        command="INSERT INTO t VALUES (1); SELECT 1",
        pid_alive=True,
        job_backend_type="client backend",
    )
    assert decide(g, execution_mode=None).status is RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("message", "status"),
    [
        ("job canceled", RunStatus.CANCELED),
        ("ERROR:  canceling statement due to user request\n", RunStatus.CANCELED),
        ("ERROR: canceling statement due to user request", RunStatus.CANCELED),
        ("server restarted", RunStatus.LOST),
        ("ERROR: division by zero", RunStatus.FAILED),
        ("ERROR:  canceling statement due to statement timeout\n", RunStatus.FAILED),
        ("connection failed", RunStatus.FAILED),
        ("job startup timeout", RunStatus.FAILED),
        ('FATAL: terminating background worker "pg_cron" due to administrator command', RunStatus.FAILED),
        ("FATAL: EndTransactionBlock: unexpected state BEGIN", RunStatus.FAILED),
    ],
)
def test_failed_rows_split_into_failed_canceled_and_lost(message: str, status: RunStatus) -> None:
    v = decide(facts(raw_status="failed", return_message=message, end_time=None), execution_mode="bgw")
    assert v.status is status
    assert v.status.is_terminal


def test_server_restarted_row_without_end_time_is_lost_and_terminal() -> None:
    # facts §3.3: end_time stays NULL
    v = decide(facts(raw_status="failed", return_message="server restarted", end_time=None, pid_alive=None))
    assert v.status is RunStatus.LOST
    assert v.status.is_terminal and not v.status.is_success


@pytest.mark.parametrize("raw", ["connecting", "sending"])
def test_connecting_or_sending_rows_from_before_the_launcher_start_are_lost(raw: str) -> None:
    # facts §3.3: never fixed by the launcher; treat rows older than its backend_start as dead
    v = decide(
        facts(raw_status=raw, start_time=T0, launcher_start=T0 + timedelta(minutes=5), pid_alive=False),
        execution_mode="libpq",
    )
    assert v.status is RunStatus.LOST


def test_sending_row_without_start_time_and_dead_backend_is_lost_after_a_launcher_restart() -> None:
    v = decide(
        facts(raw_status="sending", start_time=None, job_pid=4242, pid_alive=False, launcher_start=T0),
        execution_mode="libpq",
    )
    assert v.status is RunStatus.LOST


def test_unfinished_row_is_lost_when_the_job_has_a_later_run() -> None:
    v = decide(facts(raw_status="connecting", start_time=None, job_pid=None, pid_alive=None, newer_run=True))
    assert v.status is RunStatus.LOST


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("starting", RunStatus.PENDING),
        ("connecting", RunStatus.PENDING),
        ("sending", RunStatus.PENDING),
        ("running", RunStatus.RUNNING),
    ],
)
def test_fresh_unfinished_rows_are_active(raw: str, status: RunStatus) -> None:
    v = decide(facts(raw_status=raw, start_time=T0 + timedelta(minutes=10), launcher_start=T0))
    assert v.status is status
    assert v.status.is_active


@pytest.mark.parametrize("command", ["", "   ", "-- only a comment", "/* block */"])
def test_empty_command_running_in_bgw_mode_is_failed_not_running_forever(command: str) -> None:
    # facts §3.1: an empty command never finishes in background-worker mode
    v = decide(facts(raw_status="running", command=command), execution_mode="bgw")
    assert v.status is RunStatus.FAILED
    assert "no SQL statement" in (v.message or "")


def test_empty_command_in_libpq_mode_succeeds_with_zero_rows() -> None:
    v = decide(
        facts(raw_status="succeeded", return_message="0 rows", command="", end_time=T0),
        execution_mode="libpq",
    )
    assert v.status is RunStatus.SUCCEEDED
    assert v.message == "SELECT 0"


def test_connecting_row_dispatched_before_the_launcher_started_is_lost() -> None:
    # facts §3.3: a connecting row has no start_time; a later run that started before the launcher's
    # backend_start proves this one was dispatched by the previous launcher.
    v = decide(
        facts(
            raw_status="connecting",
            start_time=None,
            job_pid=None,
            pid_alive=None,
            dispatched_by=T0,
            launcher_start=T0 + timedelta(seconds=1),
            observed_at=T0 + timedelta(seconds=2),
        ),
        execution_mode="libpq",
    )
    assert v.status is RunStatus.LOST


def test_connecting_row_past_the_startup_timeout_is_lost() -> None:
    v = decide(
        facts(
            raw_status="connecting",
            start_time=None,
            job_pid=None,
            pid_alive=None,
            dispatched_by=T0,
            launcher_start=T0 - timedelta(hours=1),
            observed_at=T0 + timedelta(seconds=16),
        ),
        execution_mode="libpq",
    )
    assert v.status is RunStatus.LOST


def test_connecting_row_within_the_startup_timeout_is_pending() -> None:
    v = decide(
        facts(
            raw_status="connecting",
            start_time=None,
            job_pid=None,
            pid_alive=None,
            dispatched_by=T0,
            launcher_start=T0 - timedelta(hours=1),
            observed_at=T0 + timedelta(seconds=5),
        ),
        execution_mode="libpq",
    )
    assert v.status is RunStatus.PENDING
