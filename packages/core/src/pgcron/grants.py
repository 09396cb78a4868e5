"""``pgcron schema grant ROLE``: give a role what it needs to push down and to apply its own namespace.

A role needs ``USAGE`` on the schemas ``cron`` and ``pgcron`` (pushdown, jobs as code, its own history), and
``EXECUTE`` on ``cron.schedule_in_database`` / ``cron.alter_job`` for pushdown to another database and for
jobs that are created inactive or change database or ``active``. pg_cron revokes those two from PUBLIC; they
are granted only where the granting role holds them with the grant option (the provider decides: RDS,
Cloud SQL and Azure give their admin role that; Neon gives nothing it can pass on).

PostgreSQL answers a GRANT the grantor cannot give with a WARNING ("no privileges were granted"), not an
error: every statement is checked afterwards with ``has_*_privilege`` as the role, so the result says what the
role really holds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from pgcron._client_base import translate_error
from pgcron.errors import PgCronError

__all__ = ["Grant", "GrantResult", "grant_role"]

logger = logging.getLogger(__name__)

_SCHEDULE_IN_DB = "cron.schedule_in_database(text,text,text,text,text,boolean)"
_ALTER_JOB = "cron.alter_job(bigint,text,text,text,text,boolean)"


class UnknownRole(PgCronError, ValueError):
    """The role to grant to does not exist."""


@dataclass(frozen=True, slots=True)
class Grant:
    """One statement and what came of it."""

    statement: str
    what: str  # what the privilege is for
    required: bool  # pushdown in cron.database_name needs it
    ran: bool  # False: skipped (the grantor cannot give it), or dry run
    held: bool  # the role holds the privilege afterwards
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "statement": self.statement,
            "what": self.what,
            "required": self.required,
            "ran": self.ran,
            "held": self.held,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class GrantResult:
    role: str
    grantor: str
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """The role can push down and apply its own namespace in this database."""
        return all(g.held for g in self.grants if g.required)

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "grantor": self.grantor,
            "ok": self.ok,
            "grants": [g.as_dict() for g in self.grants],
        }


def _one(conn: psycopg.Connection[Any], query: sql.SQL, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def _schema_held(conn: psycopg.Connection[Any], role: str, schema: str) -> bool:
    return bool(
        _one(
            conn,
            sql.SQL("SELECT to_regnamespace(%s) IS NOT NULL AND has_schema_privilege(%s, %s, 'USAGE')"),
            (schema, role, schema),
        )
    )


def _function_held(conn: psycopg.Connection[Any], role: str, signature: str, option: bool = False) -> bool:
    privilege = "EXECUTE WITH GRANT OPTION" if option else "EXECUTE"
    return bool(
        _one(
            conn,
            sql.SQL(
                "SELECT to_regprocedure(%s) IS NOT NULL AND has_function_privilege(%s, %s::regprocedure, %s)"
            ),
            (signature, role, signature, privilege),
        )
    )


def grant_role(conn: psycopg.Connection[Any], role: str, *, dry_run: bool = False) -> GrantResult:
    """Grant ``role`` what pgcron needs, as the connected role; returns every statement and its effect."""
    try:
        with conn.transaction():
            return _grant(conn, role, dry_run)
    except psycopg.Error as exc:
        raise translate_error(exc, role=conn.info.user) from exc


def _grant(conn: psycopg.Connection[Any], role: str, dry_run: bool) -> GrantResult:
    if not _one(
        conn, sql.SQL("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s)"), (role,)
    ):
        raise UnknownRole(f"role {role!r} does not exist: create it first (CREATE ROLE … LOGIN)", role=role)
    grantor = str(_one(conn, sql.SQL("SELECT current_user")))
    target = sql.Identifier(role)
    results: list[Grant] = []

    def run(statement: sql.Composed, what: str, required: bool, can: bool, held: Any, cannot: str) -> None:
        text = statement.as_string(conn)
        ran = False
        note = ""
        if not can:
            note = cannot
        elif not dry_run:
            conn.execute(statement)
            ran = True
        results.append(Grant(text, what, required, ran, bool(held()), note))

    database = str(_one(conn, sql.SQL("SELECT current_database()")))
    run(
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), target),
        "connect to the database the jobs run in",
        True,
        True,
        lambda: _one(
            conn, sql.SQL("SELECT has_database_privilege(%s, current_database(), 'CONNECT')"), (role,)
        ),
        "",
    )
    for schema, what in (
        ("cron", "schedule its own jobs (cron.schedule, cron.unschedule) and read its own runs"),
        ("pgcron", "push down (pgcron.submit) and record its applied jobs"),
    ):
        exists = bool(_one(conn, sql.SQL("SELECT to_regnamespace(%s) IS NOT NULL"), (schema,)))
        run(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), target),
            what,
            True,
            exists,
            lambda schema=schema: _schema_held(conn, role, schema),
            f"schema {schema} does not exist"
            + (": install the engine first (`pgcron schema install`)" if schema == "pgcron" else ""),
        )
    for signature, what in (
        (_SCHEDULE_IN_DB, "push down to another database; create jobs inactive (jobs as code)"),
        (_ALTER_JOB, "change a job's database or active flag in place (jobs as code)"),
    ):
        can = _function_held(conn, grantor, signature, option=True)
        run(
            sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(signature), target),
            what,
            False,
            can,
            lambda signature=signature: _function_held(conn, role, signature),
            f"{grantor} does not hold EXECUTE on {signature.split('(')[0]} with the grant option "
            "(the provider decides; see docs/managed-postgres.md)",
        )
    cron_owner = _one(
        conn, sql.SQL("SELECT nspowner::regrole::text FROM pg_catalog.pg_namespace WHERE nspname = 'cron'")
    )
    # PostgreSQL only warns when the grantor lacks the grant option (USAGE on a provider-owned cron schema).
    final = [
        g
        if g.held or not g.ran
        else Grant(
            g.statement,
            g.what,
            g.required,
            g.ran,
            g.held,
            f"ran, but granted nothing: {grantor} cannot pass this privilege on (no grant option)"
            + (
                f"; schema cron belongs to {cron_owner}, so only roles it grants may schedule (on Neon only "
                "neondb_owner: run pgcron as that role, neon#12891)"
                if '"cron"' in g.statement and cron_owner
                else ""
            ),
        )
        for g in results
    ]
    logger.info("granted pgcron's privileges to %s (as %s)", role, grantor)
    return GrantResult(role=role, grantor=grantor, grants=tuple(final))
