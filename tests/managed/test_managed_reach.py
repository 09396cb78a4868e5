"""Reach beyond the plain pushdown on every managed flavour: pushdown to another database (which needs
``cron.schedule_in_database``), and the jobs-file ``timeout`` of scheduled jobs, as the admin and as an app
role.

Each test runs once per flavour (``pgcron_managed`` is parametrized over rds, cloudsql, azure, supabase and
neon). Everything is set up as the customer's admin or app roles; the provider superuser's DSN is used only to
look. Slow: a pushdown to another database starts at the next minute boundary.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import pgcron
import pytest
from pgcron.errors import PermissionDenied
from pgcron.jobsfile import parse_jobs_document
from pgcron.models import JobSpec, RunHandle, RunStatus
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.managed.conftest import (
    APP_ROLES,
    APP_ROLES_SCHEDULE,
    Managed,
    connect,
    eventually,
    rows,
    scalar,
)

pytestmark = [pytest.mark.integration, pytest.mark.managed, pytest.mark.slow]

log = logging.getLogger(__name__)

OTHER_DB = "reach_other"
SCHEDULE_IN_DB = "cron.schedule_in_database(text,text,text,text,text,boolean)"

#: The admin holds EXECUTE on cron.schedule_in_database (the provider grants it to its admin group).
ADMIN_SCHEDULE_IN_DB = {"rds": True, "cloudsql": True, "azure": True, "supabase": True, "neon": False}
#: ... and can pass it on, so ``pgcron schema grant`` gives it to app roles.
APP_SCHEDULE_IN_DB = {"rds": True, "cloudsql": True, "azure": True, "supabase": True, "neon": False}


def _in(dsn: str, database: str) -> str:
    return make_conninfo(dsn, dbname=database)


# ---------------------------------------------------------------- schedule_in_database


def test_schedule_in_database_is_held_where_the_provider_grants_it(managed: Managed) -> None:
    admin = managed.server.admin_role

    def holds(role: str) -> bool:  # asked as the admin: on Neon app roles cannot even name cron's functions
        query = "SELECT has_function_privilege(%s, %s, 'EXECUTE')"
        return bool(scalar(managed.admin, query, (role, SCHEDULE_IN_DB)))

    assert holds(admin) is ADMIN_SCHEDULE_IN_DB[managed.flavour]
    for role in APP_ROLES:
        grant = next(g for g in managed.grants[role].grants if "schedule_in_database" in g.statement)
        assert grant.required is False  # pushdown in pg_cron's own database works without it
        assert (grant.ran, grant.held) == (APP_SCHEDULE_IN_DB[managed.flavour],) * 2, grant
        assert holds(role) is APP_SCHEDULE_IN_DB[managed.flavour]
        if not APP_SCHEDULE_IN_DB[managed.flavour]:  # skipped, with the reason
            assert f"{admin} does not hold EXECUTE on cron.schedule_in_database" in grant.note, grant


# ---------------------------------------------------------------- pushdown to another database


def _other_database(managed: Managed, roles: tuple[str, ...]) -> None:
    """``OTHER_DB``, created by the admin (CREATEDB), with a ledger table of each role in it."""
    with connect(managed.admin) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(OTHER_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(OTHER_DB)))
    with connect(_in(managed.admin, OTHER_DB)) as conn:
        for role in roles:
            if role != managed.server.admin_role:  # the admin owns the database and its public schema
                target = sql.Identifier(role)
                conn.execute(
                    sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(OTHER_DB), target)
                )
                conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(target))
    for role in roles:
        with connect(_in(managed.dsn(role), OTHER_DB)) as conn:
            conn.execute(
                sql.SQL("CREATE TABLE {} (who text, db text)").format(
                    sql.Identifier("public", f"reach_{role}")
                )
            )


def _insert(role: str) -> str:
    table = sql.Identifier("public", f"reach_{role}")
    return sql.SQL("INSERT INTO {} SELECT current_user, current_database()").format(table).as_string(None)


def _count(role: str) -> str:
    table = sql.Identifier("public", f"reach_{role}")
    return sql.SQL("SELECT count(*) FROM {}").format(table).as_string(None)


def test_pushdown_to_another_database_runs_once_as_the_role_and_leaves_nothing_behind(
    managed: Managed,
) -> None:
    admin = managed.server.admin_role
    if not ADMIN_SCHEDULE_IN_DB[managed.flavour]:  # Neon: only the admin can push down, and not there
        _other_database(managed, (admin,))
        with pgcron.Client.connect(managed.admin) as client, pytest.raises(PermissionDenied) as err:
            client.submit(_insert(admin), database=OTHER_DB)
        message = err.value.message
        # refused by the client's preflight, naming the role, the database and the grant to ask for
        assert f"role {admin!r} may not schedule jobs in another database ({OTHER_DB!r})" in message, message
        assert "GRANT EXECUTE ON FUNCTION cron.schedule_in_database(" in message, message
        # refused before anything was created or run
        assert rows(managed.superuser, "SELECT 1 FROM cron.job WHERE database = %s", (OTHER_DB,)) == []
        query = "SELECT 1 FROM pgcron.submission WHERE database = %s"
        assert rows(managed.superuser, query, (OTHER_DB,)) == []
        assert rows(_in(managed.admin, OTHER_DB), _count(admin)) == [(0,)]
        with pgcron.Client.connect(managed.dsn("app_a")) as client, pytest.raises(PermissionDenied) as err:
            client.submit(_insert("app_a"), database=OTHER_DB)  # app roles: no USAGE on cron at all
        assert "USAGE" in err.value.message and "cron" in err.value.message
        with connect(managed.admin) as conn:
            conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(OTHER_DB)))
        assert f'TO "{admin}";' in message, message
        return

    roles = managed.pushdown_roles
    _other_database(managed, roles)
    # One minute boundary for all of them: every role submits first, the last one waits with run_now.
    clients = {role: pgcron.Client.connect(managed.dsn(role)) for role in roles}
    try:
        handles: dict[str, RunHandle] = {}
        for role in roles[:-1]:
            handles[role] = clients[role].submit(_insert(role), database=OTHER_DB)
        last = roles[-1]
        runs = {last: clients[last].run_now(_insert(last), database=OTHER_DB, timeout=200)}
        for role, handle in handles.items():
            runs[role] = clients[role].wait(handle, timeout=100)
        for role in roles:
            assert runs[role].status is RunStatus.SUCCEEDED, (role, runs[role])
        # the same key again re-attaches: nothing runs twice
        again = clients[admin].submit(_insert(admin), database=OTHER_DB, key=handles[admin].key)
        assert again.submission_id == handles[admin].submission_id
    finally:
        for client in clients.values():
            client.close()

    for role in roles:  # exactly once, as that role, in the other database
        table = sql.Identifier("public", f"reach_{role}")
        written = rows(
            _in(managed.dsn(role), OTHER_DB), sql.SQL("SELECT who, db FROM {}").format(table).as_string(None)
        )
        assert written == [(role, OTHER_DB)], (role, written)
    submissions = rows(
        managed.superuser,
        "SELECT s.username, s.top_level,"
        " (SELECT count(*) FROM cron.job_run_details d WHERE d.jobid = s.jobid)"
        " FROM pgcron.submission s WHERE s.database = %s ORDER BY s.id",
        (OTHER_DB,),
    )
    assert sorted(submissions) == sorted((role, True, 1) for role in roles), submissions  # one-shot, one run
    # the engine settles its own record of the admin's run (it sees the admin's run rows everywhere)
    outcome = "SELECT outcome FROM pgcron.submission WHERE id = %s"
    settled = eventually(
        lambda: scalar(managed.superuser, outcome, (handles[admin].submission_id,)), timeout=30
    )
    assert settled == "succeeded"
    log.info(
        "%s: other-database runs %s; the engine's records %s",
        managed.flavour,
        {role: (run.status.value, run.duration) for role, run in runs.items()},
        rows(
            managed.superuser,
            "SELECT username, outcome FROM pgcron.submission WHERE database = %s",
            (OTHER_DB,),
        ),
    )

    def left_behind() -> list[tuple[Any, ...]]:
        for role in roles:  # what each role's next submit does first
            scalar(managed.dsn(role), "SELECT pgcron.tidy_own()")
        return rows(
            managed.superuser,
            "SELECT jobid, jobname, username FROM cron.job"
            " WHERE starts_with(jobname, 'pgcron:run:') AND (username = ANY(%s) OR database = %s)",
            (list(roles), OTHER_DB),
        )

    assert eventually(lambda: left_behind() == [], timeout=40), left_behind()
    with connect(managed.admin) as conn:
        conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(OTHER_DB)))


# ---------------------------------------------------------------- jobs-file timeout of scheduled jobs

TIMEOUT = 3  # seconds; maintenance passes every 5 s
#: After this long past its start a run that was not canceled is taken to go on (2+ maintenance passes).
GRACE = 20.0
#: Whether the engine cancels an app role's scheduled job at its jobs-file timeout (migration 0008). RDS: the
#: admin group sees the role's backend in pg_stat_activity (pg_monitor) and may signal it (pg_signal_backend),
#: though row security hides the run row. Cloud SQL: the admin may signal, but sees neither the run row nor
#: the backend's query. Azure: no apply record (row security hides the job from the engine owner). Supabase:
#: the admin sees the run but may not signal the role's backend. Neon: app roles cannot schedule.
APP_JOB_TIMEOUT_ENFORCED = {"rds": True, "cloudsql": False, "azure": False, "supabase": False}
#: Whether an app role's applied job gets an apply record (where its timeout is kept).
APP_APPLY_RECORD = {"rds": True, "cloudsql": True, "azure": False, "supabase": True}

_ACTIVE = ("starting", "connecting", "sending", "running")


def _jobs_file(namespace: str) -> str:
    return f"""
namespace = "{namespace}"
version = 1

[[jobs]]
name = "sleepy"
schedule = "5 seconds"
command = "SELECT pg_sleep(60)"
timeout = "{TIMEOUT}s"
"""


def _stop_runs(dsn: str, jobid: int) -> bool:
    """Cancel the role's own runs of ``jobid`` that are still going (the job is gone: the engine won't)."""
    active = rows(
        dsn,
        "SELECT job_pid FROM cron.job_run_details WHERE jobid = %s AND status = ANY(%s)",
        (jobid, list(_ACTIVE)),
    )
    for (pid,) in active:
        if pid is not None:
            scalar(dsn, "SELECT pg_cancel_backend(%s)", (pid,))
    return not active


def _applied_job_timeout(managed: Managed, role: str) -> dict[str, Any]:
    """Apply a jobs file with a 3 s ``timeout`` as ``role`` and watch its first run of ``pg_sleep(60)``."""
    dsn = managed.dsn(role)
    namespace = f"reach-{role.replace('_', '')}"
    document = parse_jobs_document(_jobs_file(namespace), fmt="toml")
    assert document.jobs[0].timeout == timedelta(seconds=TIMEOUT)
    with pgcron.Client.connect(dsn) as client:
        result = client.apply(client.plan(document.jobs, namespace=document.namespace))
        jobid = result.jobids[f"{namespace}:sleepy"]
        try:
            record = rows(
                managed.superuser,
                "SELECT username, timeout FROM pgcron.applied_job WHERE jobid = %s",
                (jobid,),
            )
            first = eventually(
                lambda: rows(
                    dsn,
                    "SELECT runid, start_time FROM cron.job_run_details"
                    " WHERE jobid = %s AND job_pid IS NOT NULL ORDER BY runid LIMIT 1",
                    (jobid,),
                ),
                timeout=30,
            )
            assert first, f"job {jobid} of {role} did not start within 30 s"
            runid, started = first[0]
            watched = time.monotonic()
            # what the engine owner (maintenance runs with its rights) can see of this run
            owner_sees = rows(
                managed.admin,
                "SELECT d.job_pid, a.backend_start IS NOT NULL FROM cron.job_run_details d"
                " LEFT JOIN pg_stat_activity a ON a.pid = d.job_pid WHERE d.runid = %s",
                (runid,),
            )

            def ended() -> tuple[Any, ...] | None:
                found = rows(
                    dsn,
                    "SELECT status, return_message, extract(epoch FROM end_time - start_time)::float8"
                    " FROM cron.job_run_details WHERE runid = %s AND status <> ALL(%s)",
                    (runid, list(_ACTIVE)),
                )
                return found[0] if found else None

            outcome = eventually(ended, timeout=GRACE)
            # how long after the run was due to be canceled the last maintenance pass started (maintenance
            # purges its own older run rows, so only the latest ones are left to look at)
            passes = scalar(
                managed.superuser,
                "SELECT extract(epoch FROM max(d.start_time) - %s)::float8"
                " FROM cron.job_run_details d JOIN cron.job j USING (jobid)"
                " WHERE j.jobname = 'pgcron:maintenance'",
                (started + timedelta(seconds=TIMEOUT),),
            )
        finally:
            client.apply(client.plan([], namespace=namespace, prune=True))
            quiet = [False]

            def stopped() -> bool:  # quiet on two polls in a row: no firing was still on its way
                was, quiet[0] = quiet[0], _stop_runs(dsn, jobid)
                return was and quiet[0]

            assert eventually(stopped, timeout=30, every=1.0), f"runs of job {jobid} did not stop"
    return {
        "record": record,
        "owner_sees_run": bool(owner_sees),
        "owner_sees_backend_start": bool(owner_sees and owner_sees[0][1]),
        "outcome": outcome,
        "waited": time.monotonic() - watched,
        "last_pass_after_due": passes,
    }


def _assert_timeout(seen: dict[str, Any], *, enforced: bool) -> None:
    log.info("jobs-file timeout: %s", seen)
    outcome = seen["outcome"]
    if enforced:
        assert outcome is not None, f"the run was not canceled within {GRACE} s of its start: {seen}"
        status, message, duration = outcome
        assert status == "failed" and "canceling statement" in (message or ""), seen
        assert TIMEOUT <= duration < GRACE, seen  # near its timeout, not at the end of pg_sleep(60)
    else:  # the run goes on past its timeout, through maintenance passes
        assert outcome is None, f"the run ended: {seen}"
        assert seen["last_pass_after_due"] >= 5, seen  # at least two passes (every 5 s) since it was due


def test_jobs_file_timeout_of_an_app_roles_job(managed: Managed) -> None:
    if not APP_ROLES_SCHEDULE[
        managed.flavour
    ]:  # Neon: app roles cannot schedule (the admin's test covers it)
        with pgcron.Client.connect(managed.dsn("app_a")) as client, pytest.raises(PermissionDenied) as err:
            document = parse_jobs_document(_jobs_file("reach-appa"), fmt="toml")
            client.apply(client.plan(document.jobs, namespace=document.namespace))
        assert "cron" in err.value.message
        return
    seen = _applied_job_timeout(managed, "app_a")
    expected_record = [("app_a", timedelta(seconds=TIMEOUT))] if APP_APPLY_RECORD[managed.flavour] else []
    assert seen["record"] == expected_record, seen
    _assert_timeout(seen, enforced=APP_JOB_TIMEOUT_ENFORCED[managed.flavour])


def test_jobs_file_timeout_of_the_admins_job(managed: Managed) -> None:
    admin = managed.server.admin_role
    seen = _applied_job_timeout(managed, admin)
    assert seen["record"] == [(admin, timedelta(seconds=TIMEOUT))], seen
    _assert_timeout(seen, enforced=True)


@pytest.mark.parametrize("pgcron_managed", ["rds"], indirect=True)
def test_a_timeout_never_cancels_another_job_with_the_same_command(managed: Managed) -> None:
    """Where row security hides the run rows (RDS, app role), maintenance matches overdue runs by command
    (0008). An applied job with a 3 s timeout, which never fires, and a hand-made job of the same role with
    the same command every 5 s and no timeout: the hand-made job's run goes on past two maintenance passes."""
    dsn = managed.dsn("app_a")
    command = "SELECT pg_sleep(30)"
    guarded = JobSpec("guarded", "0 0 31 2 *", command, timeout=timedelta(seconds=TIMEOUT))
    with pgcron.Client.connect(dsn) as client:
        applied = client.apply(client.plan([guarded], namespace="reach-same"))
        record = rows(
            managed.superuser,
            "SELECT timeout FROM pgcron.applied_job WHERE jobid = %s",
            (applied.jobids["reach-same:guarded"],),
        )
        assert record == [(timedelta(seconds=TIMEOUT),)]  # the timeout is armed for this command
        free = int(scalar(dsn, "SELECT cron.schedule('reach-free', '5 seconds', %s)", (command,)))
        try:
            started = eventually(
                lambda: rows(
                    dsn,
                    "SELECT runid, start_time FROM cron.job_run_details"
                    " WHERE jobid = %s AND status = 'running' AND job_pid IS NOT NULL",
                    (free,),
                ),
                timeout=30,
            )
            assert started, "the hand-made job did not start"
            runid, start = started[0]
            # two maintenance passes (every 5 s) after the guarded job's timeout would have hit this run
            passed = eventually(
                lambda: scalar(
                    managed.superuser,
                    "SELECT count(*) >= 2 FROM cron.job_run_details d JOIN cron.job j USING (jobid)"
                    " WHERE j.jobname = 'pgcron:maintenance' AND d.status = 'succeeded'"
                    " AND d.start_time > %s",
                    (start + timedelta(seconds=TIMEOUT),),
                ),
                timeout=30,
            )
            assert passed, "maintenance did not pass twice"
            status = scalar(dsn, "SELECT status FROM cron.job_run_details WHERE runid = %s", (runid,))
            assert status == "running", f"the hand-made job's run was stopped: {status}"
        finally:
            scalar(dsn, "SELECT cron.unschedule(%s::bigint)", (free,))
            client.apply(client.plan([], namespace="reach-same", prune=True))
            assert eventually(lambda: _stop_runs(dsn, free), timeout=30, every=1.0)
