"""Fixtures for client integration tests: clients on the shared servers, and a poller with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import psycopg
import pytest
from pgcron.client import Client

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def mode(request: pytest.FixtureRequest) -> str:
    """``bgw`` or ``libpq``: the parameter of ``pgcron_both_modes_dsn``."""
    return str(request.node.callspec.params["pgcron_both_modes_dsn"])


@pytest.fixture
def client(pgcron_both_modes_dsn: str) -> Iterator[Client]:
    with Client.connect(pgcron_both_modes_dsn) as c:
        yield c


@pytest.fixture
def forget_runs(pgcron_both_modes_dsn: str) -> Iterator[list[int]]:
    """Job ids whose run rows are deleted after the test (stuck rows would otherwise stay forever)."""
    jobids: list[int] = []
    yield jobids
    if jobids:
        with psycopg.connect(pgcron_both_modes_dsn, autocommit=True) as conn:
            conn.execute("DELETE FROM cron.job_run_details WHERE jobid = ANY(%s::bigint[])", (jobids,))
