"""Slot admission on the ``rds`` flavour (issue 13, ADR 0010): a scheduled user job's start delay while 500
pushdowns are submitted at once, with and without admission control, side by side in one run.

    python benchmarks/bench_admission.py [--submissions 500] [--sql SQL] [--modes with,without]

Starts the ``rds`` emulation (``pgcron dev up --managed rds``: background workers, ``cron.max_running_jobs =
5``; stopped and purged afterwards) and works as the customer's admin role (``postgres``, not superuser): it
installs the engine and schedules the user job ``bench:user-job`` (``* * * * *``, ``SELECT 1``), which fires
at every minute boundary. Per mode, five seconds before a minute boundary, one ``AsyncClient`` in this process
submits ``--submissions`` pushdowns of ``--sql`` at once (``asyncio.gather`` of ``submit`` + ``wait``) and
waits for all of them. The default statement takes a second, so that even without admission control (5 at a
time) the burst lasts past a second minute boundary, and with it (3 at a time) all 500 start well within
their 10 minutes (a queued submission expires like any unstarted one). The first minute boundary after the
user job is scheduled is left without a burst: the user job's delay on an idle server.

* **with admission control** — the engine's defaults: budget = 5 − reserve 2 − no lanes = 3 submissions in
  flight; the rest are queued and admitted by the client's waiters.
* **without** — emulated by setting ``pgcron.config`` ``max_running_jobs`` to ``'1000'`` as the engine owner,
  so the budget (998) never binds: every submission gets its job at once, as before migration 0007. pg_cron's
  real cap stays 5.

Measured: the user job's start delay at each minute boundary that falls inside a burst (``job_run_details
.start_time`` − the boundary, server clock), p50 and max; the same at the boundaries outside any burst (idle);
the burst's completion time (first submit → last wait returned), how long submitting took, the most
submissions running at once (overlap of ``[claimed_at, finished_at]`` in ``pgcron.submission``) and failures
(runs that did not succeed, and errors). Writes ``benchmarks/results/bench_admission.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pgcron
import psycopg
from pgcron import dev
from pgcron.errors import PgCronError
from pgcron.schema import install

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import report

SERVER = "bench-admission"
USER_JOB = "bench:user-job"
LEAD_S = 5.0  # a burst starts this long before a minute boundary, so the boundary meets it at its peak
WAIT_TIMEOUT_S = 900.0
MINUTE = timedelta(minutes=1)


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def one_row(dsn: str, query: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]  # constant queries
    if row is None:
        raise SystemExit(f"no row from {query!r}")
    return tuple(row)


def server_now(dsn: str) -> datetime:
    value = one_row(dsn, "SELECT clock_timestamp()")[0]
    if not isinstance(value, datetime):
        raise SystemExit(f"clock_timestamp() gave {value!r}")
    return value


def set_slot_cap(dsn: str, value: str) -> None:
    """``pgcron.config`` ``max_running_jobs`` as the engine owner (the customer admin who installed it)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE pgcron.config SET value = %s WHERE name = 'max_running_jobs'", (value,))


def sleep_until_lead(dsn: str, after: datetime) -> None:
    """Sleep until ``LEAD_S`` seconds before the next minute boundary later than ``after`` (and 5 s ahead)."""
    now = server_now(dsn)
    boundary = now.replace(second=0, microsecond=0) + MINUTE
    while (boundary - now).total_seconds() < LEAD_S + 5 or boundary <= after:
        boundary += MINUTE
    time.sleep((boundary - now).total_seconds() - LEAD_S)


async def burst(dsn: str, n: int, command: str) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    ids: list[int] = []
    queued = 0
    submitted_at: list[float] = []
    async with await pgcron.AsyncClient.connect(dsn) as client:
        await client.run_now("SELECT 1", timeout=60)  # opens the shared connections before the clock starts
        started = time.perf_counter()

        async def one() -> None:
            nonlocal queued
            try:
                handle = await client.submit(command)
                submitted_at.append(time.perf_counter())
                ids.append(handle.submission_id)
                queued += handle.jobid is None
                run = await client.wait(handle, timeout=WAIT_TIMEOUT_S)
                statuses[run.status.value] += 1
            except PgCronError as exc:
                errors[type(exc).__name__] += 1

        await asyncio.gather(*(one() for _ in range(n)))
        wall = time.perf_counter() - started
    return {
        "ids": ids,
        "wall_s": wall,
        "submit_s": (max(submitted_at) - started) if submitted_at else None,
        "queued_at_submit": queued,
        "statuses": dict(statuses),
        "errors": dict(errors),
    }


def max_in_flight(dsn: str, ids: list[int]) -> int:
    """The most submissions whose ``[claimed_at, finished_at]`` overlap (an end sorts before a start)."""
    query = """
        WITH spans AS (SELECT claimed_at, finished_at FROM pgcron.submission
                        WHERE id = ANY(%s) AND claimed_at IS NOT NULL AND finished_at IS NOT NULL),
             steps AS (SELECT claimed_at AS at, 1 AS step FROM spans
                       UNION ALL SELECT finished_at, -1 FROM spans)
        SELECT coalesce(max(running), 0) FROM (
            SELECT sum(step) OVER (ORDER BY at, step ROWS UNBOUNDED PRECEDING) AS running FROM steps) s
    """
    return int(one_row(dsn, query, (ids,))[0])


def temporary_jobs(dsn: str) -> int:
    query = (
        "SELECT count(*) FROM cron.job WHERE starts_with(jobname, 'pgcron:run:') AND username = current_user"
    )
    return int(one_row(dsn, query)[0])


def wait_for_cleanup(dsn: str, timeout: float = 180.0) -> float:
    """Seconds until maintenance has removed the burst's temporary jobs (or ``timeout``)."""
    started = time.perf_counter()
    while temporary_jobs(dsn) and time.perf_counter() - started < timeout:
        time.sleep(1.0)
    return time.perf_counter() - started


def user_job_delays(dsn: str, jobid: int, first: datetime, last: datetime) -> dict[datetime, float | None]:
    """Start delay (s) of the user job's run at each minute boundary in [first, last]; None: never started.

    pg_cron queues a firing while the job cannot start, so runs (in runid order) meet boundaries in order:
    each boundary takes the first unused run that started at or after it.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        runs = conn.execute(
            "SELECT start_time, status FROM cron.job_run_details WHERE jobid = %s AND start_time >= %s"
            " ORDER BY runid",
            (jobid, first - timedelta(seconds=1)),
        ).fetchall()
    delays: dict[datetime, float | None] = {}
    boundary, i = first, 0
    while boundary <= last:
        while i < len(runs) and runs[i][0] < boundary - timedelta(seconds=1):
            i += 1
        if i < len(runs):
            delays[boundary] = (runs[i][0] - boundary).total_seconds()
            i += 1
        else:
            delays[boundary] = None
        boundary += MINUTE
    return delays


def summary(delays: list[float | None]) -> dict[str, Any]:
    started = [d for d in delays if d is not None]
    return {
        "boundaries": len(delays),
        "user_delay_p50_s": round(statistics.median(started), 3) if started else None,
        "user_delay_max_s": round(max(started), 3) if started else None,
        "user_missed": len(delays) - len(started),
    }


def bench(modes: list[str], n: int, command: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if dev.load_state(SERVER) is not None:
        dev.down(SERVER, purge=True)
    state = dev.up(SERVER, managed="rds", use_env=False)
    try:
        dsn = state.dsn
        install(dsn)
        original_cap = str(one_row(dsn, "SELECT value FROM pgcron.config WHERE name = 'max_running_jobs'")[0])
        jobid = int(one_row(dsn, "SELECT cron.schedule(%s, '* * * * *', 'SELECT 1')", (USER_JOB,))[0])
        created = server_now(dsn)
        first = created.replace(second=0, microsecond=0) + MINUTE  # left idle: the user job's own delay
        log(f"rds emulation up ({state.mode}); user job {jobid} scheduled; modes: {', '.join(modes)}")
        rows: list[dict[str, Any]] = []
        windows: list[tuple[datetime, datetime]] = []
        for mode in modes:
            set_slot_cap(dsn, original_cap if mode == "with" else "1000")
            budget = int(one_row(dsn, "SELECT budget FROM pgcron.admission_status()")[0])
            sleep_until_lead(dsn, after=first)
            log(f"{mode}: budget {budget}; submitting {n} × {command!r}")
            begin = server_now(dsn)
            result = asyncio.run(burst(dsn, n, command))
            end = server_now(dsn)
            windows.append((begin, end))
            failures = sum(v for k, v in result["statuses"].items() if k != "succeeded")
            failures += sum(result["errors"].values())
            log(f"{mode}: done in {result['wall_s']:.1f} s; {result['statuses']}, errors {result['errors']}")
            cleanup_s = wait_for_cleanup(dsn)
            rows.append(
                {
                    "mode": f"{mode} admission control",
                    "budget": budget,
                    "submissions": n,
                    "window": (begin, end),
                    "burst_s": round(result["wall_s"], 1),
                    "submit_s": round(result["submit_s"], 1) if result["submit_s"] is not None else None,
                    "queued_at_submit": result["queued_at_submit"],
                    "max_in_flight": max_in_flight(dsn, result["ids"]),
                    "failures": failures,
                    "statuses": result["statuses"],
                    "errors": result["errors"],
                    "jobs_gone_s": round(cleanup_s, 1),
                    "jobs_left": temporary_jobs(dsn),
                }
            )
        set_slot_cap(dsn, original_cap)
        # Wait for the user job's firing at the last boundary of the last burst to be recorded.
        last = max(end for _, end in windows).replace(second=0, microsecond=0)
        deadline = time.perf_counter() + 120
        while time.perf_counter() < deadline:
            if user_job_delays(dsn, jobid, last, last)[last] is not None:
                break
            time.sleep(1.0)
        delays = user_job_delays(dsn, jobid, first, last)
        in_burst: set[datetime] = set()
        for row in rows:
            begin, end = row.pop("window")
            inside = [b for b in delays if begin <= b <= end]
            in_burst.update(inside)
            row |= summary([delays[b] for b in inside])
            row["user_delays_s"] = [delays[b] for b in inside]
        idle = [delays[b] for b in delays if b not in in_burst]
        rows.append({"mode": "no burst (idle)", "submissions": 0, **summary(idle), "user_delays_s": idle})
        user_failed = int(
            one_row(
                dsn,
                "SELECT count(*) FROM cron.job_run_details WHERE jobid = %s AND status <> 'succeeded'",
                (jobid,),
            )[0]
        )
        meta = {"mode": state.mode, "user_job_runs_not_succeeded": user_failed}
        return rows, meta
    finally:
        dev.down(SERVER, purge=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=500)
    parser.add_argument("--sql", default="SELECT pg_sleep(1)", help="the statement each submission runs")
    parser.add_argument("--modes", default="with,without", help="with, without or both (in that order)")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"with", "without"}:
        parser.error("--modes takes with, without or with,without")
    rows, meta = bench(modes, args.submissions, args.sql)
    report(
        "bench_admission",
        rows,
        columns=[
            "mode",
            "budget",
            "submissions",
            "boundaries",
            "user_delay_p50_s",
            "user_delay_max_s",
            "user_missed",
            "burst_s",
            "submit_s",
            "max_in_flight",
            "failures",
        ],
        notes={
            "flavour": "rds emulation (pgcron dev up --managed rds): background workers, 5 slots",
            "role": "the customer admin (postgres, not superuser): engine owner, submitter, user job owner",
            "user_job": f"{USER_JOB}: '* * * * *' SELECT 1; delay = job_run_details.start_time - the minute",
            "burst": f"{args.submissions} x {args.sql!r}, one AsyncClient, asyncio.gather(submit + wait), "
            f"started {LEAD_S:.0f} s before a minute boundary",
            "without": "emulated: pgcron.config max_running_jobs = '1000' set by the engine owner, so the "
            "pushdown budget (998) never binds and every submission gets its job at once; pg_cron's cap "
            "stays 5",
            "boundaries": "minute boundaries inside the burst (first submit to last wait returned)",
            **meta,
        },
    )


if __name__ == "__main__":
    main()
