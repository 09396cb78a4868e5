"""``client.run(runid)`` of a pushdown's claimed run reports what ``wait()`` reported (issue 12, item 3)."""

from __future__ import annotations

import pgcron
import pytest
from pgcron.models import RunStatus

from .conftest import insert_sql

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("command", "status"),
    [
        ("SELECT 1", RunStatus.SUCCEEDED),
        ("INSERT_ONE", RunStatus.SUCCEEDED),
        ("SELECT 1/0", RunStatus.FAILED),
    ],
)
async def test_async_run_of_claimed_run_matches_wait(
    engine_dsn: str, token: str, command: str, status: RunStatus
) -> None:
    sql_text = insert_sql(token) if command == "INSERT_ONE" else command
    async with await pgcron.AsyncClient.connect(engine_dsn) as client:
        handle = await client.submit(sql_text)
        waited = await client.wait(handle, timeout=60)
        assert waited.status is status and waited.runid
        seen = await client.run(waited.runid)
    assert (seen.status, seen.message, seen.rows) == (waited.status, waited.message, waited.rows)


@pytest.mark.parametrize(
    ("command", "status"), [("SELECT 1", RunStatus.SUCCEEDED), ("SELECT 1/0", RunStatus.FAILED)]
)
def test_sync_run_of_claimed_run_matches_wait(engine_dsn: str, command: str, status: RunStatus) -> None:
    with pgcron.Client.connect(engine_dsn) as client:
        handle = client.submit(command)
        waited = client.wait(handle, timeout=60)
        assert waited.status is status and waited.runid
        seen = client.run(waited.runid)
    assert (seen.status, seen.message, seen.rows) == (waited.status, waited.message, waited.rows)
