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

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pgcron import runstate
from pgcron.models import Run, RunHandle, RunStatus

__all__ = ["SubmissionState", "facts", "is_queued", "normalize_message", "to_handle", "to_run", "verdict"]

RECORD_GRACE_S = runstate.RECORD_GRACE_S


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


def is_queued(s: SubmissionState) -> bool:
    """Waiting for a pg_cron slot (migration 0007): neither a job nor a lane yet. Its waiters admit it."""
    return (
        s.via == "job"
        and s.jobid is None
        and not s.top_level
        and s.claimed_at is None
        and s.finished_at is None
        and s.outcome is None
    )


def normalize_message(raw: str | None, *, command: str | None = None) -> str | None:
    """``return_message`` in one form for both execution modes (``pgcron.runstate``), without the context
    line our own re-raise adds."""
    return runstate.normalize_submission_message(raw, command=command)


def facts(s: SubmissionState) -> runstate.SubmissionFacts:
    """The finality facts of a submission's state row."""
    return runstate.SubmissionFacts(
        via=s.via,
        top_level=s.top_level,
        command=s.command,
        claimed=s.claimed_at is not None,
        claimed_pid=s.claimed_pid,
        outcome=s.outcome,
        rows=s.rows,
        error=s.error,
        runid=s.runid,
        raw_status=s.raw_status,
        return_message=s.return_message,
        backend_alive=s.backend_alive,
        finished_age=s.finished_age,
    )


def verdict(s: SubmissionState) -> tuple[RunStatus, str | None]:
    """The engine's status for a submission, and its normalized message (``runstate.decide_submission``)."""
    return runstate.decide_submission(facts(s))


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
