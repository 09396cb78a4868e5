"""Pure logic of pushdown runs: a submission's state row → the engine's verdict, a ``Run``, a ``RunHandle``.

No I/O here. The row comes from the ``pushdown_state`` query: the ``pgcron.submission`` row joined with the
run that executed it (procedure path: the *claimed* run, whose ``job_pid`` is the backend that claimed the
submission; one-shot path: the job's single run) and whether that run's backend is still alive.

Finality: the run's row in ``cron.job_run_details`` is the record of truth. A procedure-path run is over when
that row is terminal (the procedure commits the outcome before it returns, so the outcome is known by then),
or when maintenance marked the submission ``lost`` / ``expired`` / ``canceled`` before it started. A one-shot
run is over when its row is terminal and, for ``succeeded``, its backend is gone (background-worker mode
flips multi-statement commands to ``succeeded`` before they finish).

Lane runs (``via = 'lane'``, docs/adr/0006-lanes.md): the lane's pg_cron run row is the lane's own long run,
not the submission's, so the submission record decides. The lane commits the SQL and its outcome together,
so a recorded outcome is final as soon as it is visible; a claim whose backend vanished is marked ``lost`` by
maintenance (its SQL did not commit) and reported ``LOST``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pgcron import runstate
from pgcron.models import Run, RunHandle, RunStatus

__all__ = ["SubmissionState", "normalize_message", "to_handle", "to_run", "verdict"]

_TERMINAL_RAW = frozenset({"succeeded", "failed"})
RECORD_GRACE_S = 5.0  # how long a finished run may lack its pg_cron row before the record stands alone
# The re-raise (pgcron._reraise, called by pgcron.execute_submission; before migration 0004 the procedure
# itself) adds these context lines to every failure; they say nothing about the user's SQL, so they are
# dropped from the normalized message.
_OUR_CONTEXT = re.compile(
    r"\n?CONTEXT:\s+PL/pgSQL function pgcron\."
    r"(?:_reraise\(text,text,text,text\)|execute_submission\(bigint\)) line \d+ at RAISE[\s\S]*$"
)


@dataclass(frozen=True, slots=True)
class SubmissionState:
    """One row of the ``pushdown_state`` query."""

    id: int
    key: str
    jobid: int | None
    top_level: bool
    command: str
    database: str
    username: str
    timeout: timedelta | None
    submitted_at: datetime
    claimed_at: datetime | None
    claimed_pid: int | None
    finished_at: datetime | None
    outcome: str | None
    rows: int | None
    sqlstate: str | None
    error: str | None
    cancel_requested_at: datetime | None
    job_removed_at: datetime | None
    runid: int | None
    raw_status: str | None
    return_message: str | None
    start_time: datetime | None
    end_time: datetime | None
    job_pid: int | None
    backend_alive: bool
    finished_age: float | None = None
    via: str = "job"
    lane_worker: int | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SubmissionState:
        return cls(
            id=row["id"],
            key=row["key"],
            jobid=row["jobid"],
            top_level=row["top_level"],
            command=row["command"],
            database=row["database"],
            username=row["username"],
            timeout=row["timeout"],
            submitted_at=row["submitted_at"],
            claimed_at=row["claimed_at"],
            claimed_pid=row["claimed_pid"],
            finished_at=row["finished_at"],
            outcome=row["outcome"],
            rows=row["rows"],
            sqlstate=row["sqlstate"],
            error=row["error"],
            cancel_requested_at=row["cancel_requested_at"],
            job_removed_at=row["job_removed_at"],
            runid=row["runid"],
            raw_status=row["status"],
            return_message=row["return_message"],
            start_time=row["start_time"],
            end_time=row["end_time"],
            job_pid=row["job_pid"],
            backend_alive=bool(row["backend_alive"]),
            finished_age=row.get("finished_age"),
            via=row.get("via") or "job",
            lane_worker=row.get("lane_worker"),
        )


def normalize_message(raw: str | None, *, command: str | None = None) -> str | None:
    """``return_message`` in one form for both execution modes (``pgcron.runstate``), without the context
    line our own re-raise adds."""
    if raw is None:
        return None
    return runstate.normalize_message(_OUR_CONTEXT.sub("", raw.rstrip()), command=command) or None


def verdict(s: SubmissionState) -> tuple[RunStatus, str | None]:
    """The engine's status for a submission, and its normalized message."""
    if s.via == "lane":
        return _verdict_lane(s)
    return _verdict_once(s) if s.top_level else _verdict_procedure(s)


def _verdict_lane(s: SubmissionState) -> tuple[RunStatus, str | None]:
    # No pg_cron row of its own: the record alone. Its outcome commits with the SQL, so it is final.
    if s.outcome is None:
        return (RunStatus.RUNNING if s.claimed_at is not None else RunStatus.PENDING), None
    if s.outcome == "expired" or (s.outcome == "canceled" and s.claimed_at is None):
        return (RunStatus.FAILED if s.outcome == "expired" else RunStatus.CANCELED), s.error
    return _from_record(s)


def _verdict_procedure(s: SubmissionState) -> tuple[RunStatus, str | None]:
    # The user's work and the submission's outcome commit in one transaction, so "no outcome and the claiming
    # backend is gone" means the SQL did not commit — known, not LOST.
    if s.claimed_pid is not None and s.outcome is None and s.backend_alive:
        return RunStatus.RUNNING, None
    run_over = s.raw_status in _TERMINAL_RAW
    message = normalize_message(s.return_message)
    if run_over:
        if s.outcome == "succeeded":
            return RunStatus.SUCCEEDED, _rows_message(s.rows)
        if s.outcome == "canceled":
            return RunStatus.CANCELED, message
        if s.outcome in ("failed", "timed_out"):
            return RunStatus.FAILED, message
        # No outcome: killed before its final commit (restart, terminated worker, unscheduled).
        if s.return_message == "server restarted":
            return RunStatus.FAILED, "server restarted during the run; its SQL did not commit"
        return RunStatus.FAILED, message
    # Outcome recorded, backend gone, and still no run row of that backend after a grace period: pg_cron did
    # not log it (cron.log_run = off) or another backend called the procedure. The record stands alone.
    if (
        s.outcome is not None
        and s.claimed_pid is not None
        and not s.backend_alive
        and (s.finished_age or 0.0) > RECORD_GRACE_S
    ):
        return _from_record(s)
    if s.outcome == "expired":
        return RunStatus.FAILED, s.error
    if s.outcome == "canceled" and s.claimed_pid is None:
        return RunStatus.CANCELED, s.error
    if s.outcome == "lost":  # maintenance saw the backend gone without an outcome: did not commit
        return RunStatus.FAILED, s.error
    return (RunStatus.RUNNING if s.claimed_at is not None else RunStatus.PENDING), None


def _verdict_once(s: SubmissionState) -> tuple[RunStatus, str | None]:
    # One-shot path: the job's single run is the SQL itself; pg_cron's row decides, with the engine's rules.
    run_over = s.raw_status in _TERMINAL_RAW
    if run_over and s.raw_status == "succeeded" and s.backend_alive:
        run_over = (
            False  # bgw flips multi-statement commands to succeeded early: wait for the backend to exit
        )
    if run_over:
        message = normalize_message(s.return_message, command=s.command)
        if s.outcome == "timed_out":
            return RunStatus.FAILED, message
        if s.return_message == "server restarted":
            return RunStatus.LOST, message
        if s.raw_status == "succeeded":
            return RunStatus.SUCCEEDED, message
        if s.outcome == "canceled" or message == "job canceled":
            return RunStatus.CANCELED, message
        return RunStatus.FAILED, message
    if s.outcome == "expired":
        return RunStatus.FAILED, s.error
    if s.outcome == "canceled" and s.runid is None and s.raw_status is None:
        return RunStatus.CANCELED, s.error
    if s.raw_status is not None:
        return RunStatus.RUNNING, None
    return RunStatus.PENDING, None


def _from_record(s: SubmissionState) -> tuple[RunStatus, str | None]:
    if s.outcome == "succeeded":
        return RunStatus.SUCCEEDED, _rows_message(s.rows)
    if s.outcome == "canceled":
        return RunStatus.CANCELED, f"ERROR: {s.error}"
    if s.outcome == "lost":
        return RunStatus.LOST, s.error
    return RunStatus.FAILED, f"ERROR: {s.error}" if s.error else None


def _rows_message(rows: int | None) -> str:
    if rows is None:
        return "succeeded"
    return f"{rows} row" if rows == 1 else f"{rows} rows"


def to_run(s: SubmissionState) -> Run:
    """The submission as a ``Run`` (``runid`` 0 when the SQL never started: canceled or expired before)."""
    status, message = verdict(s)
    return Run(
        runid=s.runid if s.runid is not None else 0,
        jobid=s.jobid,
        status=status,
        raw_status=s.raw_status,
        message=message,
        return_message=s.return_message,
        start_time=s.start_time if s.start_time is not None else s.claimed_at,
        end_time=_end(s) if status.is_terminal else None,
        database=s.database,
        username=s.username,
        command=s.command,
        rows=s.rows if status is RunStatus.SUCCEEDED else None,
        job_pid=s.job_pid if s.job_pid is not None else s.claimed_pid,
        via=s.via,
    )


def to_handle(s: SubmissionState) -> RunHandle:
    """The submission as a ``RunHandle`` snapshot."""
    status, message = verdict(s)
    return RunHandle(
        key=s.key,
        submission_id=s.id,
        jobid=s.jobid,
        runid=s.runid,
        status=status,
        message=message,
        start=s.start_time if s.start_time is not None else s.claimed_at,
        end=_end(s) if status.is_terminal else None,
        via=s.via,
    )


def _end(s: SubmissionState) -> datetime | None:
    return s.finished_at if s.via == "lane" else s.end_time
