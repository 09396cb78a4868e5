"""Method (a): run the job's SQL inside PostgreSQL through pgcron's pushdown (``Client.run_now``).

The caller keeps one :class:`InDatabase` open across runs, as a scheduler process would keep its client, so
connection set-up is not charged to any run (the app-tier service gets the same treatment). The engine
schema that the pushdown needs is installed (or found current) once, before measuring, over a direct
connection that the wire proxy does not count.
"""

from __future__ import annotations

import logging
from typing import Any

import pgcron
from pgcron import schema

logger = logging.getLogger(__name__)

PATH = "pgcron.Client.run_now"


class InDatabase:
    """Runs SQL inside the database, exactly once per call, and reports the affected row count."""

    def __init__(self, dsn: str, *, install_dsn: str) -> None:
        status = schema.install(install_dsn)
        logger.info("pgcron engine schema at version %d", status.applied[-1].version)
        self.path = PATH
        self._client = pgcron.Client.connect(dsn)

    def run(self, sql: str, timeout: float) -> dict[str, Any]:
        run = self._client.run_now(sql, timeout=timeout)
        duration = run.duration.total_seconds() if run.duration is not None else None
        return {"rows": run.rows, "runid": run.runid, "status": run.status.value, "server_s": duration}

    def close(self) -> None:
        self._client.close()
