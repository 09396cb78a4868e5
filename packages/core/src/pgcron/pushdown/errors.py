"""The pushdown's own SQLSTATEs (``PGC01``–``PGC03``, raised by the engine functions of migrations 0002 and
0004), translated into the one error hierarchy (``pgcron.errors``); every other error goes through the seam's
translator, so one SQLSTATE always reads the same.
"""

from __future__ import annotations

import psycopg

from pgcron._client_base import translate_error
from pgcron.errors import KeyConflict, PgCronError, SubmissionNotFound, UnknownDatabase

__all__ = ["KeyConflict", "SubmissionNotFound", "UnknownDatabase", "translate"]


def translate(exc: psycopg.Error) -> PgCronError:
    """A specific pgcron error for a psycopg error raised by the pushdown queries."""
    state = exc.sqlstate or ""
    diag = exc.diag.message_primary or str(exc)
    if state in ("PGC01", "PGC02"):
        return KeyConflict(f"{diag}. Use a new key for a different command, or attach(key) to follow it.")
    if state == "PGC03":
        return SubmissionNotFound(diag)
    if state == "3D000":
        return UnknownDatabase(f"{diag}. Pass an existing database to submit(database=...).", sqlstate=state)
    return translate_error(exc)
