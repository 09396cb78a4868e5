"""``pgcron schema grant ROLE``: give a role what it needs to push down and to apply its own namespace.

A role needs ``USAGE`` on the schemas ``cron`` and ``pgcron`` (pushdown, jobs as code, its own history), and
``EXECUTE`` on ``cron.schedule_in_database`` / ``cron.alter_job`` for pushdown to another database and for
jobs that are created inactive or change database or ``active``. pg_cron revokes those two from PUBLIC; they
are granted only where the granting role holds them with the grant option (the provider decides: RDS,
Cloud SQL and Azure give their admin role that; Neon gives nothing it can pass on).

PostgreSQL answers a GRANT the grantor cannot give with a WARNING ("no privileges were granted"), not an
error: every statement is checked afterwards with ``has_*_privilege`` as the role, so the result says what the
role really holds.

``grant_steps`` is the routine (sans-I/O, ``pgcron._steps``): the read-only checks are named queries
(``sql/queries/grants.sql``), the GRANTs are composed with ``psycopg.sql.Identifier``. ``Client.grant_role``
and ``AsyncClient.grant_role`` drive it in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from pgcron._steps import Steps, statement, step
from pgcron.errors import UnknownRole

__all__ = ["Grant", "GrantResult", "grant_steps"]

logger = logging.getLogger(__name__)

_SCHEDULE_IN_DB = "cron.schedule_in_database(text,text,text,text,text,boolean)"
_ALTER_JOB = "cron.alter_job(bigint,text,text,text,text,boolean)"


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


@dataclass(frozen=True, slots=True)
class _Planned:
    statement: sql.Composed
    held: str  # the column of ``grant_held`` that says whether the role holds it
    what: str
    required: bool
    can: bool  # the grantor can give it (else the statement is skipped, with ``cannot`` as the note)
    cannot: str = ""


def _planned(role: str, facts: dict[str, Any]) -> list[_Planned]:
    target = sql.Identifier(role)
    grantor = str(facts["grantor"])
    planned = [
        _Planned(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(facts["database"]), target),
            "connect",
            "connect to the database the jobs run in",
            True,
            True,
        )
    ]
    for schema, what in (
        ("cron", "schedule its own jobs (cron.schedule, cron.unschedule) and read its own runs"),
        ("pgcron", "push down (pgcron.submit) and record its applied jobs"),
    ):
        planned.append(
            _Planned(
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), target),
                schema,
                what,
                True,
                bool(facts[f"{schema}_exists"]),
                f"schema {schema} does not exist"
                + (": install the engine first (`pgcron schema install`)" if schema == "pgcron" else ""),
            )
        )
    for signature, held, what in (
        (
            _SCHEDULE_IN_DB,
            "schedule_in_database",
            "push down to another database; create jobs inactive (jobs as code)",
        ),
        (_ALTER_JOB, "alter_job", "change a job's database or active flag in place (jobs as code)"),
    ):
        planned.append(
            _Planned(
                # The signature is this module's constant, never input: SQL() is right for it.
                sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(signature), target),
                held,
                what,
                False,
                bool(facts[f"grantor_{held}"]),
                f"{grantor} does not hold EXECUTE on {signature.split('(')[0]} with the grant option "
                "(the provider decides; see docs/managed-postgres.md)",
            )
        )
    return planned


def grant_steps(role: str, *, dry_run: bool = False) -> Steps[GrantResult]:
    """Grant ``role`` what pgcron needs, as the connected role; returns every statement and its effect.

    Raises ``UnknownRole`` when ``role`` does not exist. Run it in one transaction (``Client.grant_role``).
    """
    params = {"role": role, "schedule_in_database": _SCHEDULE_IN_DB, "alter_job": _ALTER_JOB}
    facts = (yield step("grant_facts", params))[0]
    if not facts["role_exists"]:
        raise UnknownRole(f"role {role!r} does not exist: create it first (CREATE ROLE … LOGIN)", role=role)
    grantor = str(facts["grantor"])
    planned = _planned(role, facts)
    for grant in planned:
        if grant.can and not dry_run:
            yield statement(grant.statement)
    held = (yield step("grant_held", params))[0]
    cron_owner = facts["cron_owner"]
    grants: list[Grant] = []
    for grant in planned:
        ran = grant.can and not dry_run
        holds = bool(held[grant.held])
        note = "" if grant.can else grant.cannot
        if ran and not holds:
            # PostgreSQL only warns when the grantor lacks the grant option (USAGE on a provider-owned cron
            # schema).
            note = f"ran, but granted nothing: {grantor} cannot pass this privilege on (no grant option)" + (
                f"; schema cron belongs to {cron_owner}, so only roles it grants may schedule (on Neon only "
                "neondb_owner: run pgcron as that role, neon#12891)"
                if grant.held == "cron" and cron_owner
                else ""
            )
        text = grant.statement.as_string(None)
        grants.append(Grant(text, grant.what, grant.required, ran, holds, note))
    if not dry_run:
        logger.info("granted pgcron's privileges to %s (as %s)", role, grantor)
    return GrantResult(role=role, grantor=grantor, grants=tuple(grants))
