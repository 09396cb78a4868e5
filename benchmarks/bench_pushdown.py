"""Benchmark of pushdown runs (issue 4), side by side with the floor and with naive polling, in both modes.

    PGCRON_DSN=... PGCRON_LIBPQ_DSN=... python benchmarks/bench_pushdown.py [--samples 20] [--waits 1000]

Per execution mode (background workers on / off):

* **floor** — the same SQL run directly with psycopg on an open connection;
* **pushdown (NOTIFY)** — ``AsyncPushdown.submit`` + ``wait``, completion noticed through the engine trigger;
* **pushdown (polling)** — the same with LISTEN disabled (backoff polling, one query for all waiters);
* **naive 1 s polling** — the same submissions, each waiter polling ``cron.job_run_details`` every second.

Measured: p50/p95 submit→start (server clock: submission time → the run's ``start_time``), end→noticed
(the run's ``end_time`` → the moment the waiter returned; client and server share this machine's clock),
database queries per waiting run, and for ``--waits`` concurrent waits: connections held and client CPU.
Prints a table and writes ``benchmarks/results/bench_pushdown.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import report
from pgcron.models import RunHandle, RunStatus
from pgcron.pushdown import AsyncPushdown
from pgcron.schema import install

SQL = "SELECT pg_sleep(0.2)"
BATCH = 4  # concurrent submissions per latency batch (bgw mode runs 5 at a time by default)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def now() -> datetime:
    return datetime.now(UTC)


async def floor(dsn: str, samples: int) -> dict[str, Any]:
    starts: list[float] = []
    ends: list[float] = []
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for _ in range(samples):
            sent = now()
            cur = await conn.execute("SELECT statement_timestamp(), pg_sleep(0.2), clock_timestamp()")
            row = await cur.fetchone()
            assert row is not None
            noticed = now()
            starts.append((row[0] - sent).total_seconds())
            ends.append((noticed - row[2]).total_seconds())
    return {"start": starts, "notice": ends, "queries_per_run": 1.0, "connections": 1}


async def _start_latency(dsn: str, handles: list[RunHandle]) -> list[float]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT extract(epoch FROM d.start_time - s.submitted_at) FROM pgcron.submission s "
            "JOIN cron.job_run_details d ON d.jobid = s.jobid AND d.job_pid = s.claimed_pid "
            "WHERE s.id = ANY(%s)",
            ([h.submission_id for h in handles],),
        )
        return [float(r[0]) for r in await cur.fetchall()]


async def pushdown(dsn: str, samples: int, *, listen: bool) -> dict[str, Any]:
    p = AsyncPushdown(dsn, listen=listen)
    notice: list[float] = []
    handles: list[RunHandle] = []
    try:
        await p.submit("SELECT 1")  # opens the hub (and the listener) before measuring
        queries0 = p.hub.state_queries if p.hub else 0
        for first in range(0, samples, BATCH):
            batch = await asyncio.gather(*(p.submit(SQL) for _ in range(min(BATCH, samples - first))))
            handles += batch

            async def one(h: RunHandle) -> None:
                run = await p.wait(h, timeout=120)
                noticed = now()
                assert run.status is RunStatus.SUCCEEDED and run.end_time is not None
                notice.append((noticed - run.end_time).total_seconds())

            await asyncio.gather(*(one(h) for h in batch))
        assert p.hub is not None
        queries = p.hub.state_queries - queries0 - len(handles)  # minus the one state read in each submit
        connections = p.hub.connections
    finally:
        await p.aclose()
    return {
        "start": await _start_latency(dsn, handles),
        "notice": notice,
        "queries_per_run": queries / len(handles),
        "connections": connections,
    }


async def naive(dsn: str, samples: int) -> dict[str, Any]:
    """Each waiter polls cron.job_run_details once a second on its own connection."""
    p = AsyncPushdown(dsn, listen=False)
    notice: list[float] = []
    polls = 0
    handles: list[RunHandle] = []
    try:
        for first in range(0, samples, BATCH):
            batch = await asyncio.gather(*(p.submit(SQL) for _ in range(min(BATCH, samples - first))))
            handles += batch

            async def one(h: RunHandle) -> None:
                nonlocal polls
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                    while True:
                        polls += 1
                        cur = await conn.execute(
                            "SELECT status, end_time FROM cron.job_run_details WHERE jobid = %s "
                            "ORDER BY runid LIMIT 1",
                            (h.jobid,),
                        )
                        row = await cur.fetchone()
                        if row is not None and row[0] in ("succeeded", "failed"):
                            notice.append((now() - row[1]).total_seconds())
                            return
                        await asyncio.sleep(1.0)

            await asyncio.gather(*(one(h) for h in batch))
    finally:
        await p.aclose()
    return {
        "start": await _start_latency(dsn, handles),
        "notice": notice,
        "queries_per_run": polls / len(handles),
        "connections": BATCH,
    }


LOCK_KEY = 4_242_424  # advisory lock the runs of the many-waits scenario queue behind


async def many_waits(dsn: str, n: int, *, method: str, window: float = 10.0) -> dict[str, Any]:
    """n concurrent waits: connections held, client CPU and queries while all of them wait.

    The runs block on an advisory lock the benchmark holds (the first few run and block, the rest stay
    pending behind cron.max_running_jobs), so every wait really waits for ``window`` seconds; then the lock is
    released and everything completes.
    """
    p = AsyncPushdown(dsn, listen=method == "notify")
    holder = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    try:
        await holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        command = "SELECT pg_advisory_lock_shared(4242424)"  # = LOCK_KEY
        handles = [await p.submit(command) for _ in range(n)]
        peak = 0
        polls = 0
        done = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, p.hub.connections if p.hub else 0)
                await asyncio.sleep(0.2)

        async def naive_all(conn: psycopg.AsyncConnection[Any]) -> None:
            nonlocal polls, done
            lock = asyncio.Lock()

            async def one(h: RunHandle) -> None:
                nonlocal polls, done
                while True:
                    async with lock:
                        polls += 1
                        cur = await conn.execute(
                            "SELECT status FROM cron.job_run_details WHERE jobid = %s ORDER BY runid LIMIT 1",
                            (h.jobid,),
                        )
                        row = await cur.fetchone()
                    if row is not None and row[0] in ("succeeded", "failed"):
                        done += 1
                        return
                    await asyncio.sleep(1.0)

            await asyncio.gather(*(one(h) for h in handles))

        async def hub_all() -> None:
            nonlocal done
            runs = await asyncio.gather(*(p.wait(h, timeout=900) for h in handles))
            assert all(r.status is RunStatus.SUCCEEDED for r in runs), {r.status for r in runs}
            done = len(runs)

        watcher = asyncio.create_task(watch())
        naive_conn = (
            await psycopg.AsyncConnection.connect(dsn, autocommit=True) if method == "naive" else None
        )
        q0 = p.hub.state_queries if p.hub else 0
        waiting = asyncio.create_task(naive_all(naive_conn) if naive_conn else hub_all())
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(window)  # every wait is waiting now
        cpu_window = time.process_time() - cpu0
        queries_window = polls if naive_conn else (p.hub.state_queries if p.hub else 0) - q0
        if naive_conn is not None:
            peak = 1
        await holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        await waiting
        wall_total = time.monotonic() - wall0
        watcher.cancel()
        queries_total = polls if naive_conn else (p.hub.state_queries if p.hub else 0) - q0
        if naive_conn is not None:
            await naive_conn.close()
    finally:
        await holder.close()
        await p.aclose()
    return {
        "waits": n,
        "window_s": window,
        "cpu % (waiting)": 100 * cpu_window / window,
        "queries/s (waiting)": queries_window / window,
        "connections": peak,
        "wall to all done s": wall_total,
        "queries total": queries_total,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--waits", type=int, default=1000)
    args = parser.parse_args()
    modes = {"bgw": os.environ.get("PGCRON_DSN"), "libpq": os.environ.get("PGCRON_LIBPQ_DSN")}
    rows: list[dict[str, Any]] = []
    waits: list[dict[str, Any]] = []
    for mode, dsn in modes.items():
        if not dsn:
            print(f"skipping {mode}: no DSN in the environment", file=sys.stderr)
            continue
        install(dsn)
        for label, coro in (
            ("floor (psycopg)", floor(dsn, args.samples)),
            ("pushdown, NOTIFY", pushdown(dsn, args.samples, listen=True)),
            ("pushdown, polling", pushdown(dsn, args.samples, listen=False)),
            ("naive 1 s polling", naive(dsn, args.samples)),
        ):
            r = await coro
            rows.append(
                {
                    "mode": mode,
                    "method": label,
                    "start p50 s": pct(r["start"], 0.5),
                    "start p95 s": pct(r["start"], 0.95),
                    "notice p50 ms": (pct(r["notice"], 0.5) or 0) * 1000,
                    "notice p95 ms": (pct(r["notice"], 0.95) or 0) * 1000,
                    "queries/run": r["queries_per_run"],
                    "samples": len(r["notice"]),
                }
            )
            print(rows[-1], flush=True)
        if args.waits:
            for method in ("notify", "polling", "naive"):
                w = await many_waits(dsn, args.waits, method=method)
                waits.append({"mode": mode, "method": method, **w})
                print(waits[-1], flush=True)
    report(
        "bench_pushdown",
        rows,
        columns=[
            "mode",
            "method",
            "start p50 s",
            "start p95 s",
            "notice p50 ms",
            "notice p95 ms",
            "queries/run",
            "samples",
        ],
        packages=("pgcron", "psycopg"),
        notes={
            "sql": SQL,
            "batch": BATCH,
            "many_waits": waits,
            "start": "server clock: pgcron.submission.submitted_at -> cron.job_run_details.start_time "
            "(floor: client send -> statement_timestamp())",
            "notice": "run end_time -> the waiter returned (same machine clock)",
        },
    )
    if waits:
        report(
            "bench_pushdown_waits",
            waits,
            columns=[
                "mode",
                "method",
                "waits",
                "cpu % (waiting)",
                "queries/s (waiting)",
                "connections",
                "wall to all done s",
                "queries total",
            ],
            packages=("pgcron", "psycopg"),
        )


if __name__ == "__main__":
    asyncio.run(main())
