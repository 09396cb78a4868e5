"""The app-tier pattern: a small HTTP service that reads rows, decides in Python and writes the answer back.

This is the architecture pgcron argues against, built the way a careful team would build it, so the
comparison is against a good app tier, not a strawman:

* one long-lived database connection (no connect cost per request);
* the filter the database can apply cheaply is in the WHERE clause, the business decision is in Python;
* writes go back in batches of ``BATCH`` ids with ``= ANY(%s)``, one transaction per batch, as a service
  does so that a long sweep neither holds locks for minutes nor loses all progress on a crash;
* the rollup streams its input through a server-side cursor and replaces its table with one COPY.

Run it as ``python -m case.apptier PORT DSN``; it prints ``ready`` once it listens on 127.0.0.1:PORT.
``POST /jobs/<name>`` runs one job and answers ``{"rows": …, "read_rows": …, "batches": …}``.
:func:`trigger` is the scheduler's side of that call.
"""

from __future__ import annotations

import json
import logging
import sys
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import psycopg

logger = logging.getLogger(__name__)

BATCH = 5000
HOLD = timedelta(minutes=15)


def _batches(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


def expire_reservations(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Load pending reservations, expire those past the hold, write the expired ids back in batches."""
    now = datetime.now(UTC)
    rows = conn.execute("SELECT id, created_at FROM bench.reservations WHERE status = 'pending'").fetchall()
    stale = [rid for rid, created_at in rows if now - created_at > HOLD]
    changed = batches = 0
    for chunk in _batches(stale):
        with conn.transaction():
            cur = conn.execute(
                "UPDATE bench.reservations SET status = 'expired', updated_at = now() "
                "WHERE id = ANY(%s) AND status = 'pending'",
                (chunk,),
            )
        changed += cur.rowcount
        batches += 1
    return {"rows": changed, "read_rows": len(rows), "batches": batches}


def retention_purge(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Read the policy, load events older than the shortest retention, delete per-kind expired ones."""
    now = datetime.now(UTC)
    policy: dict[str, timedelta] = dict(
        conn.execute("SELECT kind, keep FROM bench.retention_policy").fetchall()
    )
    oldest_keep = min(policy.values())
    rows = conn.execute(
        "SELECT id, kind, occurred_at FROM bench.events WHERE occurred_at < %s", (now - oldest_keep,)
    ).fetchall()
    expired = [eid for eid, kind, occurred_at in rows if kind in policy and now - occurred_at > policy[kind]]
    deleted = batches = 0
    for chunk in _batches(expired):
        with conn.transaction():
            cur = conn.execute("DELETE FROM bench.events WHERE id = ANY(%s)", (chunk,))
        deleted += cur.rowcount
        batches += 1
    return {"rows": deleted, "read_rows": len(rows), "batches": batches}


def refresh_rollup(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Stream every order, aggregate paid ones per (UTC day, product) in Python, replace the rollup table."""
    totals: dict[tuple[Any, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    read = 0
    with conn.transaction(), conn.cursor(name="orders_scan") as cur:
        cur.itersize = 50_000
        cur.execute("SELECT created_at, product_id, quantity, amount_cents, status FROM bench.orders")
        for created_at, product_id, quantity, amount_cents, status in cur:
            read += 1
            if status != "paid":
                continue
            acc = totals[(created_at.astimezone(UTC).date(), product_id)]
            acc[0] += 1
            acc[1] += quantity
            acc[2] += amount_cents
    with conn.transaction():
        conn.execute("DELETE FROM bench.daily_sales_app")
        with conn.cursor().copy(
            "COPY bench.daily_sales_app (day, product_id, orders, units, revenue_cents) FROM STDIN"
        ) as copy:
            for (day, product_id), (orders, units, revenue) in totals.items():
                copy.write_row((day, product_id, orders, units, revenue))
    return {"rows": len(totals), "read_rows": read, "batches": 1}


HANDLERS: dict[str, Callable[[psycopg.Connection[Any]], dict[str, int]]] = {
    "expire_reservations": expire_reservations,
    "retention_purge": retention_purge,
    "refresh_rollup": refresh_rollup,
}


class _Service(HTTPServer):
    def __init__(self, port: int, dsn: str) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.dsn = dsn
        self.conn = psycopg.connect(dsn, autocommit=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Service

    def do_POST(self) -> None:
        name = self.path.removeprefix("/jobs/")
        handler = HANDLERS.get(name)
        if handler is None:
            self._answer(404, {"error": f"no job {name!r}; known: {sorted(HANDLERS)}"})
            return
        try:
            if self.server.conn.closed:
                self.server.conn = psycopg.connect(self.server.dsn, autocommit=True)
            self._answer(200, handler(self.server.conn))
        except psycopg.Error as exc:
            self._answer(500, {"error": str(exc)})

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)


def trigger(port: int, job: str, timeout: float = 1800.0) -> dict[str, int]:
    """The scheduler's side: call the service for one job run and return its answer."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/jobs/{job}", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        result: dict[str, int] = json.loads(response.read())
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m case.apptier PORT DSN", file=sys.stderr)
        return 2
    service = _Service(int(argv[0]), argv[1])
    print("ready", flush=True)
    try:
        service.serve_forever()
    finally:
        service.conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
