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

Everything here is pure: the facts are gathered by SQL (``sql/queries/runs.sql``) and passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from pgcron.commands import analyze_command
from pgcron.errors import PgCronError
from pgcron.models import RunStatus

__all__ = ["RunFacts", "Verdict", "decide", "normalize_message", "rows_from_message"]

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
    message = normalize_message(facts.return_message, command=facts.command)
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
