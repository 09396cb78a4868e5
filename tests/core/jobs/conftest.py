"""Fixtures for the jobs-as-code, history, audit and doctor tests: the engine schema, a namespace per test
(inside the plugin's job_prefix, so its teardown unschedules every job), and cleanup of what the tests add
to the apply record and to cron.job_run_details."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pgcron.schema import install


@pytest.fixture(scope="session")
def engine_dsn(pgcron_dsn: str) -> str:
    install(pgcron_dsn)  # idempotent: the way users install it
    return pgcron_dsn


@pytest.fixture
def conn(engine_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(engine_dsn, autocommit=True) as c:
        yield c


@pytest.fixture
def namespace(engine_dsn: str, job_prefix: str) -> Iterator[str]:
    """A namespace whose jobs ('<ns>:<name>') start with job_prefix; records and runs are removed after."""
    ns = job_prefix  # 't_<hex>_' is a valid namespace
    yield ns
    with psycopg.connect(engine_dsn, autocommit=True) as c:
        c.execute(
            "DELETE FROM cron.job_run_details d USING cron.job j"
            " WHERE d.jobid = j.jobid AND starts_with(j.jobname, %s)",
            (job_prefix,),
        )
        c.execute("DELETE FROM pgcron.applied_job WHERE starts_with(jobname, %s)", (job_prefix,))
        # The timeout watchdog is only wanted while some applied job declares a timeout.
        c.execute(
            "SELECT cron.unschedule(j.jobid) FROM cron.job j WHERE j.jobname = 'pgcron:job-timeouts'"
            " AND j.username = current_user"
            " AND NOT EXISTS (SELECT 1 FROM pgcron.applied_job a WHERE a.spec ? 'timeout_seconds')"
        )


@pytest.fixture
def plain_role(engine_dsn: str) -> Iterator[tuple[str, str]]:
    """A LOGIN role without superuser, with USAGE on schema cron (what an administrator grants).

    Its jobs are deleted BEFORE the role is dropped: a job whose role no longer exists crash-loops the
    shared server's scheduler (facts §8.4).
    """
    role = f"t_role_{secrets.token_hex(4)}"
    with psycopg.connect(engine_dsn, autocommit=True) as c:
        c.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN").format(psycopg.sql.Identifier(role)))
        c.execute(psycopg.sql.SQL("GRANT USAGE ON SCHEMA cron TO {}").format(psycopg.sql.Identifier(role)))
    dsn = psycopg.conninfo.make_conninfo(engine_dsn, user=role)
    try:
        yield role, dsn
    finally:
        with psycopg.connect(engine_dsn, autocommit=True) as c:
            c.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE username = %s", (role,))
            c.execute("DELETE FROM cron.job_run_details WHERE username = %s", (role,))
            c.execute("DELETE FROM pgcron.applied_job WHERE username = %s OR applied_by = %s", (role, role))
            assert c.execute("SELECT count(*) FROM cron.job WHERE username = %s", (role,)).fetchone() == (0,)
            ident = psycopg.sql.Identifier(role)
            c.execute(psycopg.sql.SQL("DROP OWNED BY {}").format(ident))
            c.execute(psycopg.sql.SQL("DROP ROLE {}").format(ident))
