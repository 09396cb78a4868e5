"""Fixtures for client integration tests: clients on the shared servers, and a poller with a deadline."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from pgcron.client import Client

from tests.helpers import wait_for  # noqa: F401 (the tests import them from here)


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
