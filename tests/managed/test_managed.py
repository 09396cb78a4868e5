"""The product on every managed flavour, as the customer's admin and as app roles it creates (issue 13).

Each test runs once per flavour (``pgcron_managed`` is parametrized over rds, cloudsql, azure, supabase and
neon).
The provider superuser's DSN is used only to look at what was left behind, never to set anything up.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pgcron
import psycopg
import pytest
from pgcron.client import Client
from pgcron.doctor import Status
from pgcron.errors import PermissionDenied
from pgcron.models import JobSpec, RunStatus
from pgcron.plan import Action
from pgcron.schema import status as schema_status
from psycopg import sql

from tests.managed.conftest import (
    APP_ROLES,
    APP_ROLES_SCHEDULE,
    Managed,
    connect,
    eventually,
    ledger,
    rows,
    scalar,
)

pytestmark = [pytest.mark.integration, pytest.mark.managed]


# ---------------------------------------------------------------- the emulation itself


def test_emulation_has_the_providers_privilege_model(managed: Managed) -> None:
    admin = managed.server.admin_role
    assert scalar(managed.admin, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
    owner = scalar(
        managed.admin, "SELECT extowner::regrole::text FROM pg_extension WHERE extname = 'pg_cron'"
    )
    providers = {"rds": "rdsadmin", "cloudsql": "cloudsqladmin", "azure": "azuresu"}
    providers |= {"supabase": "supabase_admin", "neon": "cloud_admin"}
    assert owner == providers[managed.flavour] != admin
    assert scalar(managed.superuser, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is True
    # the provider superuser is not reachable over TCP, the admin cannot change server settings
    with pytest.raises(psycopg.OperationalError, match=r"pg_hba\.conf rejects"):
        psycopg.connect(managed.server.role_dsn(owner), connect_timeout=5).close()
    with connect(managed.admin) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("ALTER SYSTEM SET cron.max_running_jobs = 100")
    mode = scalar(managed.superuser, "SELECT current_setting('cron.use_background_workers')")
    assert (mode == "on") is managed.server.background_workers
    expected_mode = {"rds": "on", "cloudsql": "on", "azure": "off", "supabase": "off", "neon": "off"}
    assert mode == expected_mode[managed.flavour]
    slots = scalar(managed.superuser, "SELECT current_setting('cron.max_running_jobs')")
    assert (
        slots == {"rds": "5", "cloudsql": "5", "azure": "32", "supabase": "32", "neon": "32"}[managed.flavour]
    )
    if managed.flavour == "supabase":
        privileges = rows(
            managed.admin,
            "SELECT has_table_privilege('cron.job', 'SELECT'), has_table_privilege('cron.job', 'INSERT'),"
            " has_table_privilege('cron.job', 'UPDATE'),"
            " has_table_privilege('cron.job_run_details', 'DELETE'),"
            " has_table_privilege('cron.job_run_details', 'TRIGGER')",
        )
        assert privileges == [(True, False, False, True, False)]
    if managed.flavour == "neon":
        assert scalar(
            managed.admin, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'cron'"
        ) == ("cloud_admin")


# ---------------------------------------------------------------- schema install and grant


def test_schema_installs_without_superuser(managed: Managed) -> None:
    assert managed.installed.up_to_date
    assert managed.installed.maintenance_jobid is not None
    job = rows(
        managed.superuser,
        "SELECT username, active FROM cron.job WHERE jobname = 'pgcron:maintenance'",
    )
    assert job == [(managed.server.admin_role, True)]
    again = schema_status(managed.admin)
    assert again.up_to_date and again.current == again.latest
    # no flavour lets its customer own cron.job_run_details or hold TRIGGER on it: waiters poll
    assert again.notify_trigger is False


def test_schema_grant_gives_app_roles_what_they_need(managed: Managed) -> None:
    for role in APP_ROLES:
        result = managed.grants[role]
        assert result.grantor == managed.server.admin_role
        assert result.ok is APP_ROLES_SCHEDULE[managed.flavour], result.as_dict()
        held = {g.statement.split(" TO ")[0]: g.held for g in result.grants}
        assert held['GRANT USAGE ON SCHEMA "pgcron"'] is True
        assert held['GRANT USAGE ON SCHEMA "cron"'] is APP_ROLES_SCHEDULE[managed.flavour]
        in_db = held["GRANT EXECUTE ON FUNCTION cron.schedule_in_database(text,text,text,text,text,boolean)"]
        assert in_db is (managed.flavour != "neon")
    if managed.flavour == "neon":
        usage = next(g for g in managed.grants["app_a"].grants if '"cron"' in g.statement)
        assert usage.ran and not usage.held and "granted nothing" in usage.note


# ---------------------------------------------------------------- pushdown


def _left_behind(managed: Managed, roles: tuple[str, ...]) -> list[tuple[object, ...]]:
    """Temporary jobs of these roles still in cron.job, and repeat-firing rows beside a submission's run."""
    for role in roles:  # what each role's next submit does first
        scalar(managed.dsn(role), "SELECT pgcron.tidy_own()")
    jobs = rows(
        managed.superuser,
        "SELECT 'job', jobname, username FROM cron.job"
        " WHERE starts_with(jobname, 'pgcron:run:') AND username = ANY(%s)",
        (list(roles),),
    )
    extra = rows(
        managed.superuser,
        "SELECT 'runs', s.id, count(*) FROM pgcron.submission s"
        " JOIN cron.job_run_details d ON d.jobid = s.jobid"
        " WHERE s.username = ANY(%s) AND NOT s.top_level GROUP BY s.id HAVING count(*) > 1",
        (list(roles),),
    )
    return jobs + extra


def test_pushdown_as_each_role_runs_once_and_leaves_nothing_behind(managed: Managed) -> None:
    roles = managed.pushdown_roles
    assert len(roles) >= 1
    for role in roles:
        table = ledger(managed, role)
        command = sql.SQL("INSERT INTO {} (who) SELECT current_user").format(table).as_string(None)
        started = time.monotonic()
        with pgcron.Client.connect(managed.dsn(role)) as client:
            run = client.run_now(command, timeout=60)
        assert run.status is RunStatus.SUCCEEDED, (role, run)
        assert time.monotonic() - started < 20
        assert rows(managed.dsn(role), sql.SQL("SELECT who FROM {}").format(table).as_string(None)) == [
            (role,)
        ]
    assert eventually(lambda: _left_behind(managed, roles) == [], timeout=40), _left_behind(managed, roles)
    outcomes = rows(
        managed.superuser,
        "SELECT username, outcome FROM pgcron.submission WHERE username = ANY(%s) ORDER BY id",
        (list(roles),),
    )
    assert {o for _, o in outcomes} == {"succeeded"}, outcomes


def test_app_role_pushdown_works_or_names_what_the_provider_withholds(managed: Managed) -> None:
    with pgcron.Client.connect(managed.dsn("app_a")) as client:
        if APP_ROLES_SCHEDULE[managed.flavour]:
            assert client.run_now("SELECT 1", timeout=30).status is RunStatus.SUCCEEDED
            return
        with pytest.raises(PermissionDenied) as err:  # Neon: USAGE on cron cannot be passed on
            client.run_now("SELECT 1", timeout=30)
    assert "GRANT USAGE ON SCHEMA cron TO app_a" in err.value.message, err.value.message  # names the role


def test_long_pushdown_of_an_app_role_is_not_taken_for_lost(managed: Managed) -> None:
    """Maintenance passes (every 5 s) while it runs: the engine owner may not see the backend's start."""
    role = managed.pushdown_roles[-1]
    with pgcron.Client.connect(managed.dsn(role)) as client:
        run = client.run_now("SELECT pg_sleep(7)", timeout=60)
    assert run.status is RunStatus.SUCCEEDED, run
    outcome = scalar(
        managed.superuser,
        "SELECT outcome FROM pgcron.submission WHERE username = %s ORDER BY id DESC LIMIT 1",
        (role,),
    )
    assert outcome == "succeeded"


def test_submit_for_another_role_is_refused_without_superuser(managed: Managed) -> None:
    with pgcron.Client.connect(managed.admin) as client, pytest.raises(pgcron.PgCronError) as err:
        client.submit("SELECT 1", username="app_a")
    assert "superuser" in err.value.message


# ---------------------------------------------------------------- jobs as code, history, doctor


def test_plan_apply_prune_of_a_namespace(managed: Managed) -> None:
    role = managed.pushdown_roles[-1]
    namespace = f"mg{role.replace('_', '')}"
    query = "SELECT jobname, jobid FROM cron.job WHERE starts_with(jobname, %s)"
    with pgcron.Client.connect(managed.dsn(role)) as client:
        first = client.plan(
            [JobSpec("a", "0 0 31 2 *", "SELECT 1"), JobSpec("b", "0 3 * * *", "SELECT 2")],
            namespace=namespace,
        )
        assert first.summary()["create"] == 2
        client.apply(first)
        live = dict(rows(managed.dsn(role), query, (f"{namespace}:",)))
        assert set(live) == {f"{namespace}:a", f"{namespace}:b"}
        changed = client.plan(
            [JobSpec("a", "0 1 31 2 *", "SELECT 1"), JobSpec("b", "0 3 * * *", "SELECT 2")],
            namespace=namespace,
        )
        assert [c.name for c in changed.by_action(Action.UPDATE)] == [f"{namespace}:a"]
        client.apply(changed)
        assert dict(rows(managed.dsn(role), query, (f"{namespace}:",))) == live  # in place: same jobids
        prune = client.plan([], namespace=namespace, prune=True)
        assert sorted(c.name for c in prune.by_action(Action.DELETE)) == [f"{namespace}:a", f"{namespace}:b"]
        client.apply(prune)
    assert rows(managed.dsn(role), query, (f"{namespace}:",)) == []


def test_history_purge_as_a_role_deletes_only_its_own_runs(managed: Managed) -> None:
    role = managed.pushdown_roles[-1]
    name = f"mgpurge:{role}"
    others = (
        "SELECT count(*) FROM cron.job_run_details WHERE username <> %s"
        " AND starts_with(command, 'CALL pgcron.execute_submission(')"
    )
    with connect(managed.dsn(role)) as conn:
        conn.execute("SELECT cron.schedule(%s, '1 seconds', 'SELECT 1')", (name,))
        try:
            assert eventually(
                lambda: scalar(
                    managed.dsn(role),
                    "SELECT count(*) >= 3 FROM cron.job_run_details d JOIN cron.job j USING (jobid)"
                    " WHERE j.jobname = %s AND d.status = 'succeeded'",
                    (name,),
                ),
                timeout=20,
            )
            others_before = scalar(managed.superuser, others, (role,))
            time.sleep(1.5)
            result = Client.connect(conn).purge_history(timedelta(seconds=1), job_prefix="mgpurge:")
        finally:
            conn.execute("SELECT cron.unschedule(%s)", (name,))
    assert result.deleted >= 2
    assert scalar(managed.superuser, others, (role,)) == others_before  # other roles' history untouched


def test_doctor_runs_without_superuser_only_settings(managed: Managed) -> None:
    with connect(managed.admin) as conn:
        checks = Client.connect(conn).doctor()
    by_name = {c.name: c for c in checks}
    assert checks, "doctor returned no checks"
    failed = [c.to_dict() for c in checks if c.status is Status.FAIL]
    assert failed == [], failed
    assert all("must be superuser" not in c.detail for c in checks), [c.to_dict() for c in checks]
    timeouts = by_name["timeouts"]  # what maintenance may do to other roles' overdue runs, and the grant
    assert timeouts.status is DOCTOR_TIMEOUTS[managed.flavour], timeouts.to_dict()
    if timeouts.status is Status.WARN:
        missing = "pg_read_all_stats" if managed.flavour == "cloudsql" else "pg_signal_backend"
        assert f"GRANT {missing} TO {managed.server.admin_role}" in timeouts.hint, timeouts.to_dict()


#: Doctor's `timeouts` check as the admin: RDS's admin group holds pg_signal_backend and (pg_monitor)
#: pg_read_all_stats; Cloud SQL's only pg_signal_backend; Azure's, Supabase's and Neon's neither.
DOCTOR_TIMEOUTS = {
    "rds": Status.PASS,
    "cloudsql": Status.WARN,
    "azure": Status.WARN,
    "supabase": Status.WARN,
    "neon": Status.WARN,
}


#: Where maintenance (the admin's rights) may cancel the backend of the role that pushes down: RDS and
#: Cloud SQL give their admin group pg_signal_backend; on Neon only the admin pushes down (it signals itself).
TIMEOUTS_ENFORCED = {"rds": True, "cloudsql": True, "azure": False, "supabase": False, "neon": True}


def test_pushdown_timeout_is_enforced_where_the_admin_may_signal_the_role(managed: Managed) -> None:
    role = managed.pushdown_roles[-1]
    with pgcron.Client.connect(managed.dsn(role)) as client:
        try:
            run = client.run_now("SELECT pg_sleep(12)", timeout=2)
        except pgcron.RunFailed as exc:
            run = exc.run
    outcome = scalar(
        managed.superuser,
        "SELECT outcome FROM pgcron.submission WHERE username = %s ORDER BY id DESC LIMIT 1",
        (role,),
    )
    if TIMEOUTS_ENFORCED[managed.flavour]:
        assert (run.status, outcome) == (RunStatus.FAILED, "timed_out"), run
        assert "timeout" in (run.message or "")
    else:  # degraded: the run goes on to its end (docs/managed-postgres.md)
        assert (run.status, outcome) == (RunStatus.SUCCEEDED, "succeeded"), run
