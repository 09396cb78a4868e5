"""History purge and index against real pg_cron (synthetic rows in cron.job_run_details, as superuser)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from pgcron.client import Client
from pgcron.errors import PermissionDenied
from pgcron.history import INDEX_NAME
from pgcron.jobsfile import parse_duration
from pgcron.models import JobSpec

pytestmark = pytest.mark.integration

_INSERT = (
    "INSERT INTO cron.job_run_details (jobid, runid, job_pid, database, username, command, status,"
    " return_message, start_time, end_time)"
    " SELECT %(jobid)s, nextval('cron.runid_seq'), NULL, 'postgres', 'postgres', 'SELECT 1', %(status)s,"
    " '1 row', CASE WHEN %(started)s THEN now() - %(age)s::interval END,"
    " CASE WHEN %(status)s IN ('succeeded', 'failed') THEN now() - %(age)s::interval END"
    " FROM generate_series(1, %(n)s)"
)


def _insert(
    conn: psycopg.Connection[Any],
    jobid: int,
    n: int,
    age: str,
    status: str = "succeeded",
    started: bool = True,
) -> None:
    conn.execute(_INSERT, {"jobid": jobid, "n": n, "age": age, "status": status, "started": started})


def _two_jobs(conn: psycopg.Connection[Any], namespace: str) -> tuple[int, int]:
    specs = [JobSpec("a", "0 0 31 2 *", "SELECT 1", active=False)]
    Client.connect(conn).apply(Client.connect(conn).plan(specs, namespace=namespace))
    (mine,) = (
        conn.execute("SELECT jobid FROM cron.job WHERE jobname = %s", (f"{namespace}:a",)).fetchone() or ()
    )
    (other,) = (
        conn.execute(
            "SELECT cron.schedule_in_database(%s::text, '0 0 31 2 *', 'SELECT 1',"
            " current_database()::text, NULL, false)",
            (f"{namespace}outside",),
        ).fetchone()
        or ()
    )
    return int(mine), int(other)


def _count(conn: psycopg.Connection[Any], jobid: int) -> int:
    row = conn.execute("SELECT count(*) FROM cron.job_run_details WHERE jobid = %s", (jobid,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.slow
def test_purge_one_million_rows_in_batches(conn: psycopg.Connection[Any], namespace: str) -> None:
    mine, other = _two_jobs(conn, namespace)
    _insert(conn, mine, 1_000_000, "30 days")
    _insert(conn, mine, 7, "40 days", status="connecting", started=False)  # stuck, never started
    _insert(conn, mine, 5, "20 days", status="sending")  # stuck after a restart
    _insert(conn, mine, 100, "1 hour")  # recent: kept
    _insert(conn, other, 50, "30 days")  # outside the namespace: kept
    dry = Client.connect(conn).purge_history(parse_duration("7d"), job_prefix=f"{namespace}:", dry_run=True)
    assert dry.deleted == 1_000_012
    assert _count(conn, mine) == 1_000_112
    seen: list[int] = []
    result = Client.connect(conn).purge_history(
        parse_duration("7d"),
        batch=50_000,
        job_prefix=f"{namespace}:",
        on_batch=lambda n, b: seen.append(n),
    )
    assert result.deleted == 1_000_012
    assert result.batches >= 20 and seen == sorted(seen) and seen[-1] == result.deleted
    assert _count(conn, mine) == 100
    assert _count(conn, other) == 50
    conn.execute("DELETE FROM cron.job_run_details WHERE jobid = %s", (other,))


def test_retention_procedure_purges_the_namespace_only(conn: psycopg.Connection[Any], namespace: str) -> None:
    mine, other = _two_jobs(conn, namespace)
    _insert(conn, mine, 300, "10 days")
    _insert(conn, mine, 3, "1 day")
    _insert(conn, other, 20, "10 days")
    conn.execute("CALL pgcron.purge_history(interval '7 days', 64, %s)", (f"{namespace}:",))
    assert (_count(conn, mine), _count(conn, other)) == (3, 20)
    conn.execute("DELETE FROM cron.job_run_details WHERE jobid = %s", (other,))


def test_purge_requires_autocommit(engine_dsn: str) -> None:
    with psycopg.connect(engine_dsn) as c, pytest.raises(Exception, match="autocommit"):
        Client.connect(c).purge_history(parse_duration("7d"))


def test_index_status_and_create(conn: psycopg.Connection[Any]) -> None:
    before = Client.connect(conn).index_status()
    assert before.can_create  # superuser
    created_here = not before.present
    after = Client.connect(conn).ensure_index()
    assert after.present and after.indexes
    if created_here:
        assert INDEX_NAME in after.indexes
        conn.execute("DROP INDEX CONCURRENTLY cron.pgcron_job_run_details_jobid_runid_idx")
        assert not Client.connect(conn).index_status().present


def test_index_is_reported_not_created_without_ownership(plain_role: tuple[str, str]) -> None:
    _role, dsn = plain_role
    with psycopg.connect(dsn, autocommit=True) as c:
        status = Client.connect(c).index_status()
        assert not status.can_create
        if not status.present:
            with pytest.raises(PermissionDenied, match="owner"):
                Client.connect(c).ensure_index()
