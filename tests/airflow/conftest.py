"""Airflow tests run against a scratch ``AIRFLOW_HOME`` so nothing touches a user's Airflow."""

from __future__ import annotations

import os
import tempfile

# Set before anything imports airflow (its config is read at import time).
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="pgcron-airflow-unit-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


# Imported after AIRFLOW_HOME is set above.
import pytest
from pgcron.schema import install

_SERVER_FIXTURES = ("pgcron_dsn", "pgcron_libpq_dsn", "pgcron_both_modes_dsn")
_installed: set[str] = set()


@pytest.fixture(autouse=True)
def _engine_schema(request: pytest.FixtureRequest) -> None:
    """Install the engine schema on every server an Airflow test uses, as a user deploying pgcron would.

    Pushdown needs it; without it a submission is refused (SchemaOutOfDate). The tests of the core install it
    in their own fixtures, but Airflow's run first and must not depend on test order.
    """
    for name in _SERVER_FIXTURES:
        if name in request.fixturenames:
            dsn = request.getfixturevalue(name)
            if dsn not in _installed:
                install(dsn)
                _installed.add(dsn)
