"""Test support for pgcron users and for pgcron's own tests.

* ``FakeClient`` / ``AsyncFakeClient``: in-memory stand-ins for ``pgcron.Client`` / ``pgcron.AsyncClient``
  for unit tests without a database (docs/testing.md). Importing them needs no pytest.
* ``pgcron.testing.plugin``: the pytest plugin with real PostgreSQL + pg_cron servers (``pgcron_dsn``, …).
"""

from pgcron.testing.fakes import T0, AsyncFakeClient, FakeClient

__all__ = ["T0", "AsyncFakeClient", "FakeClient"]
