"""Method (a): run the job's SQL inside PostgreSQL through pgcron's pushdown (``Client.run_now``).

The caller keeps one :class:`InDatabase` open across runs, as a scheduler process would keep its client, so
connection set-up is not charged to any run (the app-tier service gets the same treatment).

TEMPORARY PATH: until ``pgcron.Client.run_now`` exists in this checkout, :class:`_ShimRunner` stands in for
it — a one-shot pg_cron job guarded by a claim row, polled to completion. Results produced through it are
labelled ``"path": "TEMPORARY shim"`` in the JSON and the table, and the published figures must not use it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from psycopg import sql as psql

logger = logging.getLogger(__name__)

REAL_PATH = "pgcron.Client.run_now"
SHIM_PATH = "TEMPORARY shim"


def pushdown_available() -> bool:
    """True when the installed pgcron has the real pushdown client."""
    try:
        import pgcron
    except ImportError:
        return False
    client = getattr(pgcron, "Client", None)
    return client is not None and hasattr(client, "run_now")


class InDatabase:
    """Runs SQL inside the database, exactly once per call, and reports the affected row count."""

    def __init__(self, dsn: str, *, allow_shim: bool) -> None:
        if pushdown_available():
            import pgcron

            self.path = REAL_PATH
            self._client: Any = pgcron.Client.connect(dsn)
            self._shim: _ShimRunner | None = None
        elif allow_shim:
            logger.warning("pgcron.Client.run_now is missing: using the TEMPORARY shim for method (a)")
            self.path = SHIM_PATH
            self._client = None
            self._shim = _ShimRunner(dsn)
        else:
            raise RuntimeError(
                "pgcron.Client.run_now is not available in this checkout; pass --allow-shim to measure "
                "with the temporary stand-in (its figures must not be published)"
            )

    def run(self, sql: str, timeout: float) -> dict[str, Any]:
        if self._shim is not None:
            return self._shim.run(sql, timeout)
        run = self._client.run_now(sql, timeout=timeout)
        duration = run.duration.total_seconds() if run.duration is not None else None
        return {"rows": run.rows, "runid": run.runid, "status": str(run.status), "server_s": duration}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._shim is not None:
            self._shim.close()


class _ShimRunner:
    """TEMPORARY: a one-shot pg_cron job guarded by a claim row. Delete when the pushdown lands."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute("CREATE TABLE IF NOT EXISTS bench.shim_claim (key text PRIMARY KEY)")
        self.seq = 0

    def run(self, sql: str, timeout: float) -> dict[str, Any]:
        self.seq += 1
        key = f"bench_shim_{time.time_ns()}_{self.seq}"
        # The claim insert makes a second firing fail on the primary key, so the SQL runs at most once.
        command = (
            psql.SQL("INSERT INTO bench.shim_claim VALUES ({}); {}")
            .format(
                psql.Literal(key),
                psql.SQL(sql),  # type: ignore[arg-type]  # the job's own fixed SQL
            )
            .as_string(self.conn)
        )
        row = self.conn.execute("SELECT cron.schedule(%s, '1 seconds', %s)", (key, command)).fetchone()
        assert row is not None
        jobid = row[0]
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                found = self.conn.execute(
                    "SELECT d.status, d.return_message, d.job_pid, "
                    "       EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = d.job_pid), "
                    "       extract(epoch FROM d.end_time - d.start_time)::float8 "
                    "FROM cron.job_run_details d WHERE d.jobid = %s ORDER BY d.runid LIMIT 1",
                    (jobid,),
                ).fetchone()
                if found is not None and found[0] in ("succeeded", "failed") and not found[3]:
                    if found[0] == "failed":
                        raise RuntimeError(f"in-database run failed: {found[1]}")
                    tag = str(found[1])
                    last = tag.rsplit(" ", 1)[-1]
                    return {
                        "rows": int(last) if last.isdigit() else None,
                        "runid": None,
                        "status": "succeeded",
                        "server_s": found[4],
                    }
                time.sleep(0.05)
            raise TimeoutError(f"in-database run did not finish within {timeout} s")
        finally:
            self.conn.execute("SELECT cron.unschedule(%s)", (jobid,))

    def close(self) -> None:
        self.conn.close()
