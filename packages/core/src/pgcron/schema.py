"""The engine schema (``pgcron``): forward-only versioned migrations and their version table.

Migrations are the ``pgcron/sql/migrations/NNNN_<slug>.sql`` files, applied in number order; every file that
exists and is not yet recorded in ``pgcron.schema_version`` is pending. Each one runs in its own transaction
under a transaction-level advisory lock, so two installers never interleave, and a failed migration leaves
nothing half-applied. Every migration file is written to be re-runnable (IF NOT EXISTS / OR REPLACE), and the
tests prove that a fresh install and one replayed step by step leave identical catalogs.

Install in the database named by ``cron.database_name``, as the role that should own the engine's objects
(the owner of ``cron.job_run_details`` or a superuser also gets the run-notification trigger).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from pgcron._client_base import translate_error
from pgcron._db import Database
from pgcron._search_path import pinned_search_path
from pgcron.errors import PermissionDenied, PgCronError
from pgcron.sql import Migration, migrations

__all__ = ["AppliedVersion", "SchemaStatus", "catalog", "ensure_maintenance_job", "install", "status"]

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the installer: b"pgcron\0\1" read as a big-endian integer.
ADVISORY_KEY = 0x7067_6372_6F6E_0001

Target = "str | psycopg.Connection[Any] | ConnectionPool[Any] | Database"


@dataclass(frozen=True, slots=True)
class AppliedVersion:
    """One row of ``pgcron.schema_version``."""

    version: int
    name: str
    installed_at: datetime
    installed_by: str


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where the engine schema stands against the migrations shipped with this library."""

    applied: tuple[AppliedVersion, ...]
    available: tuple[Migration, ...] = field(repr=False)
    notify_trigger: bool = False
    #: The jobid of ``pgcron:maintenance`` after ``install`` restored it (None: not checked, or before 0004).
    maintenance_jobid: int | None = None

    @property
    def current(self) -> int | None:
        """Highest applied version, or None when the schema is not installed."""
        return max((a.version for a in self.applied), default=None)

    @property
    def latest(self) -> int:
        """Highest version this library ships."""
        return max((m.version for m in self.available), default=0)

    @property
    def pending(self) -> tuple[Migration, ...]:
        done = {a.version for a in self.applied}
        return tuple(m for m in self.available if m.version not in done)

    @property
    def up_to_date(self) -> bool:
        return not self.pending

    def as_dict(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "latest": self.latest,
            "up_to_date": self.up_to_date,
            "notify_trigger": self.notify_trigger,
            "maintenance_jobid": self.maintenance_jobid,
            "applied": [
                {
                    "version": a.version,
                    "name": a.name,
                    "installed_at": a.installed_at.isoformat(),
                    "installed_by": a.installed_by,
                }
                for a in self.applied
            ],
            "pending": [{"version": m.version, "name": m.name} for m in self.pending],
        }


def _database(target: Any) -> tuple[Database, bool]:
    if isinstance(target, Database):
        return target, False
    db = Database.connect(target)
    return db, isinstance(target, str)


def _applied(db: Database) -> tuple[AppliedVersion, ...]:
    present = db.fetch_one("has_version_table")
    if not present or not present["present"]:
        return ()
    return tuple(
        AppliedVersion(int(r["version"]), r["name"], r["installed_at"], r["installed_by"])
        for r in db.fetch_all("applied_versions")
    )


def _status(db: Database, *, maintenance_jobid: int | None = None) -> SchemaStatus:
    trigger = db.fetch_one("notify_trigger_installed")
    return SchemaStatus(
        applied=_applied(db),
        available=tuple(migrations()),
        notify_trigger=bool(trigger and trigger["installed"]),
        maintenance_jobid=maintenance_jobid,
    )


def status(target: Any) -> SchemaStatus:
    """The applied and pending migrations (reads only)."""
    db, owned = _database(target)
    try:
        return _status(db)
    finally:
        if owned:
            db.close()


def install(target: Any, *, upto: int | None = None) -> SchemaStatus:
    """Apply every pending migration (up to ``upto``), each in its own locked transaction; safe to re-run.

    Then restore the engine job: ``pgcron.ensure_maintenance_job()`` (migration 0004 on) re-creates a deleted
    ``pgcron:maintenance``, re-activates it and resets its schedule, command and role. So re-running install
    repairs an engine job that was unscheduled or altered.
    """
    db, owned = _database(target)
    try:
        # One connection for the whole install, its search_path pinned: the installer is privileged, and a
        # schema on its usual path that another role can write must not shadow a built-in the migrations or
        # these queries call (each migration also qualifies its calls).
        with db.connection() as conn, pinned_search_path(conn):
            for migration in migrations():
                if upto is not None and migration.version > upto:
                    break
                apply_migration(db, migration)
            jobid = ensure_maintenance_job(db)
            return _status(db, maintenance_jobid=jobid)
    except psycopg.Error as exc:  # from pinning or restoring the search_path
        raise translate_error(exc) from exc
    finally:
        if owned:
            db.close()


def ensure_maintenance_job(db: Database) -> int | None:
    """Restore ``pgcron:maintenance`` and return its jobid; None when the schema predates migration 0004.

    Raises ``PermissionDenied`` naming the engine owner when this role may not restore it.
    """
    with db.transaction():
        db.fetch_all("schema_lock", {"key": ADVISORY_KEY})
        state = db.fetch_one("maintenance_job_repair_state")
        if state is None or not state["present"]:
            return None
        if not state["executable"]:
            owner = state["engine_owner"]
            raise PermissionDenied(
                f"only the engine owner ({owner}) or a superuser may restore the engine job "
                f"pgcron:maintenance: connect as {owner} and run `pgcron schema install`",
                engine_owner=owner,
            )
        row = db.fetch_one("ensure_maintenance_job")
    jobid = row["jobid"] if row is not None else None
    logger.info("engine job pgcron:maintenance is jobid %s", jobid)
    return int(jobid) if jobid is not None else None


def apply_migration(db: Database, migration: Migration, *, force: bool = False) -> bool:
    """Apply one migration unless it is recorded (or ``force``); True when it ran."""
    with db.transaction():
        db.fetch_all("schema_lock", {"key": ADVISORY_KEY})
        done = {a.version for a in _applied(db)}
        if migration.version in done and not force:
            return False
        logger.info("applying engine migration %s", migration.name)
        try:
            db.execute_script(migration.sql)
        except PgCronError as exc:
            raise type(exc)(f"migration {migration.name} failed: {exc.message}", **exc.context) from exc
        db.fetch_all("record_version", {"version": migration.version, "name": migration.name})
        return True


def catalog(target: Any) -> list[tuple[str, str, str]]:
    """A canonical listing of the engine schema's objects, for comparing two installs."""
    db, owned = _database(target)
    try:
        return [(r["kind"], r["name"], r["definition"] or "") for r in db.fetch_all("schema_catalog")]
    finally:
        if owned:
            db.close()
