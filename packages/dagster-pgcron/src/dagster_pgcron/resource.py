"""``PgCronResource``: the Dagster resource that hands out the core ``pgcron.Client``.

The resource holds only configuration (a DSN, usually ``dg.EnvVar("PGCRON_DSN")`` so the UI shows the
variable's name, never the secret). Connections are opened per use: sensors get a fresh resource each tick,
and a client's pushdown waiter owns a thread, so nothing long-lived is kept on the resource object.

``PgCronResource.use_client(fake)`` makes every resource in the process hand out a given client instead —
the seam for unit tests with ``pgcron.testing.FakeClient`` (docs/testing.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pgcron
from pydantic import Field

__all__ = ["PgCronResource"]

logger = logging.getLogger(__name__)

# The client PgCronResource.use_client installed (process-wide: Dagster copies resource objects).
_substitute: pgcron.ClientProtocol | None = None


class PgCronResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Connection settings for the database where pg_cron lives (``cron.database_name``).

    Use ``get_client()`` as a context manager to get a connected ``pgcron.Client``; in unit tests,
    ``PgCronResource.use_client(pgcron.testing.FakeClient())`` hands out the fake instead.
    """

    dsn: str = Field(
        description="libpq DSN or URL of the database where pg_cron is installed (cron.database_name). "
        "Pass dg.EnvVar('PGCRON_DSN') to keep credentials out of code and the UI."
    )
    run_timeout_seconds: float | None = Field(
        default=None,
        description="Database-enforced limit for each pushdown run (seconds); None means no limit.",
    )
    wait_timeout_seconds: float | None = Field(
        default=None,
        description="How long a materialization waits for its run before giving up (the run goes on, and "
        "a retry of the Dagster run re-attaches to it). None waits as long as the run takes.",
    )

    def materialize(self, context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult[Any]]:
        """Run the SQL of the selected pushdown assets inside PostgreSQL, once per Dagster run lineage.

        Yields one ``MaterializeResult`` per asset (runid, jobid, duration, message, rows); raises
        ``dg.Failure`` with the run's metadata when a run fails. Use it as the body of ``@pgcron_assets``.
        """
        from dagster_pgcron.materialize import materialize_selected

        with self.get_client() as client:
            yield from materialize_selected(
                context,
                client,
                run_timeout=self.run_timeout_seconds,
                wait_timeout=self.wait_timeout_seconds,
            )

    @staticmethod
    @contextmanager
    def use_client(client: pgcron.ClientProtocol) -> Iterator[None]:
        """Until the block ends, every ``PgCronResource`` in this process hands out ``client`` instead of
        connecting (it is not closed): for unit tests with ``pgcron.testing.FakeClient`` and an in-process
        ``dg.materialize`` or a directly invoked sensor (docs/testing.md)."""
        global _substitute
        previous = _substitute
        _substitute = client
        try:
            yield
        finally:
            _substitute = previous

    @contextmanager
    def get_client(self) -> Iterator[pgcron.ClientProtocol]:
        """A connected ``pgcron.Client``, closed when the block ends (or the client of ``use_client``)."""
        if _substitute is not None:
            yield _substitute
            return
        client = pgcron.Client.connect(self.dsn)
        try:
            yield client
        finally:
            client.close()
