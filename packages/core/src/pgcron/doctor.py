"""Doctor: preflight checks of a pg_cron installation, each PASS / WARN / FAIL / SKIP with a fix hint.

It reads only what the connected role may read. As a superuser (or with ``pg_read_all_settings``) every
check runs; an ordinary role sees no ``cron.*`` settings and only its own jobs and runs, so those checks
report SKIP or say that they saw part of the picture (docs/doctor.md). The traps it looks for are the
ones that stop *all* jobs: a job whose role was dropped crash-loops the launcher, a ``COPY … TO STDOUT``
command hangs it in libpq mode (facts §7.1, §8.4).

Doctor never raises for what it is meant to diagnose: no pg_cron in this database (or in another one), no
privileges, no engine schema. Each becomes a FAIL / WARN / SKIP line with the fix, and a query that fails
anyway becomes a FAIL line for its check while the others still run (each query runs in its own savepoint,
with ``search_path`` pinned to ``pg_catalog, pg_temp``).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from pgcron._client_base import translate_error
from pgcron._steps import Steps, pinned, step
from pgcron.commands import analyze_command
from pgcron.errors import PgCronError, UnsupportedCommand
from pgcron.lanes import lane_slot_warning
from pgcron.sql import migrations

__all__ = ["ENGINE_JOB", "ENGINE_JOB_COMMAND", "Check", "Status", "doctor_steps"]

logger = logging.getLogger(__name__)

_HISTORY_ROWS_WARN = 1_000_000
_INDEX_ROWS_WARN = 100_000

#: The engine's one recurring job, and the command it must run (migration 0004).
ENGINE_JOB = "pgcron:maintenance"
ENGINE_JOB_COMMAND = "CALL pgcron.maintenance()"
#: The former timeout watchdog, merged into the engine job by migration 0004.
LEGACY_TIMEOUT_JOB = "pgcron:job-timeouts"
_MERGED_IN_VERSION = 4
_ENGINE_SCHEDULES = ("5 seconds", "* * * * *")
_UNKNOWN = "unknown (not readable by this role)"


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


#: What a failed query is thrown into the routine as (the seam translates psycopg's errors).
_DB_ERRORS = (psycopg.Error, PgCronError)

_SETTINGS_HINT = (
    "cron.* settings are superuser-only: run doctor as a superuser, or GRANT pg_read_all_settings TO <role>"
)


def _could_not_check(name: str, exc: psycopg.Error | PgCronError) -> Check:
    error = exc if isinstance(exc, PgCronError) else translate_error(exc)
    return Check(
        name, Status.FAIL, f"could not check: {error.message}", "fix the error above, then re-run doctor"
    )


def could_not_connect(exc: psycopg.Error | PgCronError) -> list[Check]:
    """What doctor reports when the routine itself could not run (pinning the search_path failed)."""
    return [_could_not_check("connection", exc)]


def doctor_steps() -> Steps[list[Check]]:
    """Every check that this role can run (``Client.doctor`` runs the queries, each in its own transaction
    or savepoint, with ``search_path`` pinned). A query that fails becomes a FAIL line for its check."""
    return (yield from pinned(_run_checks()))


def _run_checks() -> Steps[list[Check]]:
    try:
        facts = (yield step("doctor_facts"))[0]
    except _DB_ERRORS as exc:
        return [_could_not_check("server facts", exc)]
    checks: list[Check] = []
    privileged = bool(facts["is_superuser"] or facts["reads_all_settings"])
    settings: dict[str, str] = {}
    try:
        settings = {r["name"]: r["setting"] for r in (yield step("doctor_cron_settings"))}
    except _DB_ERRORS as exc:
        checks.append(_could_not_check("cron settings", exc))
    checks.append(_preload(facts))
    checks.append(_extension(facts, settings))
    if facts["extversion"] is None:
        if facts["launcher_database"] is not None or settings.get("cron.database_name"):
            checks.append(_database_name(facts, settings))
        return checks
    checks.append(_launcher(facts))
    checks.append(_database_name(facts, settings))
    checks.append(_privileges(facts))
    checks.append(_execution_mode(settings, privileged))
    checks.append(_max_running_jobs(facts, settings, privileged))
    checks.append(_log_run(settings, privileged))
    engine_version = yield from _engine_version(facts, checks)
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
    if facts["has_engine_schema"]:
        try:
            checks.extend((yield from _engine_job(facts, engine_version)))
        except _DB_ERRORS as exc:
            checks.append(_could_not_check("engine job", exc))
    scope = "all jobs" if facts["sees_all_jobs"] else "only this role's jobs (row security)"
    try:
        jobs = yield step("doctor_jobs")
    except _DB_ERRORS as exc:
        checks.append(_could_not_check("jobs", exc))
    else:
        checks.append(_dropped_roles(jobs, scope))
        checks.append(_databases(jobs, scope))
        checks.append(_commands(jobs, settings, scope))
    try:
        lanes = yield step("lane_slots")
    except _DB_ERRORS as exc:
        checks.append(_could_not_check("lanes", exc))
    else:
        checks.append(_lanes(lanes, settings, scope))
    if facts["has_engine_schema"] and (engine_version or 0) >= ADMISSION_MIGRATION:
        try:
            admission = (yield step("doctor_admission"))[0]
        except _DB_ERRORS as exc:
            checks.append(_could_not_check("slots", exc))
        else:
            checks.append(_slots(admission, settings))
    if facts["has_engine_schema"] and facts["engine_owner"] is not None:
        checks.append(_timeouts(facts))
    try:
        checks.extend((yield from _history(facts, scope)))
    except _DB_ERRORS as exc:
        checks.append(_could_not_check("history", exc))
    return checks


def _engine_version(facts: Mapping[str, Any], checks: list[Check]) -> Steps[int | None]:
    """Add the "engine schema" check; return the installed version when it could be read."""
    latest = max((m.version for m in migrations()), default=0)
    owner = facts["engine_owner"]
    if not facts["has_engine_schema"]:
        checks.append(
            Check(
                "engine schema",
                Status.WARN,
                "the pgcron engine schema is not installed: pushdown runs, job timeouts, apply records and "
                "the engine job need it",
                "pgcron schema install --dsn <this database>, as the role that should own the engine "
                "(a superuser or the provider's admin role)",
            )
        )
        return None
    if not facts["engine_version_readable"]:
        checks.append(
            Check(
                "engine schema",
                Status.SKIP,
                f"installed (owner {owner}); its version is {_UNKNOWN}",
                f"GRANT USAGE ON SCHEMA pgcron TO {facts['current_user']} (as {owner}), or re-run "
                "`pgcron schema install`, which grants it",
            )
        )
        return None
    try:
        rows = yield step("doctor_engine_version")
    except _DB_ERRORS as exc:
        checks.append(_could_not_check("engine schema", exc))
        return None
    version = rows[0]["version"] if rows else None
    if version is None:
        checks.append(
            Check(
                "engine schema",
                Status.WARN,
                "the pgcron schema exists but records no migration (an interrupted install)",
                f"pgcron schema install (as {owner})",
            )
        )
        return None
    version = int(version)
    if version < latest:
        checks.append(
            Check(
                "engine schema",
                Status.WARN,
                f"version {version} of {latest}: {latest - version} migration(s) pending",
                f"pgcron schema install (as {owner}, or a superuser)",
            )
        )
    elif version > latest:
        checks.append(
            Check(
                "engine schema",
                Status.WARN,
                f"version {version} is newer than this pgcron ({latest})",
                "upgrade pgcron on this machine",
            )
        )
    else:
        checks.append(Check("engine schema", Status.PASS, f"version {version} (owner {owner})"))
    return version


def _engine_job(facts: Mapping[str, Any], engine_version: int | None) -> Steps[list[Check]]:
    """The engine job exists, is active, runs its one command as the engine owner, and its runs succeed."""
    owner, user = facts["engine_owner"], facts["current_user"]
    repair = f"pgcron schema install (as {owner} or a superuser) restores it"
    if not (facts["sees_all_jobs"] or user == owner):
        return [
            Check(
                "engine job",
                Status.SKIP,
                f"{ENGINE_JOB} runs as {owner}, and cron.job shows each role only its own jobs",
                f"run doctor as {owner} or a superuser",
            )
        ]
    jobs = yield step("doctor_engine_jobs")
    checks: list[Check] = []
    named = [j for j in jobs if j["jobname"] == ENGINE_JOB]
    mine = [j for j in named if j["username"] == owner]
    impostors = [f"{_name(j)} runs as {j['username']!r}" for j in named if j["username"] != owner]
    if not mine:
        checks.append(
            Check(
                "engine job",
                Status.FAIL,
                f"{ENGINE_JOB} does not exist (as {owner}): pushdown timeouts and clean-up, job timeouts "
                "and the engine's own history purge do not run",
                repair,
                tuple(impostors),
            )
        )
    else:
        job = mine[0]
        wrong: list[str] = []
        if not job["active"]:
            wrong.append("it is inactive")
        if job["command"].strip() != ENGINE_JOB_COMMAND:
            wrong.append(f"its command is not {ENGINE_JOB_COMMAND!r}")
        if job["database"] != facts["current_database"]:
            wrong.append(f"it runs in database {job['database']!r}, not {facts['current_database']!r}")
        if job["schedule"] not in _ENGINE_SCHEDULES:
            wrong.append(f"its schedule is {job['schedule']!r}, not {_ENGINE_SCHEDULES[0]!r}")
        if wrong:
            checks.append(
                Check("engine job", Status.FAIL, f"{_name(job)} was altered: {'; '.join(wrong)}", repair)
            )
        elif impostors:
            checks.append(
                Check(
                    "engine job",
                    Status.WARN,
                    f"{_name(job)} runs as {owner}; another job of the same name runs as another role",
                    "unschedule the other job (only the one of the engine owner is the engine's)",
                    tuple(impostors),
                )
            )
        else:
            checks.append(
                Check(
                    "engine job",
                    Status.PASS,
                    f"{_name(job)}: active, {ENGINE_JOB_COMMAND}, every {job['schedule']}, as {owner}",
                )
            )
        checks.append((yield from _engine_runs(job)))
    leftovers = [j for j in jobs if j["jobname"] == LEGACY_TIMEOUT_JOB]
    if leftovers and engine_version is not None and engine_version >= _MERGED_IN_VERSION:
        checks.append(
            Check(
                "leftover engine job",
                Status.WARN,
                f"{LEGACY_TIMEOUT_JOB} still exists: migration 0004 merged it into {ENGINE_JOB}, so it only "
                "adds run rows",
                f"pgcron schema install removes it (as {owner}), or SELECT cron.unschedule(jobid) for "
                "the jobids below",
                tuple(f"{_name(j)} as {j['username']!r}" for j in leftovers),
            )
        )
    return checks


def _engine_runs(job: Mapping[str, Any]) -> Steps[Check]:
    if not job["active"]:
        return Check("engine job runs", Status.SKIP, f"{_name(job)} is inactive: it does not run")
    runs = yield step("doctor_engine_runs", {"jobid": job["jobid"]})
    if not runs:
        return Check(
            "engine job runs",
            Status.WARN,
            f"no run of {_name(job)} finished in the last 10 minutes",
            "if the job was just (re)created, check again in a few seconds; otherwise see the launcher "
            "check, cron.log_run and the server log",
        )
    failed = [r for r in runs if r["status"] == "failed"]
    last = runs[0]
    message = " ".join(str(last["return_message"] or "").split())[:300]
    if len(failed) == len(runs):
        return Check(
            "engine job runs",
            Status.FAIL,
            f"all {len(runs)} run(s) of {_name(job)} in the last 10 minutes failed; the last: {message}",
            "fix the error above; `pgcron schema install` re-creates the engine's functions and job",
        )
    if last["status"] == "failed":
        return Check(
            "engine job runs",
            Status.WARN,
            f"{len(failed)} of {len(runs)} run(s) in the last 10 minutes failed, the last one too: {message}",
            "check the server log for the engine job's warnings",
        )
    detail = f"{len(runs)} run(s) in the last 10 minutes, the last one succeeded"
    if failed:
        detail += f" ({len(failed)} failed)"
    return Check("engine job runs", Status.PASS, detail)


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
        f"shared_preload_libraries: {_UNKNOWN}, and no launcher is visible",
        _SETTINGS_HINT,
    )


def _extension(facts: Mapping[str, Any], settings: Mapping[str, str]) -> Check:
    ext, default = facts["extversion"], facts["default_version"]
    here = facts["current_database"]
    if ext is None:
        elsewhere = settings.get("cron.database_name") or facts["launcher_database"]
        if elsewhere is not None and elsewhere != here:
            return Check(
                "extension",
                Status.FAIL,
                f"pg_cron is not installed in database {here!r}: it runs in database {elsewhere!r}",
                f"connect to database {elsewhere!r} (pg_cron keeps all jobs of the server there)",
            )
        if not facts["extension_available"]:
            return Check(
                "extension",
                Status.FAIL,
                f"pg_cron is not installed in database {here!r}, and the server has no pg_cron package",
                "install the pg_cron package for this PostgreSQL version (e.g. postgresql-17-cron), add "
                "pg_cron to shared_preload_libraries, restart, then CREATE EXTENSION pg_cron",
            )
        return Check(
            "extension",
            Status.FAIL,
            f"pg_cron is not installed in database {here!r}",
            "if pg_cron runs in another database of this server (cron.database_name; ask a superuser: "
            "SHOW cron.database_name), connect there; otherwise CREATE EXTENSION pg_cron in the database "
            "named by cron.database_name",
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
        return Check("privileges", Status.PASS, f"{user} is a superuser")
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
            "execution mode", Status.SKIP, f"cron.use_background_workers: {_UNKNOWN}", _SETTINGS_HINT
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


def _lanes(rows: Sequence[Mapping[str, Any]], settings: Mapping[str, str], scope: str) -> Check:
    """Lane workers each hold one of cron.max_running_jobs' slots for as long as they live (ADR 0006)."""
    workers = sum(int(r["workers"]) for r in rows)
    warning = lane_slot_warning(rows, settings)
    where = ", ".join(f"{r['role']}@{r['database']}: {r['workers']}" for r in rows) or "none"
    if warning is None:
        return Check("lanes", Status.PASS, f"{workers} lane worker(s) ({where}; {scope})")
    return Check(
        "lanes",
        Status.WARN,
        f"{warning} ({where}; {scope})",
        "pgcron lane start --workers N / pgcron lane stop, or raise cron.max_running_jobs",
    )


ADMISSION_MIGRATION = 7  # 0007_admission.sql: the pushdown budget (docs/adr/0010-slot-admission.md)


def _slots(row: Mapping[str, Any], settings: Mapping[str, str]) -> Check:
    """How cron.max_running_jobs is shared: the reserve for scheduled jobs, lane workers, the pushdown budget
    (ADR 0010). WARN when the engine's assumed cap differs from the real setting, or nothing is left for
    pushdown beside lanes and the reserve (the budget's floor of one then eats into the reserve)."""
    cap, reserve, lanes = int(row["slot_cap"]), int(row["slot_reserve"]), int(row["lane_workers"])
    budget, in_flight, queued = int(row["budget"]), int(row["in_flight"]), int(row["queued"])
    source = str(row.get("slot_cap_source") or "setting")
    cap_text = {
        "config": f"cron.max_running_jobs {cap} (as set in pgcron.config)",
        "assumed": f"cron.max_running_jobs assumed {cap} (the setting cannot be read here)",
    }.get(source, f"cron.max_running_jobs {cap}")
    detail = (
        f"{cap_text}: {reserve} reserved for scheduled jobs, {lanes} lane worker(s), "
        f"pushdown budget {budget} ({in_flight} in flight, {queued} queued)"
    )
    real = settings.get("cron.max_running_jobs")
    if real is not None and int(real) != cap:
        return Check(
            "slots",
            Status.WARN,
            f"{detail}; the engine assumes {cap} but cron.max_running_jobs is {real}",
            "as the engine owner, set pgcron.config max_running_jobs to 'auto' or to " + real,
        )
    if cap - reserve - lanes < 1:
        return Check(
            "slots",
            Status.WARN,
            f"{detail}; lanes and the reserve leave no slot for pushdown: each pushdown job takes a reserved "
            "one",
            "fewer lane workers (pgcron lane start --workers N), a smaller pushdown_slot_reserve, "
            "or raise cron.max_running_jobs (restart)",
        )
    if source == "assumed":
        return Check(
            "slots",
            Status.PASS,
            detail,
            "if the provider allows more (Azure, Supabase: 32), the engine owner sets it: "
            "UPDATE pgcron.config SET value = '32' WHERE name = 'max_running_jobs'",
        )
    return Check("slots", Status.PASS, detail)


def _timeouts(facts: Mapping[str, Any]) -> Check:
    """Whether maintenance, with the engine owner's rights, can enforce other roles' timeouts: cancelling a
    backend needs pg_signal_backend; finding a jobs-file job's run that row security hides needs the backend's
    query in pg_stat_activity (pg_read_all_stats). The owner's own runs are always enforced."""
    owner = facts["engine_owner"]
    if facts["engine_owner_is_superuser"]:
        return Check("timeouts", Status.PASS, f"the engine owner {owner} may cancel any role's overdue run")
    workaround = (
        "or bound those roles' statements themselves: ALTER ROLE <role> SET statement_timeout = '…' "
        "(every session of the role)"
    )
    if not facts["engine_owner_signals"]:
        return Check(
            "timeouts",
            Status.WARN,
            f"only {owner}'s own runs are held to their timeouts: {owner} may not cancel other roles' "
            "backends (no pg_signal_backend), so their pushdown and jobs-file timeouts are not enforced",
            f"GRANT pg_signal_backend TO {owner} (as a role that may; Azure and Supabase do not allow it), "
            + workaround,
        )
    if not facts["engine_owner_reads_stats"]:
        return Check(
            "timeouts",
            Status.WARN,
            f"other roles' pushdown timeouts are enforced, but their jobs-file timeouts only where {owner} "
            "sees the job's run rows: other roles' queries are hidden from it (no pg_read_all_stats)",
            f"GRANT pg_read_all_stats TO {owner} (as a role that may), " + workaround,
        )
    return Check(
        "timeouts",
        Status.PASS,
        f"the engine owner {owner} may find and cancel other roles' overdue runs "
        "(pg_signal_backend, pg_read_all_stats)",
    )


def _max_running_jobs(facts: Mapping[str, Any], settings: Mapping[str, str], privileged: bool) -> Check:
    if not privileged or "cron.max_running_jobs" not in settings:
        return Check("max_running_jobs", Status.SKIP, f"cron.max_running_jobs: {_UNKNOWN}", _SETTINGS_HINT)
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
        return Check("log_run", Status.SKIP, f"cron.log_run: {_UNKNOWN}", _SETTINGS_HINT)
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


def _history(facts: Mapping[str, Any], scope: str) -> Steps[list[Check]]:
    rows = yield step("doctor_history")
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
        found = yield step("doctor_stuck_runs", {"launcher_start": facts["launcher_start"]})
        stuck = int(found[0]["stuck"])
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
