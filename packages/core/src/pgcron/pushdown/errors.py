"""Errors specific to pushdown runs, and the translation of the engine's SQLSTATEs into them.

They subclass the ``pgcron.errors`` hierarchy, so ``except PgCronError`` still catches everything.
"""

from __future__ import annotations

import psycopg

from pgcron.errors import (
    ConnectionFailed,
    PermissionDenied,
    PgCronError,
    SchemaOutOfDate,
    WrongDatabase,
)

__all__ = ["KeyConflict", "SubmissionNotFound", "UnknownDatabase", "translate"]


class KeyConflict(PgCronError, ValueError):
    """This submission key was already used for a different command, database or user. Use a new key for a
    different command, or attach(key) to follow the existing submission."""


class SubmissionNotFound(PgCronError, LookupError):
    """No pushdown submission with this key is visible to this role. Check the key (and the role: a role
    sees only its own submissions)."""


class UnknownDatabase(WrongDatabase):
    """The database given to submit(database=...) does not exist on this server. Pass an existing database
    name (see \\l in psql), or omit database= to run in pg_cron's own database."""


def translate(exc: psycopg.Error) -> PgCronError:
    """A specific pgcron error for a psycopg error raised by the pushdown queries."""
    state = exc.sqlstate or ""
    diag = exc.diag.message_primary or str(exc)
    if state in ("PGC01", "PGC02"):
        return KeyConflict(f"{diag}. Use a new key for a different command, or attach(key) to follow it.")
    if state == "PGC03":
        return SubmissionNotFound(diag)
    if state == "42501":
        return PermissionDenied(
            f"{diag}. The role needs USAGE on schemas cron and pgcron (EXECUTE on cron.schedule_in_database "
            "only for another database or user) "
            "(GRANT USAGE ON SCHEMA cron TO <role>)."
        )
    if state in ("42883", "3F000", "42P01") and "pgcron" in diag:
        return SchemaOutOfDate(f"{diag}. Run `pgcron schema install` in pg_cron's database.")
    if isinstance(exc, psycopg.OperationalError):
        return ConnectionFailed(f"lost the connection to PostgreSQL: {diag}")
    return PgCronError(f"the database refused the pushdown request: {diag}", sqlstate=state)
