"""``pgcron.grants.grant_steps`` without a database: what runs, what is skipped, and the notes."""

from __future__ import annotations

from typing import Any

import pytest
from pgcron import UnknownRole
from pgcron._steps import run_steps
from pgcron.grants import GrantResult, grant_steps
from psycopg import sql

FACTS = {
    "role_exists": True,
    "grantor": "admin",
    "database": "postgres",
    "cron_exists": True,
    "pgcron_exists": True,
    "grantor_schedule_in_database": False,
    "grantor_alter_job": True,
    "cron_owner": "provider",
}
HELD = {"connect": True, "cron": False, "pgcron": True, "schedule_in_database": False, "alter_job": True}


def _grant(dry_run: bool = False, **facts: Any) -> tuple[GrantResult, list[str]]:
    ran: list[str] = []

    def fetch(query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        assert params["role"] == "app"
        return [{**FACTS, **facts}] if query == "grant_facts" else [HELD]

    def execute(statement: sql.Composed) -> None:
        ran.append(statement.as_string(None))

    return run_steps(grant_steps("app", dry_run=dry_run), fetch, execute), ran


def test_grants_what_the_grantor_can_give_and_says_what_came_of_it() -> None:
    result, ran = _grant()
    assert [g.statement for g in result.grants] == [
        'GRANT CONNECT ON DATABASE "postgres" TO "app"',
        'GRANT USAGE ON SCHEMA "cron" TO "app"',
        'GRANT USAGE ON SCHEMA "pgcron" TO "app"',
        'GRANT EXECUTE ON FUNCTION cron.schedule_in_database(text,text,text,text,text,boolean) TO "app"',
        'GRANT EXECUTE ON FUNCTION cron.alter_job(bigint,text,text,text,text,boolean) TO "app"',
    ]
    assert ran == [g.statement for g in result.grants if g.ran]
    assert [g.ran for g in result.grants] == [True, True, True, False, True]
    usage = result.grants[1]
    assert not usage.held and "granted nothing" in usage.note and "provider" in usage.note
    assert "grant option" in result.grants[3].note
    assert not result.ok  # USAGE on cron is required


def test_a_dry_run_runs_nothing_and_a_missing_role_is_refused() -> None:
    result, ran = _grant(dry_run=True)
    assert ran == [] and not any(g.ran for g in result.grants)
    assert result.grants[1].note == ""
    with pytest.raises(UnknownRole, match="does not exist"):
        _grant(role_exists=False)


def test_a_missing_engine_schema_is_skipped_with_the_fix() -> None:
    result, ran = _grant(pgcron_exists=False)
    assert 'GRANT USAGE ON SCHEMA "pgcron" TO "app"' not in ran
    assert "pgcron schema install" in result.grants[2].note
