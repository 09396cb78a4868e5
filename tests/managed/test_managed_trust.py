"""Migration 0005's trust rules on a managed flavour: a reported job id and tidy_own hand no role power over
another role's jobs (ADR 0005). On Azure the engine owner sees only its own jobs, so a job id a caller
reports is taken on its word. On RDS the admin group sees every job, so the engine can check the id.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.managed.conftest import Managed, connect, rows, scalar

pytestmark = [pytest.mark.integration, pytest.mark.managed]
FLAVOURS = pytest.mark.parametrize("pgcron_managed", ["azure", "rds"], indirect=True)


def _victim_job(managed: Managed, name: str) -> int:
    with connect(managed.dsn("app_a")) as conn:
        row = conn.execute("SELECT cron.schedule(%s, '0 0 31 2 *', 'SELECT 1')", (name,)).fetchone()
    assert row is not None
    return int(row[0])


def _job(managed: Managed, jobid: int) -> list[tuple[object, ...]]:
    query = "SELECT jobname, username, active FROM cron.job WHERE jobid = %s"
    return rows(managed.superuser, query, (jobid,))


@FLAVOURS
def test_a_reported_job_id_of_another_role_gives_no_power_over_it(managed: Managed) -> None:
    victim = _victim_job(managed, "victim:keep")
    before = _job(managed, victim)
    forged = []
    for top_level in (False, True):
        with connect(managed.dsn("app_b"), autocommit=False) as conn:
            opened = conn.execute(
                "SELECT id FROM pgcron._submission_open('app_b', 'SELECT 1', NULL, NULL, NULL, NULL, %s)",
                (top_level,),
            ).fetchone()
            assert opened is not None
            try:
                conn.execute("SELECT pgcron._submission_bind('app_b', %s, %s)", (opened[0], victim))
            except psycopg.Error as exc:
                # RDS: the engine sees the job and refuses the id, because the job is not this submission's
                assert managed.flavour == "rds" and "not created as planned" in str(exc)
                conn.rollback()
                continue
            conn.commit()
            forged.append(opened[0])
            assert scalar(managed.dsn("app_b"), "SELECT pgcron.cancel_submission(%s)", (opened[0],)) in (
                "not_started",
                "finished",
            )
    assert (managed.flavour == "azure") is bool(forged)
    if forged:
        query = "SELECT jobid, jobid_reported FROM pgcron.submission WHERE id = ANY(%s)"
        flags = rows(managed.superuser, query, (forged,))
        assert all(row == (victim, True) for row in flags), flags
    scalar(managed.dsn("app_b"), "SELECT pgcron.tidy_own()")
    with connect(managed.admin) as conn:  # a maintenance pass, as the engine job runs it
        conn.execute("CALL pgcron.maintenance()")
    assert _job(managed, victim) == before == [("victim:keep", "app_a", True)]
    scalar(managed.dsn("app_a"), "SELECT cron.unschedule(%s::bigint)", (victim,))


@FLAVOURS
def test_tidy_own_never_touches_another_roles_jobs(managed: Managed) -> None:
    victim = _victim_job(managed, "pgcron:run:999999")  # a temporary-job name without a submission
    scalar(managed.dsn("app_b"), "SELECT pgcron.tidy_own()")
    assert _job(managed, victim) == [("pgcron:run:999999", "app_a", True)]
    # The owner's own tidy removes it: a pgcron:run:<id> job whose submission is gone is an orphan.
    assert scalar(managed.dsn("app_a"), "SELECT pgcron.tidy_own()") >= 1
    assert _job(managed, victim) == []
