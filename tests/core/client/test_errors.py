"""psycopg errors become pgcron.errors at the one seam, with messages that name the fix.

Produced on a real server: a fresh unprivileged role, a database without pg_cron, invalid input.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from pgcron import Client, JobSpec
from pgcron._db import Database
from pgcron.errors import (
    ConnectionFailed,
    ExtensionNotInstalled,
    JobNotFound,
    PermissionDenied,
    ScheduleError,
    WrongDatabase,
)
from psycopg.conninfo import conninfo_to_dict, make_conninfo

pytestmark = pytest.mark.integration


def _as(dsn: str, **changes: str) -> str:
    params = conninfo_to_dict(dsn)
    params.update(changes)
    return make_conninfo(**params)


@pytest.fixture
def plain_role(pgcron_dsn: str) -> Iterator[str]:
    """A LOGIN role with no privilege on schema cron; dropped afterwards."""
    role = f"t_role_{secrets.token_hex(4)}"
    with psycopg.connect(pgcron_dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN").format(psycopg.sql.Identifier(role)))
    yield role
    with psycopg.connect(pgcron_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM cron.job WHERE username = %s", (role,))
        conn.execute(psycopg.sql.SQL("DROP OWNED BY {}").format(psycopg.sql.Identifier(role)))
        conn.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(role)))


def _grant(dsn: str, statement: str, role: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL(statement).format(psycopg.sql.Identifier(role)))  # type: ignore[arg-type]


def test_no_usage_on_schema_cron_names_the_grant(pgcron_dsn: str, plain_role: str) -> None:
    with Client.connect(_as(pgcron_dsn, user=plain_role)) as client, pytest.raises(PermissionDenied) as info:
        client.jobs()
    assert f"GRANT USAGE ON SCHEMA cron TO {plain_role};" in info.value.message


def test_unprivileged_role_gets_capabilities_from_probes(pgcron_dsn: str, plain_role: str) -> None:
    _grant(pgcron_dsn, "GRANT USAGE ON SCHEMA cron TO {}", plain_role)
    with Client.connect(_as(pgcron_dsn, user=plain_role)) as client:
        caps = client.capabilities()
        assert not caps.settings_visible and not caps.is_superuser
        assert caps.execution_mode is None and caps.log_run is None
        assert caps.has_intervals and caps.has_last_day  # the rolled-back probes on 1.6
        assert caps.library_version == "1.6"
        assert caps.notes and "pg_read_all_settings" in caps.notes[0]
        assert caps.notify_trigger_reason is None or "owner" in caps.notify_trigger_reason
        assert client.jobs() == []  # the probes left no job behind


def test_alter_without_grant_names_the_grant(pgcron_dsn: str, plain_role: str, job_prefix: str) -> None:
    _grant(pgcron_dsn, "GRANT USAGE ON SCHEMA cron TO {}", plain_role)
    with Client.connect(_as(pgcron_dsn, user=plain_role)) as client:
        job = client.schedule(JobSpec(name=f"{job_prefix}own", schedule="0 3 * * *", command="SELECT 1"))
        assert job.username == plain_role
        with pytest.raises(PermissionDenied) as info:
            client.alter(job.jobid, schedule="0 4 * * *")
        assert "GRANT EXECUTE ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean)" in (
            info.value.message
        )
        with pytest.raises(PermissionDenied) as info:
            client.schedule(
                JobSpec(
                    name=f"{job_prefix}other", schedule="0 3 * * *", command="SELECT 1", username="postgres"
                )
            )
        assert "schedule_in_database" in info.value.message
        client.unschedule(job.jobid)


def test_database_without_pg_cron(pgcron_dsn: str) -> None:
    with Client.connect(_as(pgcron_dsn, dbname="template1")) as client:
        with pytest.raises(ExtensionNotInstalled) as info:
            client.capabilities()
        assert "'template1'" in info.value.message and "cron.database_name" in info.value.message
        with pytest.raises(ExtensionNotInstalled):
            client.jobs()


def test_unknown_job_and_invalid_schedule_from_the_server(pgcron_dsn: str) -> None:
    with Client.connect(pgcron_dsn) as client:
        db: Database = client.database
        with pytest.raises(JobNotFound, match="could not find valid entry for job"):
            db.fetch_all("unschedule_job", {"jobid": -1})
        # straight to pg_cron, bypassing the client-side check: the server's error is translated too
        with pytest.raises(ScheduleError, match="invalid schedule") as info:
            db.fetch_all("schedule_job", {"name": "never", "schedule": "61 * * * *", "command": "SELECT 1"})
        assert info.value.text == "61 * * * *"


def test_connection_failure() -> None:
    with pytest.raises(ConnectionFailed, match="Check the DSN"):
        Client.connect("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2")


def test_create_extension_outside_cron_database_name_is_wrong_database(pgcron_dsn: str) -> None:
    dbname = f"t_db_{secrets.token_hex(4)}"
    with psycopg.connect(pgcron_dsn, autocommit=True) as admin:
        admin.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(dbname)))
    try:
        db = Database.connect(_as(pgcron_dsn, dbname=dbname))
        try:
            with pytest.raises(WrongDatabase) as info:
                db.execute_script("CREATE EXTENSION pg_cron")
            assert "cron.database_name" in info.value.message and "connect to" in info.value.message
        finally:
            db.close()
    finally:
        with psycopg.connect(pgcron_dsn, autocommit=True) as admin:
            admin.execute(
                psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(psycopg.sql.Identifier(dbname))
            )


def test_capabilities_without_usage_on_cron_fall_back_to_the_package_version(
    pgcron_dsn: str, plain_role: str
) -> None:
    with Client.connect(_as(pgcron_dsn, user=plain_role)) as client:
        caps = client.capabilities()  # the probes cannot run (no USAGE): they must not say "unsupported"
    assert caps.has_intervals and caps.has_last_day
    assert caps.library_version == "1.6"
