"""Benchmark of warm lanes (issue 15) beside the per-submission job and direct psycopg, in both modes.

    PGCRON_DSN=... PGCRON_LIBPQ_DSN=... python benchmarks/bench_lanes.py [--samples 30] [--job-samples 6]
        [--throughput 1000] [--idle-seconds 10]

The DSNs are a superuser's (the engine owner's); the benchmark creates a throw-away LOGIN role with USAGE on
schema cron, runs everything as that role (lanes are per role), and drops it at the end. Per execution mode:

* **direct psycopg** — ``SELECT 1`` on an open connection (the floor);
* **per-submission job** — ``AsyncPushdown.submit`` + ``wait`` with no lane (today's path, pg_cron's 1-2 s);
* **warm lane** — the same with a one-worker lane started first.

Measured: p50/p95 **submit→start** (server clock: ``pgcron.submission.submitted_at`` → ``claimed_at``, the
moment the engine starts the SQL; floor: client send → ``statement_timestamp()``), and **submit→noticed**
(client: ``submit()`` called → ``wait()`` returned; floor: the query's round trip). **Throughput**: N small
submissions submitted at once (``INSERT`` of one row) and all waited for, with 1, 2 and 4 lane workers, plus
how many fell back to their own job. **Idle CPU** of a lane worker: its backend's on-CPU time from
``/proc/<pid>/schedstat`` over ``--idle-seconds`` (server and benchmark on the same machine).
Prints tables and writes ``benchmarks/results/bench_lanes.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import report
from pgcron.client_async import AsyncClient
from pgcron.models import RunHandle, RunStatus
from pgcron.pushdown import AsyncPushdown
from pgcron.schema import install

SQL = "SELECT 1"
TABLE = "bench_lanes_rows"
PRIVILEGES = {"INSERT": sql.SQL("INSERT"), "SELECT, UPDATE": sql.SQL("SELECT, UPDATE")}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def as_role(dsn: str, role: str) -> str:
    params = conninfo_to_dict(dsn)
    params["user"] = role
    params.pop("password", None)
    return make_conninfo(**params)  # type: ignore[arg-type]


async def floor(dsn: str, samples: int) -> dict[str, Any]:
    start: list[float] = []
    notice: list[float] = []
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for _ in range(samples):
            sent = time.time()
            t0 = time.perf_counter()
            cur = await conn.execute("SELECT extract(epoch FROM statement_timestamp())")
            row = await cur.fetchone()
            assert row is not None
            notice.append(time.perf_counter() - t0)
            start.append(float(row[0]) - sent)
    return {"start": start, "notice": notice, "via": {"direct": samples}}


async def _starts(dsn: str, handles: list[RunHandle]) -> tuple[list[float], dict[str, int]]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT extract(epoch FROM claimed_at - submitted_at)::float8, via FROM pgcron.submission "
            "WHERE id = ANY(%s) AND claimed_at IS NOT NULL",
            ([h.submission_id for h in handles],),
        )
        rows = await cur.fetchall()
    via: dict[str, int] = {}
    for _, v in rows:
        via[v] = via.get(v, 0) + 1
    return [float(r[0]) for r in rows], via


async def sequential(dsn: str, samples: int) -> dict[str, Any]:
    p = AsyncPushdown(dsn)
    handles: list[RunHandle] = []
    notice: list[float] = []
    try:
        await p.wait(await p.submit(SQL), timeout=60)  # opens the hub and the listener before measuring
        for _ in range(samples):
            t0 = time.perf_counter()
            handle = await p.submit(SQL)
            run = await p.wait(handle, timeout=120)
            notice.append(time.perf_counter() - t0)
            assert run.status is RunStatus.SUCCEEDED, run
            handles.append(handle)
            await asyncio.sleep(0.05)  # the lane dozes off between two submissions, as with real traffic
    finally:
        await p.aclose()
    start, via = await _starts(dsn, handles)
    return {"start": start, "notice": notice, "via": via}


async def throughput(dsn: str, n: int) -> dict[str, Any]:
    p = AsyncPushdown(dsn)
    insert = sql.SQL("INSERT INTO {} VALUES (1)").format(sql.Identifier(TABLE)).as_string(None)
    try:
        await p.wait(await p.submit(SQL), timeout=60)
        t0 = time.perf_counter()
        handles = await asyncio.gather(*(p.submit(insert) for _ in range(n)))
        submitted = time.perf_counter() - t0
        runs = await asyncio.gather(*(p.wait(h, timeout=300) for h in handles))
        wall = time.perf_counter() - t0
    finally:
        await p.aclose()
    ok = sum(1 for r in runs if r.status is RunStatus.SUCCEEDED)
    via: dict[str, int] = {}
    for r in runs:
        via[r.via or "?"] = via.get(r.via or "?", 0) + 1
    return {"n": n, "succeeded": ok, "submit s": submitted, "wall s": wall, "runs/s": n / wall, "via": via}


def _cpu_ns(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


async def idle_cpu(client: AsyncClient, seconds: float) -> dict[str, Any]:
    await asyncio.sleep(3.0)  # let it doze off
    status = await client.lane_status()
    pid = next(w.pid for w in status.workers if w.pid is not None)
    if not Path(f"/proc/{pid}").exists():
        return {"pid": pid, "cpu %": None, "note": "the server's processes are not visible here"}
    a, t0 = _cpu_ns(pid), time.monotonic()
    await asyncio.sleep(seconds)
    after = await client.lane_status()
    if not any(w.pid == pid for w in after.workers):
        return {"pid": pid, "cpu %": None, "note": "the worker restarted during the measurement; run again"}
    b, t1 = _cpu_ns(pid), time.monotonic()
    return {"pid": pid, "seconds": round(t1 - t0, 1), "cpu %": 100.0 * (b - a) / 1e9 / (t1 - t0)}


@contextmanager
def throwaway_role(su_dsn: str, table: str, privilege: str = "INSERT") -> Iterator[str]:
    """A throw-away LOGIN role with USAGE on schema cron and ``privilege`` (a key of ``PRIVILEGES``) on
    ``table`` (an existing table); yields the role's DSN. At the end its lane is stopped and its jobs,
    backends, lane rows, submissions and the role itself are removed, whatever happened in between."""
    role = f"bench_lane_{secrets.token_hex(3)}"
    with psycopg.connect(su_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA cron TO {}").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT {} ON {} TO {}").format(
                PRIVILEGES[privilege], sql.Identifier(table), sql.Identifier(role)
            )
        )
    try:
        yield as_role(su_dsn, role)
    finally:
        with psycopg.connect(su_dsn, autocommit=True) as conn:
            conn.execute("UPDATE pgcron.lane_config SET workers = 0 WHERE role = %s", (role,))
            time.sleep(2.0)  # the workers end after what they run, idle ones within a second
            conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE username = %s", (role,))
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
            for name in ("lane_worker", "lane_config"):
                conn.execute(
                    sql.SQL("DELETE FROM pgcron.{} WHERE role = %s").format(sql.Identifier(name)), (role,)
                )
            conn.execute("DELETE FROM pgcron.submission WHERE submitted_by = %s", (role,))
            conn.execute("DELETE FROM pgcron.role_channel WHERE role = %s", (role,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


async def run_mode(mode: str, su_dsn: str, args: argparse.Namespace) -> tuple[list[dict[str, Any]], ...]:
    install(su_dsn)
    with psycopg.connect(su_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (n int)").format(sql.Identifier(TABLE)))
    latency: list[dict[str, Any]] = []
    tput: list[dict[str, Any]] = []
    idle: list[dict[str, Any]] = []
    with throwaway_role(su_dsn, TABLE) as dsn:
        client = await AsyncClient.connect(dsn)
        try:
            for label, coro in (
                ("direct psycopg", floor(dsn, args.samples)),
                ("per-submission job", sequential(dsn, args.job_samples)),
            ):
                latency.append(_latency_row(mode, label, await coro))
                print(latency[-1], flush=True)
            await client.lane_start(1)
            latency.append(_latency_row(mode, "warm lane (1 worker)", await sequential(dsn, args.samples)))
            print(latency[-1], flush=True)
            if args.idle_seconds:
                idle.append({"mode": mode, **await idle_cpu(client, args.idle_seconds)})
                print(idle[-1], flush=True)
            if args.throughput:
                for workers in (1, 2, 4):
                    await client.lane_start(workers)
                    tput.append({"mode": mode, "workers": workers, **await throughput(dsn, args.throughput)})
                    print(tput[-1], flush=True)
        finally:
            try:
                await client.lane_stop()
            finally:
                await client.close()
    return latency, tput, idle


def _latency_row(mode: str, label: str, r: dict[str, Any]) -> dict[str, Any]:
    return {
        "mode": mode,
        "path": label,
        "start p50 ms": (pct(r["start"], 0.5) or 0) * 1000,
        "start p95 ms": (pct(r["start"], 0.95) or 0) * 1000,
        "noticed p50 ms": (pct(r["notice"], 0.5) or 0) * 1000,
        "noticed p95 ms": (pct(r["notice"], 0.95) or 0) * 1000,
        "samples": len(r["notice"]),
        "via": r["via"],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--job-samples", type=int, default=6)
    parser.add_argument("--throughput", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    modes = {"bgw": os.environ.get("PGCRON_DSN"), "libpq": os.environ.get("PGCRON_LIBPQ_DSN")}
    latency: list[dict[str, Any]] = []
    tput: list[dict[str, Any]] = []
    idle: list[dict[str, Any]] = []
    for mode, dsn in modes.items():
        if not dsn:
            print(f"skipping {mode}: no DSN in the environment", file=sys.stderr)
            continue
        lat, tp, idl = await run_mode(mode, dsn, args)
        latency += lat
        tput += tp
        idle += idl
    report(
        "bench_lanes",
        latency,
        columns=[
            "mode",
            "path",
            "start p50 ms",
            "start p95 ms",
            "noticed p50 ms",
            "noticed p95 ms",
            "samples",
        ],
        packages=("pgcron", "psycopg"),
        notes={
            "sql": SQL,
            "throughput": tput,
            "idle_cpu": idle,
            "start": "server clock: pgcron.submission.submitted_at -> claimed_at (floor: client send -> "
            "statement_timestamp())",
            "noticed": "client: submit() called -> wait() returned (floor: the query's round trip)",
        },
    )
    if tput:
        report(
            "bench_lanes_throughput",
            tput,
            columns=["mode", "workers", "n", "succeeded", "submit s", "wall s", "runs/s", "via"],
            packages=("pgcron", "psycopg"),
            notes={"idle_cpu": idle},
        )


if __name__ == "__main__":
    asyncio.run(main())
