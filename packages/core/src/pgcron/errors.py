"""The one error hierarchy of pgcron.

Every error says what went wrong and how to fix it. A class's docstring is its default message, so
``raise JobNotFound()`` is already readable; pass a message to be specific. psycopg errors are
translated into these at the one database seam (``pgcron._db``); integrations translate these at
their own edge (Airflow exceptions, Dagster ``Failure``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgcron.models import Run


class PgCronError(Exception):
    """A pgcron operation failed."""

    def __init__(self, message: str | None = None, **context: Any) -> None:
        self.message = message or (self.__doc__ or type(self).__name__).strip()
        self.context = context
        super().__init__(self.message)


class ConnectionFailed(PgCronError):
    """Could not connect to PostgreSQL. Check the DSN (host, port, user, dbname) and that the server runs."""


class ExtensionNotInstalled(PgCronError):
    """pg_cron is not installed in this database. Add pg_cron to shared_preload_libraries, restart,
    then run CREATE EXTENSION pg_cron in the database named by cron.database_name."""


class WrongDatabase(PgCronError):
    """This is not the database named by cron.database_name. pg_cron keeps its jobs in one database
    per cluster: connect to that database to manage jobs."""


class PermissionDenied(PgCronError):
    """The role lacks a privilege pg_cron needs. Ask an administrator for
    GRANT USAGE ON SCHEMA cron TO <role> (and EXECUTE on schedule_in_database / alter_job where used)."""


class JobNotFound(PgCronError):
    """No pg_cron job with that name or id is visible to this role."""


class ScheduleError(PgCronError, ValueError):
    """The schedule is not valid for pg_cron."""

    def __init__(
        self, message: str | None = None, *, text: str = "", position: int | None = None, **context: Any
    ) -> None:
        self.text = text
        self.position = position
        super().__init__(message, text=text, position=position, **context)


class UnsupportedCommand(PgCronError, ValueError):
    """pg_cron cannot run this command safely."""


class UnsupportedFeature(PgCronError):
    """The connected pg_cron version does not support this feature."""


class SchemaOutOfDate(PgCronError):
    """The pgcron engine schema is missing or older than this library. Run `pgcron schema install`."""


class KeyConflict(PgCronError, ValueError):
    """This submission key was already used for a different command, database or user. Use a new key for a
    different command, or attach(key) to follow the existing submission."""


class SubmissionNotFound(PgCronError, LookupError):
    """No pushdown submission with this key is visible to this role. Check the key (and the role: a role
    sees only its own submissions)."""


class TooManyAttempts(PgCronError):
    """This submission key already has the most attempts pgcron makes (``MAX_ATTEMPTS`` in
    ``pgcron.pushdown.attempts``) and the newest of them failed or was canceled. Fix what makes the SQL
    fail, then run it under a new key (a new DAG run in Airflow, a re-execution in Dagster)."""


class UnknownDatabase(WrongDatabase):
    """The database given to submit(database=...) does not exist on this server. Pass an existing database
    name (see \\l in psql), or omit database= to run in pg_cron's own database."""


class UnknownRole(PgCronError, ValueError):
    """The role to grant to does not exist. Create it first (CREATE ROLE … LOGIN)."""


class ConcurrencyConflict(PgCronError):
    """Another session held what this operation needed (a lock wait timed out, a deadlock, a serialization
    failure). Nothing was changed: retry."""


class RunFailed(PgCronError):
    """The pg_cron run failed. ``run`` is the terminal ``pgcron.models.Run`` (status, message, rows)."""

    def __init__(self, message: str | None = None, *, run: Run | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.run = run


class InvalidCursor(PgCronError, ValueError):
    """This text is not a run cursor written by ``pgcron.runfeed.RunCursor.serialize``. Start a new cursor
    (``RunCursor(watermark=...)``) or restore the text that was saved."""


class RunTimeout(PgCronError):
    """The run did not finish before its deadline."""


class DevServerError(PgCronError):
    """The local development server could not be started."""
