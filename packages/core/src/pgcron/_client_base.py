"""I/O-free logic shared by ``AsyncClient`` and ``Client``: error translation, row mapping, validation.

Keeping this out of the two clients keeps the generated sync twin a mechanical copy of the async source.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg

from pgcron import errors, runstate
from pgcron.commands import CommandInfo, check_command
from pgcron.models import Capabilities, Job, JobSpec, Run, RunStatus
from pgcron.runstate import RunFacts, decide

__all__ = [
    "NOTIFY_CHANNEL",
    "build_capabilities",
    "job_from_row",
    "raw_statuses_for",
    "run_from_row",
    "submission_ids",
    "to_seconds",
    "translate_error",
    "validate_spec",
    "with_submission_outcomes",
]

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "pgcron_run"
"""The channel the engine's trigger on ``cron.job_run_details`` notifies (payload: runid, jobid, status)."""

_SIGNATURES = {
    "alter_job": "cron.alter_job(bigint, text, text, text, text, boolean)",
    "schedule_in_database": "cron.schedule_in_database(text, text, text, text, text, boolean)",
}


# --------------------------------------------------------------------------- errors


def _role_of(exc: psycopg.Error, role: str | None) -> str:
    if role:
        return role
    pgconn = getattr(exc, "pgconn", None)
    user = getattr(pgconn, "user", None) if pgconn is not None else None
    if isinstance(user, bytes) and user:
        return user.decode(errors="replace")
    return "<role>"


def translate_error(
    exc: psycopg.Error, *, connecting: bool = False, role: str | None = None
) -> errors.PgCronError:
    """Map a psycopg error to the ``pgcron.errors`` class that names the fix (``role`` goes into GRANTs)."""
    diag = getattr(exc, "diag", None)
    sqlstate = getattr(exc, "sqlstate", None)
    primary = (getattr(diag, "message_primary", None) or str(exc)).strip()
    detail = getattr(diag, "message_detail", None)
    hint = getattr(diag, "message_hint", None)
    context: dict[str, Any] = {
        "sqlstate": sqlstate,
        "detail": detail,
        "hint": hint,
        "server_message": primary,
    }
    lowered = primary.lower()

    if connecting or (isinstance(exc, psycopg.OperationalError) and sqlstate is None):
        return errors.ConnectionFailed(
            f"could not connect to PostgreSQL: {primary}. Check the DSN (host, port, user, dbname) and that "
            "the server is running and accepts the connection (pg_hba.conf).",
            **context,
        )
    if "can only create extension in database" in lowered:
        return errors.WrongDatabase(
            f"{primary}. pg_cron keeps its jobs in the database named by cron.database_name: connect to "
            "that database.",
            **context,
        )
    if sqlstate == "3F000" and '"cron"' in primary:
        return errors.ExtensionNotInstalled(
            f"{primary}: pg_cron is not installed in this database. If pg_cron is installed in another "
            "database (cron.database_name), connect to that one; otherwise add pg_cron to "
            "shared_preload_libraries, restart, and run CREATE EXTENSION pg_cron.",
            **context,
        )
    if sqlstate == "3F000" and '"pgcron"' in primary:
        return errors.SchemaOutOfDate(
            f"{primary}: the pgcron engine schema is not installed. Run `pgcron schema install`.", **context
        )
    if sqlstate == "42P01" and "cron." in lowered and "pgcron." not in lowered:
        return errors.ExtensionNotInstalled(
            f"{primary}: pg_cron's tables are missing. Run CREATE EXTENSION pg_cron (or ALTER EXTENSION "
            "pg_cron UPDATE) in the database named by cron.database_name.",
            **context,
        )
    if sqlstate in ("42P01", "42883") and "pgcron." in lowered:
        return errors.SchemaOutOfDate(
            f"{primary}: the pgcron engine schema is missing or older than this library. Run "
            "`pgcron schema install`.",
            **context,
        )
    if sqlstate == "42883" and "cron." in lowered:
        return errors.UnsupportedFeature(
            f"{primary}: the installed pg_cron does not have this function. Upgrade pg_cron (install a newer "
            "package, restart, then ALTER EXTENSION pg_cron UPDATE).",
            **context,
        )
    if sqlstate == "42501" or "permission denied" in lowered or "must be superuser" in lowered:
        return _permission_error(primary, detail, _role_of(exc, role), context)
    if "could not find valid entry for job" in lowered or "does not exist or you don't own it" in lowered:
        return errors.JobNotFound(
            f"{primary}: no such job is visible to this role. List jobs with `pgcron jobs`.", **context
        )
    if lowered.startswith("invalid schedule"):
        return errors.ScheduleError(
            f"pg_cron rejected the schedule: {primary}. "
            + (hint or "Use cron format (e.g. 5 4 * * *) or, on pg_cron 1.5+, '[1-59] seconds'."),
            text=primary.partition(":")[2].strip(),
            **context,
        )
    if "does not have connect privilege" in lowered:
        return errors.PermissionDenied(
            f"{primary}. Grant it: GRANT CONNECT ON DATABASE <database> TO <role>;", **context
        )
    if "can not log in" in lowered:
        return errors.PermissionDenied(
            f"{primary}. Jobs run as a role with LOGIN: ALTER ROLE <role> LOGIN, or choose another username.",
            **context,
        )
    if sqlstate in ("40001", "40P01", "55P03"):  # serialization failure, deadlock, lock not available
        return errors.ConcurrencyConflict(
            f"{primary}: another session held what this needed. Nothing was changed; retry.", **context
        )
    if isinstance(exc, psycopg.OperationalError):
        return errors.ConnectionFailed(f"the connection to PostgreSQL failed: {primary}", **context)
    message = primary if not detail else f"{primary} ({detail})"
    if hint:
        message = f"{message}. {hint}"
    return errors.PgCronError(message, **context)


def _permission_error(
    primary: str, detail: str | None, role: str, context: dict[str, Any]
) -> errors.PermissionDenied:
    lowered = primary.lower()
    if "schema cron" in lowered:
        fix = f"GRANT USAGE ON SCHEMA cron TO {role};"
    elif "schema pgcron" in lowered:
        fix = f"GRANT USAGE ON SCHEMA pgcron TO {role}; (or re-run `pgcron schema install` as its owner)"
    elif "function alter_job" in lowered:
        fix = f"GRANT EXECUTE ON FUNCTION {_SIGNATURES['alter_job']} TO {role};"
    elif "function schedule_in_database" in lowered:
        fix = f"GRANT EXECUTE ON FUNCTION {_SIGNATURES['schedule_in_database']} TO {role};"
    elif "another role" in lowered or "alter username" in lowered:
        fix = "only a superuser may run jobs as another role: connect as a superuser, or leave username unset"
    elif "superuser" in lowered and "cannot schedule jobs" in lowered:
        fix = "choose a non-superuser username, or set cron.enable_superuser_jobs = on"
    elif "table job" in lowered:
        fix = "the job belongs to another role: connect as its owner or as a superuser"
    else:
        fix = "ask an administrator for the privilege named above"
    message = f"{primary}" + (f" ({detail})" if detail else "") + f". Fix: {fix}"
    return errors.PermissionDenied(message, **context)


# --------------------------------------------------------------------------- rows → models


def job_from_row(row: Mapping[str, Any]) -> Job:
    return Job(
        jobid=int(row["jobid"]),
        name=row["jobname"],
        schedule=row["schedule"],
        command=row["command"],
        database=row["database"],
        username=row["username"],
        active=bool(row["active"]),
        nodename=row["nodename"],
        nodeport=int(row["nodeport"]),
    )


def run_from_row(row: Mapping[str, Any], *, execution_mode: str | None) -> Run:
    facts = RunFacts(
        raw_status=row["status"],
        return_message=row["return_message"],
        command=row["command"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        job_pid=row["job_pid"],
        pid_alive=row.get("pid_alive"),
        job_backend_type=row.get("job_backend_type"),
        newer_run=bool(row.get("newer_run")),
        launcher_start=row.get("launcher_start"),
        dispatched_by=row.get("dispatched_by"),
        observed_at=row.get("observed_at"),
    )
    verdict = decide(facts, execution_mode=execution_mode)
    return Run(
        runid=int(row["runid"]),
        jobid=row["jobid"],
        status=verdict.status,
        raw_status=row["status"],
        message=verdict.message,
        return_message=row["return_message"],
        start_time=row["start_time"],
        end_time=row["end_time"] if verdict.status.is_terminal else None,
        database=row["database"],
        username=row["username"],
        command=row["command"],
        rows=verdict.rows,
        job_pid=row["job_pid"],
    )


# The command of a pushdown's per-submission job (the procedure path): pg_cron records the wrapper's own
# outcome ("CALL"); the statement's outcome is in pgcron.submission.
_SUBMISSION_CALL = re.compile(r"^CALL pgcron\.execute_submission\((\d+)\)$")


def _submission_id(run: Run) -> int | None:
    match = _SUBMISSION_CALL.match(run.command or "")
    return int(match.group(1)) if match and run.status is RunStatus.SUCCEEDED else None


def submission_ids(runs: Iterable[Run]) -> list[int]:
    """Submission ids of the succeeded pushdown wrapper runs among ``runs`` (their message is ``CALL``)."""
    return sorted({i for i in map(_submission_id, runs) if i is not None})


def with_submission_outcomes(runs: Iterable[Run], rows: Iterable[Mapping[str, Any]]) -> list[Run]:
    """``runs`` with each pushdown wrapper run's message replaced by its statement's outcome (``1 row``).

    Only the run that claimed the submission (its backend pid, same role) takes the outcome: another job
    whose command merely names the same submission id keeps its own message."""
    by_id = {int(r["id"]): r for r in rows}
    out: list[Run] = []
    for run in runs:
        sid = _submission_id(run)
        row = by_id.get(sid) if sid is not None else None
        if (
            row is not None
            and row["outcome"] == "succeeded"
            and row["claimed_pid"] is not None
            and row["claimed_pid"] == run.job_pid
            and row["username"] == run.username
        ):
            count = row["rows"]
            run = dataclasses.replace(run, message=runstate.rows_message(count), rows=count)
        out.append(run)
    return out


def raw_statuses_for(statuses: Iterable[RunStatus]) -> list[str]:
    """pg_cron status strings that can yield any of these engine statuses (``runstate.RAW_FOR``)."""
    return runstate.raw_statuses_for(statuses)


def coerce_statuses(
    status: RunStatus | str | Iterable[RunStatus | str] | None,
) -> frozenset[RunStatus] | None:
    """Accept one status, its name/value, or several."""
    if status is None:
        return None
    items: Iterable[RunStatus | str] = [status] if isinstance(status, RunStatus | str) else status
    out: set[RunStatus] = set()
    for item in items:
        if isinstance(item, RunStatus):
            out.add(item)
            continue
        try:
            out.add(RunStatus(item.lower()))
        except ValueError:
            known = ", ".join(s.value for s in RunStatus)
            raise errors.PgCronError(f"unknown run status {item!r}; use one of: {known}") from None
    return frozenset(out)


# --------------------------------------------------------------------------- capabilities


def _ext_tuple(version: str) -> tuple[int, int]:
    match = re.match(r"^(\d+)\.(\d+)", version or "")
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _bool_setting(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.lower() in ("on", "true", "1", "yes")


def build_capabilities(
    facts: Mapping[str, Any],
    settings: Mapping[str, str],
    *,
    launcher: Mapping[str, Any] | None,
    trigger: Mapping[str, Any] | None,
    schema_version: int | None,
    probes: Mapping[str, bool] | None = None,
) -> Capabilities:
    """Assemble ``Capabilities`` from the detection queries (sql/queries/capabilities.sql)."""
    extversion = facts["extversion"]
    if extversion is None:
        raise errors.ExtensionNotInstalled(
            f"pg_cron is not installed in database {facts['current_database']!r}. If it is installed in "
            "another database (cron.database_name, usually 'postgres'), connect to that one; otherwise add "
            "pg_cron to shared_preload_libraries, restart, and run CREATE EXTENSION pg_cron there.",
        )
    ext = _ext_tuple(extversion)
    notes: list[str] = []
    visible = bool(settings)
    probes = probes or {}
    if visible:
        has_intervals = "cron.timezone" in settings
        has_last_day = "cron.launch_active_jobs" in settings
        if "cron.match_dom_and_dow" in settings:
            library = "1.6.8"
        elif has_last_day:
            library = "1.6"
        elif has_intervals:
            library = "1.5"
        else:
            library = "1.4.2" if extversion == "1.4-1" else extversion
    else:
        notes.append(
            "cron.* settings are hidden from this role (they need superuser or pg_read_all_settings): "
            "execution mode, log_run, timezone and max_running_jobs are unknown"
        )
        default = facts.get("default_version") or extversion
        library = {"1.4-1": "1.4.2"}.get(default, default)
        has_intervals = probes.get("intervals", _ext_tuple(default) >= (1, 5))
        has_last_day = probes.get("last_day", _ext_tuple(default) >= (1, 6))
        if has_last_day and _ext_tuple(library) < (1, 6):
            library = "1.6"
        elif has_intervals and _ext_tuple(library) < (1, 5):
            library = "1.5"
    mode_setting = _bool_setting(settings.get("cron.use_background_workers"))
    execution_mode = None if mode_setting is None else ("bgw" if mode_setting else "libpq")
    max_running = settings.get("cron.max_running_jobs")

    if trigger is None:
        notify, reason = False, "cron.job_run_details does not exist (pg_cron older than 1.3)"
    elif trigger["installed"]:
        notify, reason = True, None
    elif not trigger["may_create"]:
        notify, reason = (
            False,
            (
                "this role may not create triggers on cron.job_run_details; run `pgcron schema install` as "
                "its owner (or a superuser). Waiting falls back to polling."
            ),
        )
    else:
        notify, reason = False, "the notify trigger is not installed; run `pgcron schema install`"

    return Capabilities(
        extversion=extversion,
        library_version=library,
        server_version_num=int(facts["server_version_num"]),
        current_database=facts["current_database"],
        current_user=facts["current_user"],
        is_superuser=bool(facts["is_superuser"]),
        settings_visible=visible,
        settings=dict(settings),
        execution_mode=execution_mode,
        log_run=_bool_setting(settings.get("cron.log_run")),
        timezone=settings.get("cron.timezone") or ("GMT" if visible else None),
        max_running_jobs=int(max_running) if max_running is not None else None,
        database_name=settings.get("cron.database_name"),
        has_intervals=has_intervals,
        has_last_day=has_last_day,
        has_alter_job=ext >= (1, 4),
        has_schedule_in_database=ext >= (1, 4),
        jobname_max_bytes=63 if ext < (1, 5) else None,
        notify_trigger=notify,
        notify_trigger_reason=reason,
        schema_version=schema_version,
        launcher_pid=launcher["pid"] if launcher else None,
        launcher_backend_start=launcher["backend_start"] if launcher else None,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- validation


@functools.cache
def _schedule_parser() -> Callable[..., Any] | None:
    """``pgcron.schedule.Schedule.parse`` once it exists; until then the server alone validates."""
    try:
        from pgcron.schedule import Schedule  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        logger.debug("pgcron.schedule.Schedule is not available; schedules are validated by pg_cron only")
        return None
    parse: Callable[..., Any] = Schedule.parse
    return parse


def validate_schedule(text: str, *, pgcron_version: str | None) -> None:
    """Strict client-side validation of a schedule (raises ``ScheduleError``)."""
    parse = _schedule_parser()
    if parse is not None:
        parse(text, pgcron_version=pgcron_version or "1.6", strict=True)


def validate_name(name: str, caps: Capabilities) -> None:
    if caps.jobname_max_bytes is not None and len(name.encode()) > caps.jobname_max_bytes:
        raise errors.UnsupportedFeature(
            f"job name {name!r} is {len(name.encode())} bytes; pg_cron {caps.extversion} stores names as "
            f"type name and would silently cut them to {caps.jobname_max_bytes} bytes. Use a shorter name "
            "or upgrade pg_cron to 1.5+ (ALTER EXTENSION pg_cron UPDATE).",
        )


def validate_spec(spec: JobSpec, caps: Capabilities) -> CommandInfo:
    """Everything checked before a job reaches pg_cron; returns the command analysis."""
    if not isinstance(spec, JobSpec):
        raise TypeError(f"schedule() takes a JobSpec, got {type(spec).__name__}")
    if not spec.name:
        raise errors.PgCronError("a job needs a non-empty name: pgcron upserts jobs by name")
    validate_name(spec.name, caps)
    validate_schedule(spec.schedule, pgcron_version=caps.library_version)
    if (spec.database is not None or spec.username is not None or not spec.active) and not (
        caps.has_schedule_in_database
    ):
        raise errors.UnsupportedFeature(
            f"database, username and active=False need cron.schedule_in_database (pg_cron 1.4+); this server "
            f"has pg_cron {caps.extversion}. Upgrade pg_cron or leave those fields unset.",
        )
    return check_command(spec.command, execution_mode=caps.execution_mode)


def to_seconds(timeout: float | timedelta | None) -> float | None:
    """Timeouts are seconds or a timedelta (ADR 0003)."""
    if timeout is None:
        return None
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    if seconds < 0:
        raise errors.PgCronError(f"timeout must not be negative, got {timeout!r}")
    return seconds


def since_value(since: datetime | timedelta | None, now: datetime) -> datetime | None:
    """``since`` as a point in time: a datetime, or a timedelta counted back from now."""
    if since is None or isinstance(since, datetime):
        return since
    return now - since
