"""pytest plugin: real PostgreSQL + pg_cron servers for tests (see docs/adr/0001).

Bootstrap version: servers come from environment variables only. The dev-server chain replaces this.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest

_ENV = {"bgw": "PGCRON_DSN", "libpq": "PGCRON_LIBPQ_DSN", "14": "PGCRON_14_DSN"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a PostgreSQL server with pg_cron")
    config.addinivalue_line("markers", "acceptance: drives the real CLI, Airflow or Dagster against pg_cron")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def _dsn(flavour: str) -> str:
    dsn = os.environ.get(_ENV[flavour])
    if not dsn:
        pytest.fail(f"no pg_cron server for flavour {flavour!r}: set {_ENV[flavour]}")
    return dsn


_used: set[str] = set()


@pytest.fixture(scope="session")
def pgcron_dsn() -> str:
    dsn = _dsn("bgw")
    _used.add(dsn)
    return dsn


@pytest.fixture(scope="session")
def pgcron_libpq_dsn() -> str:
    dsn = _dsn("libpq")
    _used.add(dsn)
    return dsn


@pytest.fixture(scope="session", params=["bgw", "libpq"])
def pgcron_both_modes_dsn(request: pytest.FixtureRequest) -> str:
    dsn = _dsn(request.param)
    _used.add(dsn)
    return dsn


@pytest.fixture(scope="session")
def pgcron_14_dsn() -> str:
    dsn = _dsn("14")
    _used.add(dsn)
    return dsn


@pytest.fixture
def job_prefix() -> Iterator[str]:
    prefix = f"t_{secrets.token_hex(4)}_"
    yield prefix
    for dsn in list(_used):
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT jobid FROM cron.job WHERE starts_with(jobname, %s)", (prefix,)
            ).fetchall()
            for (jobid,) in rows:
                conn.execute("SELECT cron.unschedule(%s::bigint)", (jobid,))
