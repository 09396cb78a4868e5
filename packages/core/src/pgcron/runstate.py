"""The engine's finality rules: when a pg_cron run is really over, and one message across modes.

pg_cron's ``status`` column is not a reliable verdict (facts §3):

* background-worker mode writes ``succeeded`` after *each* statement of a multi-statement command, so a
  ``succeeded`` row may still be executing: it is over only when its ``job_pid`` has left
  ``pg_stat_activity``;
* a launcher restart turns ``starting``/``running`` rows into ``failed / server restarted`` with no
  ``end_time``, and leaves ``connecting``/``sending`` rows as they are forever;
* a command with no statement stays ``running`` forever in background-worker mode;
* ``job canceled`` (unschedule / deactivate / ``launch_active_jobs = off`` mid-run) and
  ``canceling statement due to user request`` (``pg_cancel_backend``) are cancellations, not failures.

Decisions taken here (docs/client.md, "Run status"):

* ``server restarted`` → ``LOST``, not ``FAILED``: the run was cut off by a restart, and in libpq mode its
  backend may even have finished and committed, so the outcome is unknown rather than a failure of the
  command. ``LOST`` is terminal and not a success.
* an unfinished row is ``LOST`` when a later run of the same job exists (pg_cron never overlaps a job with
  itself), or when it was started or dispatched before the launcher's ``backend_start`` (a ``connecting``
  row has no start time: the start time of the next later run bounds when it was dispatched, since runids
  are handed out in dispatch order), or when it is still starting/connecting/sending more than 15 s after
  that bound (pg_cron's startup timeout is 10 s).
* a bgw ``running`` row whose command has no statement is ``FAILED`` with an explanatory message.

Pushdown submissions (``decide_submission``, facts from the ``pushdown_state`` query): the run's row in
``cron.job_run_details`` is the record of truth, with the ``pgcron.submission`` record alongside.

* procedure path (``rule_procedure``): the user's SQL and the submission's outcome commit in one
  transaction, so the run is over when its row is terminal, or when maintenance marked the submission
  ``lost`` / ``expired`` / ``canceled`` before it started; "no outcome and the claiming backend gone" means
  the SQL did not commit — known, so ``FAILED``, not ``LOST``;
* one-shot path (``rule_once``): the job's single run is the SQL itself; pg_cron's row decides, and a
  ``succeeded`` row is over only when its backend is gone (bgw flips multi-statement commands early);
* lane path (``rule_lane``, docs/adr/0006-lanes.md): the lane's pg_cron row is the lane's own long run, so
  the submission record decides; its outcome commits with the SQL, so a recorded outcome is final.

Everything here is pure: the facts are gathered by SQL (``sql/queries/runs.sql``,
``sql/queries/pushdown_state.sql``) and passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pgcron.commands import analyze_command
from pgcron.errors import PgCronError
from pgcron.models import RunStatus

__all__ = [
    "RAW_FOR",
    "TERMINAL_RAW",
    "RunFacts",
    "SubmissionFacts",
    "Verdict",
    "decide",
    "decide_submission",
    "ends_nothing",
    "is_settling",
    "normalize_message",
    "normalize_submission_message",
    "raw_statuses_for",
    "rows_from_message",
]

TERMINAL_RAW = frozenset({"succeeded", "failed"})
"""pg_cron statuses it never changes again (its view; the engine may still say the run is going)."""

RAW_FOR: dict[RunStatus, tuple[str, ...]] = {
    RunStatus.PENDING: ("starting", "connecting", "sending"),
    RunStatus.RUNNING: ("running", "succeeded"),
    RunStatus.SUCCEEDED: ("succeeded",),
    RunStatus.FAILED: ("failed", "running"),
    RunStatus.CANCELED: ("failed",),
    RunStatus.LOST: ("failed", "starting", "connecting", "sending", "running"),
}
"""The inverse of ``decide``: every pg_cron status that can yield each engine status (pinned by a test that
runs ``decide`` over the raw statuses)."""


def raw_statuses_for(statuses: Iterable[RunStatus]) -> list[str]:
    """pg_cron status strings that can yield any of these engine statuses (a superset to filter in SQL)."""
    raw: set[str] = set()
    for status in statuses:
        raw.update(RAW_FOR[status])
    return sorted(raw)


def is_settling(status: RunStatus, raw_status: str | None) -> bool:
    """pg_cron says the run is over but the engine does not yet (bgw's early ``succeeded``, a procedure run
    whose outcome is not visible yet): worth a quick re-check rather than waiting for the next notice."""
    return not status.is_terminal and raw_status in TERMINAL_RAW


def ends_nothing(raw_status: object) -> bool:
    """A status in a run notice that cannot end a run (libpq mode reports starting → connecting → sending →
    running before the end)."""
    return isinstance(raw_status, str) and raw_status not in TERMINAL_RAW


_ACTIVE_RAW = {
    "starting": RunStatus.PENDING,
    "connecting": RunStatus.PENDING,
    "sending": RunStatus.PENDING,
    "running": RunStatus.RUNNING,
}

# libpq prints "ERROR:  msg" (two spaces), bgw "ERROR: msg"; the same for the extra fields.
_FIELD_RE = re.compile(
    r"^(ERROR|FATAL|PANIC|WARNING|NOTICE|INFO|LOG|DEBUG|DETAIL|HINT|CONTEXT|QUERY|STATEMENT|LOCATION):[ \t]+"
)
_LINE_RE = re.compile(r"^LINE \d+: ")
_CARET_RE = re.compile(r"^\s*\^\s*$")
_ROWS_RE = re.compile(r"^(\d+) rows?$")
_TAG_ROWS_RE = re.compile(r"^(?:INSERT \d+|UPDATE|DELETE|SELECT|MERGE|COPY|FETCH|MOVE) (\d+)$")

_STARTUP_RAW = frozenset({"starting", "connecting", "sending"})
STARTUP_LIMIT = timedelta(seconds=15)
"""pg_cron's hard-coded job startup timeout (10 s) plus a margin for a busy launcher."""

STALE_STARTUP_MESSAGE = (
    "the run never got past starting/connecting within pg_cron's 10-second startup timeout; the launcher "
    "that dispatched it is gone"
)
EMPTY_COMMAND_MESSAGE = (
    "the command has no SQL statement; in background-worker mode pg_cron never finishes such a run "
    "(unschedule the job and give it a real command)"
)
NEWER_RUN_MESSAGE = (
    "a later run of this job has started, so this run ended without pg_cron recording it "
    "(a server or launcher restart)"
)
RESTART_MESSAGE = (
    "the pg_cron launcher restarted while this run was in flight; pg_cron never recorded its end"
)


@dataclass(frozen=True, slots=True)
class RunFacts:
    """One ``cron.job_run_details`` row plus what ``pg_stat_activity`` says about it."""

    raw_status: str | None
    return_message: str | None
    command: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    job_pid: int | None = None
    pid_alive: bool | None = None
    job_backend_type: str | None = None
    newer_run: bool = False
    launcher_start: datetime | None = None
    dispatched_by: datetime | None = None
    observed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The engine's decision about one run."""

    status: RunStatus
    message: str | None
    rows: int | None


def _last_kind(command: str | None) -> str | None:
    if not command:
        return None
    try:
        info = analyze_command(command)
    except PgCronError:
        return None
    return info.statements[-1].kind if info.statements else None


def _statement_count(command: str | None) -> int | None:
    """Number of statements, or None when the command does not parse."""
    if command is None:
        return None
    try:
        return len(analyze_command(command).statements)
    except PgCronError:
        return None


def normalize_message(text: str | None, *, command: str | None = None) -> str | None:
    """One message format for both execution modes.

    ``ERROR:  x\\n`` (libpq) and ``ERROR: x`` (bgw) both become ``ERROR: x``; the same for DETAIL, HINT,
    CONTEXT…; the libpq ``LINE n:`` caret block is dropped; tab-indented continuation lines are joined;
    libpq's ``N rows`` becomes the bgw tag (``SELECT N``, or ``CALL`` when the last statement is CALL).
    """
    if text is None:
        return None
    out: list[str] = []
    skip_caret = False
    for line in text.replace("\r\n", "\n").split("\n"):
        if skip_caret:
            skip_caret = False
            if _CARET_RE.match(line):
                continue
        if _LINE_RE.match(line):
            skip_caret = True
            continue
        if line.startswith("\t") and out:
            out[-1] = f"{out[-1]} {line.strip()}"
            continue
        line = _FIELD_RE.sub(lambda m: f"{m.group(1)}: ", line).rstrip()
        if line:
            out.append(line)
    message = "\n".join(out).strip()
    rows = _ROWS_RE.match(message)
    if rows is not None:
        message = "CALL" if _last_kind(command) == "CALL" else f"SELECT {rows.group(1)}"
    return message


def rows_from_message(message: str | None) -> int | None:
    """The row count of a command tag (``INSERT 0 5`` → 5, ``SELECT 3`` → 3), else None."""
    if not message:
        return None
    match = _TAG_ROWS_RE.match(message)
    return int(match.group(1)) if match else None


def _mode(execution_mode: str | None, facts: RunFacts) -> str | None:
    if execution_mode is not None:
        return execution_mode
    if facts.job_backend_type == "pg_cron":
        return "bgw"
    if facts.job_backend_type == "client backend":
        return "libpq"
    return None


def decide(facts: RunFacts, *, execution_mode: str | None = None) -> Verdict:
    """Decide a run's status. ``execution_mode`` is ``"bgw"``, ``"libpq"`` or None (unknown)."""
    raw = facts.raw_status
    text = facts.return_message
    if text is not None and _SUBMISSION_CALL.match(facts.command or ""):
        # A pushdown's wrapper run: the same message as the pushdown reports (without our re-raise's context).
        text = _OUR_CONTEXT.sub("", text.rstrip())
    message = normalize_message(text, command=facts.command)
    mode = _mode(execution_mode, facts)

    if raw == "failed":
        if message == "job canceled" or (message or "").startswith(
            "ERROR: canceling statement due to user request"
        ):
            return Verdict(RunStatus.CANCELED, message, None)
        if message == "server restarted":
            return Verdict(RunStatus.LOST, message, None)
        return Verdict(RunStatus.FAILED, message, None)

    if raw == "succeeded":
        if mode != "libpq" and facts.pid_alive:
            count = _statement_count(facts.command)
            if count is None or count > 1:
                # bgw flips to succeeded after each statement; later ones are still executing.
                return Verdict(RunStatus.RUNNING, message, None)
        return Verdict(RunStatus.SUCCEEDED, message, rows_from_message(message))

    # Unfinished in pg_cron's eyes: is it really still going?
    if facts.newer_run:
        return Verdict(RunStatus.LOST, NEWER_RUN_MESSAGE, None)
    if facts.launcher_start is not None:
        if facts.start_time is not None and facts.start_time < facts.launcher_start:
            return Verdict(RunStatus.LOST, RESTART_MESSAGE, None)
        if (
            facts.start_time is None
            and facts.dispatched_by is not None
            and (facts.dispatched_by < facts.launcher_start)
        ):
            return Verdict(RunStatus.LOST, RESTART_MESSAGE, None)
        if facts.start_time is None and facts.job_pid is not None and facts.pid_alive is False:
            return Verdict(RunStatus.LOST, RESTART_MESSAGE, None)
    if (
        raw in _STARTUP_RAW
        and facts.start_time is None
        and facts.dispatched_by is not None
        and facts.observed_at is not None
        and facts.observed_at - facts.dispatched_by > STARTUP_LIMIT
    ):
        # pg_cron gives a run 10 s to connect and send (job startup timeout); one still starting well
        # after that was abandoned by a launcher that is gone.
        return Verdict(RunStatus.LOST, STALE_STARTUP_MESSAGE, None)
    if raw == "running" and mode != "libpq" and _statement_count(facts.command) == 0:
        return Verdict(RunStatus.FAILED, EMPTY_COMMAND_MESSAGE, None)
    return Verdict(_ACTIVE_RAW.get(raw or "", RunStatus.PENDING), message, None)


# --- pushdown submissions ------------------------------------------------------------------------------

RECORD_GRACE_S = 5.0
"""How long a finished run may lack its pg_cron row before the submission record stands alone."""

SERVER_RESTARTED_UNCOMMITTED = "server restarted during the run; its SQL did not commit"

# The command of a pushdown's per-submission job (the procedure path).
_SUBMISSION_CALL = re.compile(r"^CALL pgcron\.execute_submission\(\d+\)$")

# The re-raise (pgcron._reraise, called by pgcron.execute_submission; before migration 0004 the procedure
# itself) adds these context lines to every failure; they say nothing about the user's SQL, so they are
# dropped from the normalized message.
_OUR_CONTEXT = re.compile(
    r"\n?CONTEXT:\s+PL/pgSQL function pgcron\."
    r"(?:_reraise\(text,text,text,text\)|execute_submission\(bigint\)) line \d+ at RAISE[\s\S]*$"
)


def normalize_submission_message(raw: str | None, *, command: str | None = None) -> str | None:
    """``return_message`` of a pushdown run in one form for both modes, without our re-raise's context."""
    if raw is None:
        return None
    return normalize_message(_OUR_CONTEXT.sub("", raw.rstrip()), command=command) or None


@dataclass(frozen=True, slots=True)
class SubmissionFacts:
    """A ``pgcron.submission`` record plus the pg_cron run that executed it (``pushdown_state``)."""

    via: str
    top_level: bool
    command: str | None
    claimed: bool
    claimed_pid: int | None
    outcome: str | None
    rows: int | None
    error: str | None
    runid: int | None
    raw_status: str | None
    return_message: str | None
    backend_alive: bool
    finished_age: float | None = None


def decide_submission(facts: SubmissionFacts) -> tuple[RunStatus, str | None]:
    """The engine's status for a pushdown submission, and its normalized message."""
    if facts.via == "lane":
        return rule_lane(facts)
    return rule_once(facts) if facts.top_level else rule_procedure(facts)


def _going(facts: SubmissionFacts) -> tuple[RunStatus, str | None]:
    return (RunStatus.RUNNING if facts.claimed else RunStatus.PENDING), None


def rule_lane(facts: SubmissionFacts) -> tuple[RunStatus, str | None]:
    """Lane: no pg_cron row of its own, the record alone; its outcome commits with the SQL, so it is final."""
    if facts.outcome is None:
        return _going(facts)
    if facts.outcome == "expired" or (facts.outcome == "canceled" and not facts.claimed):
        return (RunStatus.FAILED if facts.outcome == "expired" else RunStatus.CANCELED), facts.error
    return rule_record(facts)


def rule_procedure(facts: SubmissionFacts) -> tuple[RunStatus, str | None]:
    """Procedure path: the claimed run's row terminal → the recorded outcome; no outcome → not committed."""
    if facts.claimed_pid is not None and facts.outcome is None and facts.backend_alive:
        return RunStatus.RUNNING, None
    message = normalize_submission_message(facts.return_message)
    if facts.raw_status in TERMINAL_RAW:
        if facts.outcome == "succeeded":
            return RunStatus.SUCCEEDED, rows_message(facts.rows)
        if facts.outcome == "canceled":
            return RunStatus.CANCELED, message
        if facts.outcome in ("failed", "timed_out"):
            return RunStatus.FAILED, message
        # No outcome: killed before its final commit (restart, terminated worker, unscheduled).
        if facts.return_message == "server restarted":
            return RunStatus.FAILED, SERVER_RESTARTED_UNCOMMITTED
        return RunStatus.FAILED, message
    # Outcome recorded, backend gone, and still no run row of that backend after a grace period: pg_cron did
    # not log it (cron.log_run = off) or another backend called the procedure. The record stands alone.
    if (
        facts.outcome is not None
        and facts.claimed_pid is not None
        and not facts.backend_alive
        and (facts.finished_age or 0.0) > RECORD_GRACE_S
    ):
        return rule_record(facts)
    if facts.outcome == "expired":
        return RunStatus.FAILED, facts.error
    if facts.outcome == "canceled" and facts.claimed_pid is None:
        return RunStatus.CANCELED, facts.error
    if facts.outcome == "lost":  # maintenance saw the backend gone without an outcome: did not commit
        return RunStatus.FAILED, facts.error
    return _going(facts)


def rule_once(facts: SubmissionFacts) -> tuple[RunStatus, str | None]:
    """One-shot path: the job's single run is the SQL itself; pg_cron's row decides, with these rules."""
    run_over = facts.raw_status in TERMINAL_RAW
    if run_over and facts.raw_status == "succeeded" and facts.backend_alive:
        run_over = (
            False  # bgw flips multi-statement commands to succeeded early: wait for the backend to exit
        )
    if run_over:
        message = normalize_submission_message(facts.return_message, command=facts.command)
        if facts.outcome == "timed_out":
            return RunStatus.FAILED, message
        if facts.return_message == "server restarted":
            return RunStatus.LOST, message
        if facts.raw_status == "succeeded":
            return RunStatus.SUCCEEDED, message
        if facts.outcome == "canceled" or message == "job canceled":
            return RunStatus.CANCELED, message
        return RunStatus.FAILED, message
    if facts.outcome == "expired":
        return RunStatus.FAILED, facts.error
    if facts.outcome == "canceled" and facts.runid is None and facts.raw_status is None:
        return RunStatus.CANCELED, facts.error
    if facts.raw_status is not None:
        return RunStatus.RUNNING, None
    return RunStatus.PENDING, None


def rule_record(facts: SubmissionFacts) -> tuple[RunStatus, str | None]:
    """The submission record alone (lane runs; a procedure run pg_cron did not log)."""
    if facts.outcome == "succeeded":
        return RunStatus.SUCCEEDED, rows_message(facts.rows)
    if facts.outcome == "canceled":
        return RunStatus.CANCELED, f"ERROR: {facts.error}"
    if facts.outcome == "lost":
        return RunStatus.LOST, facts.error
    return RunStatus.FAILED, f"ERROR: {facts.error}" if facts.error else None


def rows_message(rows: int | None) -> str:
    """The message of a succeeded pushdown statement: ``1 row``, ``5 rows``, or ``succeeded``."""
    if rows is None:
        return "succeeded"
    return f"{rows} row" if rows == 1 else f"{rows} rows"
