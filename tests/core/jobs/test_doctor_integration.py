"""Doctor against real pg_cron, as a superuser and as an ordinary role.

The dangerous jobs (a role that no longer exists crash-loops the scheduler; COPY … TO STDOUT hangs it in
libpq mode) are inserted inside a transaction that is rolled back: the launcher only reloads jobs on
committed changes, so the shared server never sees them, while doctor's SQL does.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from pgcron.client import Client
from pgcron.doctor import Status

pytestmark = pytest.mark.integration


def _by_name(checks: list[Any]) -> dict[str, Any]:
    return {c.name: c for c in checks}


def test_superuser_sees_every_check(conn: psycopg.Connection[Any]) -> None:
    checks = _by_name(Client.connect(conn).doctor())
    for name in (
        "preload",
        "extension",
        "launcher",
        "cron.database_name",
        "execution mode",
        "max_running_jobs",
        "log_run",
        "job roles",
        "job commands",
        "history size",
        "history index",
    ):
        assert name in checks
        assert checks[name].status is not Status.SKIP, checks[name]
    assert checks["preload"].status is Status.PASS
    assert checks["launcher"].status is Status.PASS


def test_dropped_role_and_copy_jobs_are_reported(engine_dsn: str, job_prefix: str) -> None:
    with psycopg.connect(engine_dsn) as conn:  # not autocommit: rolled back below
        conn.execute(
            "INSERT INTO cron.job (jobname, schedule, command, username, active) VALUES"
            " (%s, '0 0 31 2 *', 'SELECT 1', 'pgcron_test_dropped_role', false),"
            " (%s, '0 0 31 2 *', 'COPY (SELECT 1) TO STDOUT', current_user, false)",
            (f"{job_prefix}ghost", f"{job_prefix}copy"),
        )
        checks = _by_name(Client.connect(conn).doctor())
        conn.rollback()
    roles, commands = checks["job roles"], checks["job commands"]
    assert roles.status is Status.FAIL
    assert any(f"{job_prefix}ghost" in i and "pgcron_test_dropped_role" in i for i in roles.items)
    assert "DELETE FROM cron.job" in roles.hint
    assert commands.status is Status.FAIL
    assert any(f"{job_prefix}copy" in i for i in commands.items)


def test_ordinary_role_gets_less_detail(plain_role: tuple[str, str]) -> None:
    role, dsn = plain_role
    with psycopg.connect(dsn, autocommit=True) as conn:
        checks = _by_name(Client.connect(conn).doctor())
    assert checks["preload"].status is Status.PASS  # inferred from the installed extension
    assert (
        checks["cron.database_name"].status is Status.PASS
        and "inferred" in checks["cron.database_name"].detail
    )
    assert checks["launcher"].status is Status.SKIP and "pg_read_all_stats" in checks["launcher"].hint
    for name in ("execution mode", "max_running_jobs", "log_run"):
        assert checks[name].status is Status.SKIP and "pg_read_all_settings" in checks[name].hint
    assert checks["privileges"].status is Status.WARN and "alter_job" in checks["privileges"].detail
    assert role in checks["privileges"].hint
    assert "only this role's jobs" in checks["job roles"].detail
