"""Method (a): run the job's SQL inside PostgreSQL through pgcron's pushdown (``Client.run_now``).

The caller keeps one :class:`InDatabase` open across runs, as a scheduler process would keep its client, so
connection set-up is not charged to any run (the app-tier service gets the same treatment). The engine
schema that the pushdown needs is installed (or found current) once, before measuring, over a direct
connection that the wire proxy does not count.

Two paths (ADR 0006): with ``lane=False`` the client's session sets ``pgcron.lanes = off``, so every run is
pg_cron's per-submission job (1-2 s to start); with ``lane=True`` a run goes to the role's warm lane
(:class:`Lane`) when one of its workers is live. Each result says which path ran it (``via``).
"""

from __future__ import annotations

import logging
from typing import Any

import pgcron
from pgcron import schema
from psycopg.conninfo import make_conninfo

logger = logging.getLogger(__name__)

PATH = "pgcron.Client.run_now"
NO_LANE = "-c pgcron.lanes=off"  # libpq options: the session keeps the per-submission job path


class InDatabase:
    """Runs SQL inside the database, exactly once per call, and reports the affected row count."""

    def __init__(self, dsn: str, *, install_dsn: str, lane: bool = False) -> None:
        status = schema.install(install_dsn)
        logger.info("pgcron engine schema at version %d", status.applied[-1].version)
        self.path = PATH
        self._client = pgcron.Client.connect(dsn if lane else make_conninfo(dsn, options=NO_LANE))

    def run(self, sql: str, timeout: float) -> dict[str, Any]:
        run = self._client.run_now(sql, timeout=timeout)
        duration = run.duration.total_seconds() if run.duration is not None else None
        return {
            "rows": run.rows,
            "runid": run.runid,
            "status": run.status.value,
            "server_s": duration,
            "via": run.via,
        }

    def close(self) -> None:
        self._client.close()


class Lane:
    """A warm lane of the DSN's role (``Client.lane_start``), stopped by :meth:`stop` — always call it: a lane
    left running keeps its pg_cron slots and takes the role's submissions."""

    def __init__(self, dsn: str, workers: int = 1) -> None:
        self._client = pgcron.Client.connect(dsn)
        try:
            status = self._client.lane_start(workers)
        except BaseException:
            self.stop()
            raise
        logger.info("lane of %s: %d of %d workers live", status.role, status.live, status.wanted)

    def stop(self) -> None:
        try:
            self._client.lane_stop()
        finally:
            self._client.close()
