"""Doctor: preflight checks of a pg_cron installation, each PASS / WARN / FAIL / SKIP with a fix hint.

It reads only what the connected role may read. As a superuser (or with ``pg_read_all_settings``) every
check runs; an ordinary role sees no ``cron.*`` settings and only its own jobs and runs, so those checks
report SKIP or say that they saw part of the picture (docs/doctor.md). The traps it looks for are the
ones that stop *all* jobs: a job whose role was dropped crash-loops the launcher, a ``COPY … TO STDOUT``
command hangs it in libpq mode (facts §7.1, §8.4).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgcron.commands import analyze_command
from pgcron.errors import UnsupportedCommand
from pgcron.sql import get_query

__all__ = ["Check", "Status", "run_doctor"]

logger = logging.getLogger(__name__)

_HISTORY_ROWS_WARN = 1_000_000
_INDEX_ROWS_WARN = 100_000


class Status(enum.Enum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"  # could not look (privileges, older pg_cron)


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome. ``hint`` says how to fix a WARN or FAIL (or how to let a SKIP run)."""

    name: str
    status: Status
    detail: str
    hint: str = ""
    items: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "hint": self.hint,
            "items": list(self.items),
        }


def _fetch(
    conn: psycopg.Connection[Any], query: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(get_query(query), dict(params or {}))
        return cur.fetchall()


_SETTINGS_HINT = (
    "cron.* settings are superuser-only: run doctor as a superuser, or GRANT pg_read_all_settings TO <role>"
)


def run_doctor(conn: psycopg.Connection[Any]) -> list[Check]:
    """Run every check that this role can run. Needs an autocommit connection or an open transaction."""
    facts = _fetch(conn, "doctor_facts")[0]
    checks: list[Check] = []
    privileged = bool(facts["is_superuser"] or facts["reads_all_settings"])
    settings: dict[str, str] = {}
    if facts["extversion"] is not None and privileged:
        settings = {r["name"]: r["setting"] for r in _fetch(conn, "doctor_cron_settings")}
    checks.append(_preload(facts))
    checks.append(_extension(facts))
    if facts["extversion"] is None:
        return checks
    checks.append(_launcher(facts))
    checks.append(_database_name(facts, settings))
    checks.append(_privileges(facts))
    checks.append(_execution_mode(settings, privileged))
    checks.append(_max_running_jobs(facts, settings, privileged))
    checks.append(_log_run(settings, privileged))
    if not facts["cron_usage"]:
        checks.append(
            Check(
                "jobs",
                Status.SKIP,
                "no USAGE on schema cron: jobs and runs cannot be read",
                "GRANT USAGE ON SCHEMA cron TO " + facts["current_user"],
            )
        )
        return checks
    jobs = _fetch(conn, "doctor_jobs")
    scope = "all jobs" if facts["is_superuser"] else "only this role's jobs (row security)"
    checks.append(_dropped_roles(jobs, scope))
    checks.append(_databases(jobs, scope))
    checks.append(_commands(jobs, settings, scope))
    checks.extend(_history(conn, facts, scope))
    return checks


def _preload(facts: Mapping[str, Any]) -> Check:
    spl = facts["shared_preload_libraries"]
    launcher = facts["launcher_database"] is not None
    if spl is not None:
        loaded = "pg_cron" in [p.strip() for p in spl.split(",")]
        if loaded:
            return Check("preload", Status.PASS, f"shared_preload_libraries = '{spl}'")
        return Check(
            "preload",
            Status.FAIL,
            f"pg_cron is not in shared_preload_libraries ('{spl}')",
            "add pg_cron to shared_preload_libraries in postgresql.conf and restart PostgreSQL",
        )
    if launcher:
        return Check("preload", Status.PASS, "the pg_cron launcher is running, so pg_cron is preloaded")
    if facts["extversion"] is not None:
        return Check(
            "preload",
            Status.PASS,
            "inferred: the pg_cron extension exists, and its install script "
            "only succeeds when pg_cron is preloaded (shared_preload_libraries is not readable)",
        )
    return Check(
        "preload",
        Status.SKIP,
        "shared_preload_libraries is not readable and no launcher is visible",
        _SETTINGS_HINT,
    )


def _extension(facts: Mapping[str, Any]) -> Check:
    ext, default = facts["extversion"], facts["default_version"]
    if ext is None:
        return Check(
            "extension",
            Status.FAIL,
            f"pg_cron is not installed in database {facts['current_database']}",
            "CREATE EXTENSION pg_cron in the database named by cron.database_name (and connect there)",
        )
    if default is not None and default != ext:
        return Check(
            "extension",
            Status.WARN,
            f"extension version {ext}, but the installed package ships {default}",
            "ALTER EXTENSION pg_cron UPDATE (in cron.database_name, while the launcher is idle)",
        )
    return Check("extension", Status.PASS, f"pg_cron extension version {ext}")


def _launcher(facts: Mapping[str, Any]) -> Check:
    if facts["launcher_database"] is None:
        if not (facts["is_superuser"] or facts["reads_all_stats"]):
            return Check(
                "launcher",
                Status.SKIP,
                "other roles' processes are hidden from this role",
                f"GRANT pg_read_all_stats TO {facts['current_user']} (or run doctor as a superuser)",
            )
        return Check(
            "launcher",
            Status.FAIL,
            "no 'pg_cron launcher' process: no job runs",
            "check shared_preload_libraries and the server log (a job whose role was dropped "
            "crash-loops it; pg_cron ≤ 1.6.0 does not restart it after pg_terminate_backend)",
        )
    return Check("launcher", Status.PASS, f"running since {facts['launcher_start']:%Y-%m-%d %H:%M:%S %Z}")


def _database_name(facts: Mapping[str, Any], settings: Mapping[str, str]) -> Check:
    here = facts["current_database"]
    configured = settings.get("cron.database_name") or facts["launcher_database"]
    if configured is None:
        # CREATE EXTENSION pg_cron only succeeds in cron.database_name (facts §8.1).
        return Check(
            "cron.database_name",
            Status.PASS,
            f"{here!r}, inferred: the extension is installed here, which pg_cron allows only in "
            "cron.database_name (not readable by this role)",
        )
    if configured != here:
        return Check(
            "cron.database_name",
            Status.FAIL,
            f"jobs are read from database {configured!r}, but this is {here!r}",
            f"connect to {configured!r} to manage jobs (pg_cron keeps jobs in one database)",
        )
    return Check("cron.database_name", Status.PASS, f"{configured!r} (this database)")


def _privileges(facts: Mapping[str, Any]) -> Check:
    user = facts["current_user"]
    if facts["is_superuser"]:
        engine = "" if facts["has_engine_schema"] else "; the pgcron engine schema is not installed"
        return Check(
            "privileges",
            Status.WARN if engine else Status.PASS,
            f"{user} is a superuser{engine}",
            "pgcron schema install" if engine else "",
        )
    missing = []
    if not facts["cron_usage"]:
        missing.append("USAGE on schema cron")
    if not facts["can_alter_job"]:
        missing.append("EXECUTE on cron.alter_job")
    if not facts["can_schedule_in_database"]:
        missing.append("EXECUTE on cron.schedule_in_database")
    if not missing:
        return Check("privileges", Status.PASS, f"{user} may schedule, alter and read its jobs")
    status = Status.FAIL if not facts["cron_usage"] else Status.WARN
    return Check(
        "privileges",
        status,
        f"{user} lacks {', '.join(missing)}",
        f"GRANT USAGE ON SCHEMA cron TO {user}; GRANT EXECUTE ON FUNCTION cron.alter_job, "
        f"cron.schedule_in_database TO {user} (without them jobs can only be created as {user} in this "
        "database, and not deactivated)",
    )


def _execution_mode(settings: Mapping[str, str], privileged: bool) -> Check:
    if not privileged:
        return Check(
            "execution mode", Status.SKIP, "cron.use_background_workers is not readable", _SETTINGS_HINT
        )
    bgw = settings.get("cron.use_background_workers") == "on"
    if bgw:
        return Check(
            "execution mode", Status.PASS, "background workers (no connection or pg_hba entry needed)"
        )
    host = settings.get("cron.host", "localhost")
    return Check(
        "execution mode",
        Status.PASS,
        f"libpq: each run connects to {host!r}; pg_hba.conf must let it in without a password prompt "
        "(trust/peer or .pgpass), and COPY to the client hangs the scheduler",
    )


def _max_running_jobs(facts: Mapping[str, Any], settings: Mapping[str, str], privileged: bool) -> Check:
    if not privileged or "cron.max_running_jobs" not in settings:
        return Check("max_running_jobs", Status.SKIP, "cron.max_running_jobs is not readable", _SETTINGS_HINT)
    running = int(settings["cron.max_running_jobs"])
    workers, parallel = int(facts["max_worker_processes"]), int(facts["max_parallel_workers"])
    if settings.get("cron.use_background_workers") == "on":
        free = workers - 1  # the launcher holds one slot
        detail = (
            f"cron.max_running_jobs = {running}, max_worker_processes = {workers} (launcher: 1, "
            f"max_parallel_workers: {parallel})"
        )
        if running > free:
            return Check(
                "max_running_jobs",
                Status.FAIL,
                detail,
                f"lower cron.max_running_jobs to at most {free} or raise max_worker_processes",
            )
        if running + parallel > free:
            return Check(
                "max_running_jobs",
                Status.WARN,
                detail + ": jobs and parallel queries compete for slots; "
                "a job that finds none blocks all scheduling for up to 10 s, then fails",
                f"raise max_worker_processes to at least {running + parallel + 1} (restart)",
            )
        return Check("max_running_jobs", Status.PASS, detail)
    conns = int(facts["max_connections"])
    detail = f"cron.max_running_jobs = {running}, max_connections = {conns}"
    if running >= conns:
        return Check(
            "max_running_jobs",
            Status.WARN,
            detail + ": jobs can take every connection",
            "lower cron.max_running_jobs well below max_connections",
        )
    return Check("max_running_jobs", Status.PASS, detail)


def _log_run(settings: Mapping[str, str], privileged: bool) -> Check:
    if not privileged or "cron.log_run" not in settings:
        return Check("log_run", Status.SKIP, "cron.log_run is not readable", _SETTINGS_HINT)
    if settings["cron.log_run"] != "on":
        return Check(
            "log_run",
            Status.WARN,
            "cron.log_run = off: no run history is written (audit and run status cannot work)",
            "set cron.log_run = on and restart",
        )
    return Check("log_run", Status.PASS, "cron.log_run = on")


def _name(job: Mapping[str, Any]) -> str:
    return f"{job['jobname'] or '(unnamed)'} (jobid {job['jobid']})"


def _dropped_roles(jobs: list[dict[str, Any]], scope: str) -> Check:
    dropped = [f"{_name(j)}: role {j['username']!r} does not exist" for j in jobs if not j["role_exists"]]
    nologin = [
        f"{_name(j)}: role {j['username']!r} cannot log in"
        for j in jobs
        if j["role_exists"] and not j["role_can_login"]
    ]
    if dropped:
        return Check(
            "job roles",
            Status.FAIL,
            f"{len(dropped)} job(s) run as a role that no longer exists: the launcher errors on them "
            "at every job reload and restarts in a loop, so NO job runs",
            "as a superuser: DELETE FROM cron.job WHERE jobid IN (…), or UPDATE cron.job SET username "
            "= '<existing role>' WHERE jobid IN (…); check cron.job before DROP ROLE",
            tuple(dropped + nologin),
        )
    if nologin:
        return Check(
            "job roles",
            Status.WARN,
            f"{len(nologin)} job(s) run as a role without LOGIN: every run fails",
            "ALTER ROLE … LOGIN, or alter_job(username := …)",
            tuple(nologin),
        )
    return Check("job roles", Status.PASS, f"every job's role exists and can log in ({scope})")


def _databases(jobs: list[dict[str, Any]], scope: str) -> Check:
    missing = [f"{_name(j)}: database {j['database']!r}" for j in jobs if not j["database_exists"]]
    if missing:
        return Check(
            "job databases",
            Status.FAIL,
            f"{len(missing)} job(s) target a database that does not exist: every run fails",
            "cron.alter_job(jobid, database := '…') or unschedule them",
            tuple(missing),
        )
    return Check("job databases", Status.PASS, f"every job's database exists ({scope})")


def _commands(jobs: list[dict[str, Any]], settings: Mapping[str, str], scope: str) -> Check:
    copy: list[str] = []
    other: list[str] = []
    bgw = settings.get("cron.use_background_workers") == "on"
    for job in jobs:
        try:
            info = analyze_command(job["command"])
        except UnsupportedCommand:
            other.append(f"{_name(job)}: not valid SQL for this parser")
            continue
        if info.has_copy_to_client:
            copy.append(f"{_name(job)}{'' if job['active'] else ' (inactive)'}")
        elif info.is_empty:
            other.append(f"{_name(job)}: empty command (never finishes in background-worker mode)")
        elif bgw and info.has_transaction_control:
            other.append(f"{_name(job)}: BEGIN/COMMIT in background-worker mode (every run fails)")
    if copy:
        return Check(
            "job commands",
            Status.FAIL,
            f"{len(copy)} job(s) run COPY … TO STDOUT / FROM STDIN: in libpq mode the scheduler hangs "
            "until the server restarts (in bgw mode the data is discarded)",
            "rewrite them to COPY to a server file or INSERT … SELECT, or unschedule them",
            tuple(copy + other),
        )
    if other:
        return Check(
            "job commands",
            Status.WARN,
            f"{len(other)} job command(s) cannot succeed",
            "fix or unschedule them",
            tuple(other),
        )
    return Check("job commands", Status.PASS, f"no command pg_cron cannot run ({scope})")


def _history(conn: psycopg.Connection[Any], facts: Mapping[str, Any], scope: str) -> list[Check]:
    rows = _fetch(conn, "doctor_history")
    if not rows:
        return [Check("history", Status.SKIP, "cron.job_run_details does not exist (pg_cron < 1.3)")]
    h = rows[0]
    count, size = max(int(h["rows_estimate"]), 0), int(h["total_bytes"] or 0)
    detail = f"~{count:,} run rows, {size / 1e6:,.1f} MB"
    checks = []
    if count > _HISTORY_ROWS_WARN and not h["retention_job"]:
        checks.append(
            Check(
                "history size",
                Status.WARN,
                detail + ", and no job purges it",
                "pgcron history purge --older-than 7d, and declare [retention] in a jobs file",
            )
        )
    else:
        checks.append(
            Check(
                "history size",
                Status.PASS,
                detail + ("" if not h["retention_job"] else "; a retention job exists"),
            )
        )
    if not h["jobid_index"] and count > _INDEX_ROWS_WARN:
        checks.append(
            Check(
                "history index",
                Status.WARN,
                f"no index on jobid: one job's runs scan ~{count:,} rows",
                "pgcron history index --create (CONCURRENTLY; needs the table owner)",
            )
        )
    else:
        checks.append(
            Check(
                "history index",
                Status.PASS,
                "present" if h["jobid_index"] else f"none, not needed yet at ~{count:,} rows",
            )
        )
    if facts["launcher_start"] is not None:
        stuck = int(
            _fetch(conn, "doctor_stuck_runs", {"launcher_start": facts["launcher_start"]})[0]["stuck"]
        )
        if stuck:
            checks.append(
                Check(
                    "stuck runs",
                    Status.WARN,
                    f"{stuck} unfinished run row(s) older than the launcher: they will never finish "
                    f"({scope})",
                    "pgcron history purge removes them once older than its cutoff",
                )
            )
        else:
            checks.append(Check("stuck runs", Status.PASS, f"none ({scope})"))
    return checks
