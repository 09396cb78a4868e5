"""A top-level (one-shot) pushdown on every flavour, by an app role where the provider lets app roles use
pg_cron, and by the admin on Neon (where only the admin can). Where the engine owner cannot see the role's
run rows, the client still reports the run, and the role's next submit removes the one-shot job (left
scheduled, the same minute would fire again next year). Slow: a one-shot job starts at the next minute
boundary.
"""

from __future__ import annotations

import pgcron
import pytest
from pgcron.models import RunStatus
from psycopg import sql

from tests.managed.conftest import APP_ROLES_SCHEDULE, Managed, connect, eventually, rows, scalar

pytestmark = [pytest.mark.integration, pytest.mark.managed, pytest.mark.slow]


def test_top_level_pushdown_runs_once_and_leaves_no_job(managed: Managed) -> None:
    role = "app_a" if APP_ROLES_SCHEDULE[managed.flavour] else managed.server.admin_role
    dsn = managed.dsn(role)
    table = sql.Identifier("public", f"toplevel_{role}")
    index = f"toplevel_{role}_x"
    with connect(dsn) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(sql.SQL("CREATE TABLE {} (x int)").format(table))
    # CREATE INDEX CONCURRENTLY cannot run in a transaction block: the engine takes the one-shot path
    statement = sql.SQL("CREATE INDEX CONCURRENTLY {} ON {} (x)").format(sql.Identifier(index), table)
    with pgcron.Client.connect(dsn) as client:
        handle = client.submit(statement.as_string(None))
        run = client.wait(handle, timeout=200)
    assert run.status is RunStatus.SUCCEEDED, run
    made = rows(
        managed.superuser,
        "SELECT s.username, s.top_level, (SELECT tableowner FROM pg_indexes i"
        " JOIN pg_tables t USING (schemaname, tablename) WHERE i.indexname = %s)"
        " FROM pgcron.submission s WHERE s.key = %s",
        (index, handle.key),
    )
    assert made == [(role, True, role)]  # one-shot, submitted as the role, and the index exists

    def gone() -> bool:
        scalar(dsn, "SELECT pgcron.tidy_own()")  # what the role's next submit does first
        return not rows(
            managed.superuser,
            "SELECT 1 FROM cron.job WHERE username = %s AND starts_with(jobname, 'pgcron:run:')",
            (role,),
        )

    assert eventually(gone, timeout=30)
