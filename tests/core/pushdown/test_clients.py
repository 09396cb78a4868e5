"""The pushdown API through the public clients (``AsyncClient`` and the generated ``Client``)."""

from __future__ import annotations

import pgcron
import pytest
from pgcron.models import RunStatus

from .conftest import count, insert_sql

pytestmark = pytest.mark.integration


async def test_async_client_submit_wait_attach_cancel(engine_dsn: str, token: str) -> None:
    async with await pgcron.AsyncClient.connect(engine_dsn) as client:
        handle = await client.submit(insert_sql(token), key=f"k-{token}", timeout=30)
        assert (await client.attach(f"k-{token}")).submission_id == handle.submission_id
        run = await client.wait(handle, timeout=60)
        assert run.status is RunStatus.SUCCEEDED and run.rows == 1
        slow = await client.submit("SELECT pg_sleep(30)")
        await client.cancel(slow)
        assert (await client.wait(slow, timeout=60)).status is RunStatus.CANCELED
    assert count(engine_dsn, token) == 1


def test_sync_client_run_now_failure_carries_the_run(engine_dsn: str) -> None:
    with pgcron.Client.connect(engine_dsn) as client, pytest.raises(pgcron.RunFailed) as info:
        client.run_now("SELECT 1/0")
    run = info.value.run  # type: ignore[attr-defined]
    assert run.status is RunStatus.FAILED and run.message == "ERROR: division by zero"
