"""Benchmarks of jobs as code and run history (issue 5), each side by side with the alternative.

    python benchmarks/bench_jobs.py --dsn postgresql://postgres@127.0.0.1:5491/postgres \
        [--jobs 10000] [--history 10000000] [--purge 2000000] [--skip plan,history,purge]

Use a throwaway server: it creates 10,000 (inactive) jobs and writes millions of synthetic rows into
cron.job_run_details (removed again at the end). Measured:

* plan + apply of N jobs: wall time and round trips for create, no-op plan, update of every command, prune;
  versus one client call per job (``cron.schedule_in_database`` / ``alter_job`` per row, the way a loop
  over ``Client.schedule`` works).
* one job's latest 100 runs, and its runs of the last day, on an H-row history, without and with the
  ``(jobid, runid)`` index that ``pgcron history index --create`` adds.
* purge rows/s: ``purge_history`` (batches of 10,000 runids, one short transaction each) versus one
  ``DELETE … WHERE start_time < cutoff`` (one long transaction), with the longest single transaction of each.

Prints tables and writes ``benchmarks/results/bench_jobs_{plan,history,purge}.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import report
from pgcron.client import Client
from pgcron.jobsfile import parse_duration
from pgcron.models import JobSpec
from pgcron.schema import install

NS = "benchjobs"


class _Counter:
    statements = 0


@contextmanager
def counting() -> Iterator[_Counter]:
    """Count statements sent (each Cursor.execute is one round trip; BEGIN/COMMIT add two per transaction)."""
    counter = _Counter()
    original = psycopg.Cursor.execute

    def execute(self: psycopg.Cursor[Any], *args: Any, **kwargs: Any) -> Any:
        counter.statements += 1
        return original(self, *args, **kwargs)

    psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        psycopg.Cursor.execute = original  # type: ignore[method-assign]


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = func()
    return time.perf_counter() - start, value


def specs(n: int, version: int) -> list[JobSpec]:
    return [
        JobSpec(f"job-{i:05d}", "0 0 31 2 *", f"SELECT {version} -- job {i}", active=False) for i in range(n)
    ]


def cleanup_jobs(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE starts_with(jobname, 'benchjobs')")
    conn.execute("DELETE FROM pgcron.applied_job WHERE namespace = %s", (NS,))


def bench_plan(conn: psycopg.Connection[Any], n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cleanup_jobs(conn)

    def step(name: str, desired: list[JobSpec], prune: bool = False) -> None:
        with counting() as c:
            t_plan, plan = timed(lambda: Client.connect(conn).plan(desired, namespace=NS, prune=prune))
            plan_trips = c.statements + 2
            t_apply, _result = timed(lambda: Client.connect(conn).apply(plan) if plan.pending else None)
        apply_trips = (c.statements + 2 - plan_trips) if plan.pending else 0
        rows.append(
            {
                "case": f"{name} ({n:,} jobs)",
                "pgcron_s": round(t_plan + t_apply, 3),
                "plan_s": round(t_plan, 3),
                "apply_s": round(t_apply, 3),
                "round_trips": plan_trips + apply_trips,
                "summary": plan.summary(),
                "alternative_s": None,
                "alternative_round_trips": None,
            }
        )

    step("create", specs(n, 1))
    step("plan, nothing to do", specs(n, 1))
    step("update every command", specs(n, 2))
    step("prune all", [], prune=True)

    # The alternative: one call per job (what a loop over Client.schedule / Client.alter does).
    def per_job_create() -> None:
        with conn.transaction():
            for s in specs(n, 1):
                conn.execute(
                    "SELECT cron.schedule_in_database(%s::text, %s::text, %s::text, current_database()::text,"
                    " NULL, false)",
                    (f"{NS}:{s.name}", s.schedule, s.command),
                )

    def per_job_update() -> None:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT jobid FROM cron.job WHERE starts_with(jobname, %s)", (f"{NS}:",)
            ).fetchall()
        ]
        with conn.transaction():
            for i, jobid in enumerate(ids):
                conn.execute(
                    "SELECT cron.alter_job(%s::bigint, command := %s::text)", (jobid, f"SELECT 2 -- {i}")
                )

    t_create, _ = timed(per_job_create)
    t_update, _ = timed(per_job_update)
    rows[0].update(alternative_s=round(t_create, 3), alternative_round_trips=n + 2)
    rows[2].update(alternative_s=round(t_update, 3), alternative_round_trips=n + 3)
    cleanup_jobs(conn)
    return rows


def fill_history(conn: psycopg.Connection[Any], total: int, jobs: int, first_jobid: int) -> None:
    """``total`` rows over ``jobs`` jobids, one run per job per minute back in time, in 1M-row chunks."""
    chunk = 1_000_000
    for offset in range(0, total, chunk):
        conn.execute(
            "INSERT INTO cron.job_run_details (jobid, runid, job_pid, database, username, command, status,"
            " return_message, start_time, end_time)"
            " SELECT %(first)s + g %% %(jobs)s, nextval('cron.runid_seq'), 1000, 'postgres', 'postgres',"
            "        'SELECT 1', 'succeeded', '1 row',"
            "        now() - ((%(total)s - g) / %(jobs)s) * interval '1 minute',"
            "        now() - ((%(total)s - g) / %(jobs)s) * interval '1 minute' + interval '5 ms'"
            "   FROM generate_series(%(lo)s, %(hi)s) g",
            {
                "first": first_jobid,
                "jobs": jobs,
                "total": total,
                "lo": offset,
                "hi": min(offset + chunk, total) - 1,
            },
        )
    conn.execute("VACUUM ANALYZE cron.job_run_details")


def median_ms(conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...], repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        conn.execute(sql, params).fetchall()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2)


LATEST = (
    "SELECT runid, status, start_time FROM cron.job_run_details WHERE jobid = %s ORDER BY runid DESC"
    " LIMIT 100"
)
LAST_DAY = (
    "SELECT runid, status, start_time FROM cron.job_run_details WHERE jobid = %s"
    " AND start_time >= now() - interval '1 day' ORDER BY runid"
)


def bench_history(conn: psycopg.Connection[Any], total: int) -> list[dict[str, Any]]:
    conn.execute("DROP INDEX IF EXISTS cron.pgcron_job_run_details_jobid_runid_idx")
    conn.execute("TRUNCATE cron.job_run_details")
    jobs = 1000
    t_fill, _ = timed(lambda: fill_history(conn, total, jobs, 900_000))
    jobid = 900_000 + 17
    rows = []
    without = {"latest": median_ms(conn, LATEST, (jobid,), 3), "day": median_ms(conn, LAST_DAY, (jobid,), 3)}
    t_index, _ = timed(lambda: Client.connect(conn).ensure_index())
    with_index = {"latest": median_ms(conn, LATEST, (jobid,)), "day": median_ms(conn, LAST_DAY, (jobid,))}
    rows.append(
        {
            "case": f"one job's latest 100 runs ({total:,} rows, {jobs} jobs)",
            "pgcron_ms": with_index["latest"],
            "alternative_ms": without["latest"],
        }
    )
    rows.append(
        {
            "case": f"one job's runs of the last day ({total:,} rows)",
            "pgcron_ms": with_index["day"],
            "alternative_ms": without["day"],
        }
    )
    rows.append(
        {
            "case": f"build the index CONCURRENTLY (filling {total:,} rows took {t_fill:.0f} s)",
            "pgcron_ms": round(t_index * 1000),
            "alternative_ms": None,
        }
    )
    return rows


class _BatchClock:
    """Longest gap between two committed batches (= the longest purge transaction)."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.longest = 0.0

    def __call__(self, _deleted: int, _batches: int) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now


def _purge_once(conn: psycopg.Connection[Any], variant: str, total: int) -> dict[str, Any]:
    conn.execute("TRUNCATE cron.job_run_details")
    fill_history(conn, total, 100, 800_000)  # spans total/100 minutes back
    older = parse_duration(f"{total // 100 // 10}m")  # keep the newest 10 %
    if variant == "pgcron":
        clock = _BatchClock()
        t, result = timed(lambda: Client.connect(conn).purge_history(older, batch=10_000, on_batch=clock))
        deleted, longest = result.deleted, clock.longest
    else:
        t, cur = timed(
            lambda: conn.execute(
                "DELETE FROM cron.job_run_details WHERE start_time < now() - %s::interval", (older,)
            )
        )
        deleted, longest = cur.rowcount, t
    return {
        "case": f"purge {variant} ({deleted:,} of {total:,} rows)",
        "rows_per_s": round(deleted / t),
        "seconds": round(t, 2),
        "longest_transaction_s": round(longest, 3),
    }


def bench_purge(dsn: str, total: int) -> list[dict[str, Any]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = [_purge_once(conn, variant, total) for variant in ("pgcron", "single DELETE")]
        conn.execute("TRUNCATE cron.job_run_details")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", required=True, help="a THROWAWAY server (superuser)")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=10_000_000)
    parser.add_argument("--purge", type=int, default=2_000_000)
    parser.add_argument("--skip", default="", help="comma list of: plan, history, purge")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    install(args.dsn)
    notes = {
        "server": "throwaway PG17 + pg_cron 1.6 (bgw mode)",
        "jobs": args.jobs,
        "history_rows": args.history,
        "purge_rows": args.purge,
    }
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        if "plan" not in skip:
            report(
                "bench_jobs_plan",
                bench_plan(conn, args.jobs),
                notes=notes,
                columns=[
                    "case",
                    "pgcron_s",
                    "round_trips",
                    "alternative_s",
                    "alternative_round_trips",
                    "plan_s",
                    "apply_s",
                ],
            )
        if "history" not in skip:
            report(
                "bench_jobs_history",
                bench_history(conn, args.history),
                notes=notes,
                columns=["case", "pgcron_ms", "alternative_ms"],
            )
    if "purge" not in skip:
        report(
            "bench_jobs_purge",
            bench_purge(args.dsn, args.purge),
            notes=notes,
            columns=["case", "rows_per_s", "seconds", "longest_transaction_s"],
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
