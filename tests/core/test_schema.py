"""Engine schema: forward-only migrations, idempotent install, and fresh install == replayed migrations.

The catalog comparisons run inside one transaction that is rolled back, so the shared server keeps whatever
engine schema it had (the locks last about a second).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from pgcron import Client, JobSpec, schema
from pgcron._db import Database
from pgcron.cli import main
from pgcron.sql import migrations, parse_queries

RESET = (
    "DROP SCHEMA IF EXISTS pgcron CASCADE; DROP TRIGGER IF EXISTS pgcron_run_notify ON cron.job_run_details;"
)
RESET_JOBS = (
    "DELETE FROM cron.job WHERE starts_with(jobname, 'pgcron:') AND NOT starts_with(jobname, 'pgcron:run:')"
)


def test_migration_files_are_numbered_without_gaps() -> None:
    found = migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "0001_engine_schema"
    for migration in found:
        assert re.fullmatch(r"\d{4}_[a-z0-9_]+", migration.name)


def test_named_query_parser() -> None:
    text = "-- name: a\nSELECT 1;\n\n-- name: b\n-- a comment\nSELECT 2;\n"
    assert parse_queries(text) == {"a": "SELECT 1;", "b": "-- a comment\nSELECT 2;"}
    with pytest.raises(ValueError, match="twice"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;")
    with pytest.raises(ValueError, match="no '-- name"):
        parse_queries("SELECT 1;")


@pytest.fixture
def rolled_back(pgcron_dsn: str) -> Iterator[Database]:
    """A seam whose every statement runs in one transaction that is rolled back at the end."""
    conn = psycopg.connect(pgcron_dsn, autocommit=True)
    db = Database.connect(conn)
    try:
        with db.transaction(force_rollback=True):
            yield db
    finally:
        conn.close()


def _reset(db: Database) -> None:
    with db.connection() as conn:
        # DROP SCHEMA locks every engine object in turn; a job backend of an earlier test may still be
        # finishing its submission (it locks the table, then an index). Let that side lose any deadlock.
        conn.execute("SET LOCAL deadlock_timeout = '60s'")
        conn.execute(RESET)
        conn.execute(RESET_JOBS)


@pytest.mark.integration
def test_fresh_install_equals_replayed_migrations(rolled_back: Database) -> None:
    db = rolled_back
    with db.transaction(force_rollback=True):
        _reset(db)
        fresh_status = schema.install(db)
        fresh = schema.catalog(db)
    assert fresh_status.up_to_date and fresh_status.current == fresh_status.latest
    assert fresh_status.notify_trigger  # superuser: the trigger is created

    with db.transaction(force_rollback=True):
        _reset(db)
        # One upgrade at a time, as a server that followed every release would have seen them; each
        # migration is also replayed a second time (forced), which must change nothing.
        for migration in migrations():
            schema.install(db, upto=migration.version)
            assert schema.apply_migration(db, migration, force=True)
        replayed = schema.catalog(db)
        again = schema.install(db)
        assert schema.catalog(db) == replayed
    assert again.current == fresh_status.current

    assert replayed == fresh
    kinds = {kind for kind, _, _ in fresh}
    assert {"schema", "relation", "column", "function", "trigger"} <= kinds
    assert ("relation", "schema_version") in {(k, n) for k, n, _ in fresh}


@pytest.mark.integration
def test_install_records_every_version_once_and_is_idempotent(rolled_back: Database) -> None:
    db = rolled_back
    _reset(db)
    assert schema.status(db).current is None
    first = schema.install(db)
    second = schema.install(db)
    assert [a.version for a in second.applied] == [m.version for m in migrations()]
    assert second.applied == first.applied  # nothing re-applied
    assert second.pending == ()


@pytest.mark.integration
def test_partial_install_reports_pending(rolled_back: Database) -> None:
    db = rolled_back
    _reset(db)
    status = schema.install(db, upto=1)
    assert status.current == 1
    assert [m.version for m in status.pending] == [m.version for m in migrations()][1:]
    assert not status.up_to_date or len(migrations()) == 1


@pytest.mark.integration
def test_notify_trigger_reports_the_launchers_status_changes(
    pgcron_both_modes_dsn: str, job_prefix: str
) -> None:
    schema.install(pgcron_both_modes_dsn)  # idempotent; creates the trigger (we are superuser)
    with Client.connect(pgcron_both_modes_dsn) as client:
        caps = client.capabilities()
        assert caps.notify_trigger and caps.notify_trigger_reason is None
        with psycopg.connect(pgcron_both_modes_dsn, autocommit=True) as listener:
            # Each role's runs go to that role's own channel (migration 0004).
            row = listener.execute("SELECT pgcron.run_channel()").fetchone()
            assert row is not None and row[0].startswith("pgcron_run_") and len(row[0]) > 40
            channel = row[0]
            listener.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel)))
            job = client.schedule(
                JobSpec(name=f"{job_prefix}notify", schedule="1 seconds", command="SELECT 1")
            )
            statuses: list[str] = []
            deadline = time.monotonic() + 30
            while "succeeded" not in statuses and time.monotonic() < deadline:
                for note in listener.notifies(timeout=1.0, stop_after=1):
                    payload = json.loads(note.payload)
                    assert note.channel == channel
                    assert set(payload) == {"runid", "jobid", "status"}
                    if payload["jobid"] == job.jobid:
                        statuses.append(payload["status"])
            client.unschedule(job.jobid)
    assert statuses[0] == "starting"  # the INSERT
    assert "succeeded" in statuses


@pytest.mark.integration
def test_cli_schema_status_and_install(pgcron_dsn: str) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["schema", "install", "--dsn", pgcron_dsn, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["up_to_date"] is True and data["current"] == data["latest"] == migrations()[-1].version
    assert data["notify_trigger"] is True
    result = runner.invoke(main, ["schema", "status"], env={"PGCRON_DSN": pgcron_dsn})
    assert result.exit_code == 0, result.output
    assert "0001_engine_schema" in result.output and "applied" in result.output


def test_migrations_use_no_client_side_formatting() -> None:
    root = Path(schema.__file__).parent / "sql" / "migrations"
    for path in root.glob("*.sql"):
        assert "%(" not in path.read_text(), f"{path.name}: migrations are run without parameters"
