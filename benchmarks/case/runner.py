"""Orchestration: reset data, run each job each way, check the outcomes agree, print a table, write JSON.

Order of work. For each size and job, every repetition runs every method back to back on freshly rebuilt
data (so drift on the shared machine hits all methods alike). The pushdown runs two ways: on pg_cron's
per-submission job, and on a warm lane of the connecting role (ADR 0006) started before the first run and
stopped before Airflow's runs (so ``PgCronOperator`` there takes the per-submission job, as before).
Airflow runs at the main size only: one ``dag.test()`` per operator per repetition runs the three jobs as
three tasks, each task talking through its own wire proxy so its bytes are its own.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from case import airflow_bench, apptier, jobs, measure
from case.indb import InDatabase, Lane
from case.measure import Helper, Sample, WireProxy

logger = logging.getLogger(__name__)

METHOD_LABELS = {
    "pushdown": "(a) pushdown, per-submission job",
    "pushdown_lane": "(a) pushdown, warm lane",
    "app_tier": "(b) app-tier service",
    "airflow_sql": "(c) Airflow SQLExecuteQueryOperator",
    "airflow_pgcron": "(c) Airflow PgCronOperator",
}
RUN_TIMEOUT = 1800.0


def _with_port(dsn: str, port: int) -> str:
    parts = urlsplit(dsn)
    netloc = parts.netloc.rsplit("@", 1)
    host = "127.0.0.1:" + str(port)
    new_netloc = netloc[0] + "@" + host if len(netloc) == 2 else host
    return urlunsplit((parts.scheme, new_netloc, parts.path, parts.query, parts.fragment))


def _server_address(dsn: str) -> tuple[str, int]:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    return str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)


class Bench:
    """Holds the helper processes and connections for one benchmark session."""

    def __init__(self, dsn: str) -> None:
        if not dsn.startswith(("postgresql://", "postgres://")):
            raise SystemExit(
                "--dsn must be a postgresql:// URL (the runner rewrites its port to the proxy's)"
            )
        self.dsn = dsn
        self.host, self.port = _server_address(dsn)
        self.admin = psycopg.connect(dsn, autocommit=True)
        # Two runners on one server would rebuild each other's tables mid-run: refuse the second.
        locked = self.admin.execute(
            "SELECT pg_try_advisory_lock(hashtext('pgcron case benchmark'))"
        ).fetchone()
        if not (locked and locked[0]):
            raise SystemExit("another case benchmark is running against this server; wait for it to finish")
        where = self.admin.execute(
            "SELECT current_database(), current_setting('cron.database_name', true)"
        ).fetchone()
        if where is not None and where[1] is not None and where[0] != where[1]:
            raise SystemExit(
                f"--dsn connects to database {where[0]!r} but pg_cron lives in {where[1]!r}: "
                f"point the DSN at "
                f"{where[1]!r} (pushdown into another database starts on a cron minute, not in seconds)"
            )
        self.admin.execute(jobs.SCHEMA_SQL)
        self.proxy = WireProxy(self.host, self.port)
        self.proxy_dsn = _with_port(dsn, self.proxy.port)
        self.service_port = measure.free_port()
        self.service = Helper("apptier", str(self.service_port), self.proxy_dsn)
        self.indb = InDatabase(self.proxy_dsn, install_dsn=dsn)
        # A scheduler is a long-lived process: its client has detected capabilities and opened its LISTEN
        # connection long before a job runs (the service's connection is likewise opened at start-up).
        self.indb.run("SELECT 1", RUN_TIMEOUT)
        self.lane: Lane | None = None
        self.lane_indb: InDatabase | None = None

    def start_lane(self) -> None:
        """A one-worker lane of the DSN's role, controlled over a direct connection (not counted), and a
        warm client that may use it; fails unless the warm-up run took the lane."""
        self.lane = Lane(self.dsn)
        self.lane_indb = InDatabase(self.proxy_dsn, install_dsn=self.dsn, lane=True)
        via = self.lane_indb.run("SELECT 1", RUN_TIMEOUT)["via"]
        if via != "lane":
            raise RuntimeError(f"the warm-up run took {via!r}, not the lane")

    def stop_lane(self) -> None:
        lane, self.lane = self.lane, None
        indb, self.lane_indb = self.lane_indb, None
        try:
            if indb is not None:
                indb.close()
        finally:
            if lane is not None:
                lane.stop()

    def close(self, *, keep: bool) -> None:
        self.stop_lane()
        self.indb.close()
        self.service.stop()
        self.proxy.stop()
        if not keep:
            self.admin.execute("DROP SCHEMA IF EXISTS bench CASCADE")
        self.admin.close()

    # -- one measured run -----------------------------------------------------------------------------
    def measure(self, method: str, job: jobs.Job, rows: int) -> dict[str, Any]:
        jobs.reset(self.admin, job, rows)
        wire0, cpu0, svc0 = self.proxy.snap(), measure.self_cpu(), measure.process_cpu(self.service.pid)
        start = time.perf_counter()
        indb = self.lane_indb if method == "pushdown_lane" else self.indb
        if method in ("pushdown", "pushdown_lane"):
            assert indb is not None, "start_lane() first"
            result = indb.run(job.sql, RUN_TIMEOUT)
        else:
            result = apptier.trigger(self.service_port, job.name, RUN_TIMEOUT)
        wall = time.perf_counter() - start
        cpu = measure.self_cpu() - cpu0
        if method == "app_tier":
            cpu += measure.process_cpu(self.service.pid) - svc0
        c2s, s2c, trips = measure.wire_delta(wire0, self.proxy.snap())
        sample = Sample(wall, c2s, s2c, trips, cpu, rows, result.get("rows")).as_dict()
        sample["digest"] = self.check(method, job)
        if method in ("pushdown", "pushdown_lane"):
            sample["server_s"] = result.get("server_s")
            sample["pushdown_path"] = indb.path
            sample["via"] = result.get("via")
        if method == "app_tier":
            sample["app_read_rows"] = result.get("read_rows")
            sample["app_write_batches"] = result.get("batches")
        return sample

    def check(self, method: str, job: jobs.Job) -> list[int]:
        """Digest of the end state; for the rollup, also prove it equals the rollup computed from scratch."""
        digest_sql = job.app_digest_sql if method == "app_tier" else job.digest_sql
        got = jobs.digest(self.admin, digest_sql)
        if job.truth_sql is not None:
            truth = jobs.digest(self.admin, job.truth_sql)
            if got != truth:
                raise RuntimeError(f"{method} left {job.name} wrong: {got} != {truth}")
        return got


def _agree(samples: dict[str, list[dict[str, Any]]], job: str, rows: int) -> None:
    digests = {(m, tuple(s["digest"])) for m, runs in samples.items() for s in runs}
    if len({d for _, d in digests}) > 1:
        raise RuntimeError(f"methods disagree on {job} at {rows} rows: {sorted(digests)}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = sorted({*args.scale_rows, args.rows})
    bench = Bench(args.dsn)
    methods = ["pushdown", "pushdown_lane", "app_tier"] if args.lane else ["pushdown", "app_tier"]
    results: dict[str, Any] = {
        "meta": {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
            "server": bench.admin.execute("SELECT version()").fetchone()[0],  # type: ignore[index]
            "pg_cron": bench.admin.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'"
            ).fetchone()[0],  # type: ignore[index]
            "execution_mode": bench.admin.execute(
                "SELECT setting FROM pg_settings WHERE name = 'cron.use_background_workers'"
            ).fetchone(),
            "pushdown_path": bench.indb.path,
            "lane": "one worker, started before the first run" if args.lane else None,
            "repeats": args.repeats,
            "main_rows": args.rows,
            "sizes": sizes,
        },
        "runs": {},
    }
    try:
        if args.lane:
            bench.start_lane()
        for rows in sizes:
            for job in jobs.JOBS:
                per_method: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
                for rep in range(args.repeats):
                    for method, samples in per_method.items():
                        sample = bench.measure(method, job, rows)
                        samples.append(sample)
                        logger.info(
                            "%s %s rows=%d rep=%d wall=%.3fs bytes=%d",
                            job.name,
                            method,
                            rows,
                            rep + 1,
                            sample["wall_s"],
                            sample["wire_bytes"],
                        )
                _agree(per_method, job.name, rows)
                for method, samples in per_method.items():
                    _store(results, job.name, method, rows, samples)
        bench.stop_lane()  # Airflow's PgCronOperator below takes the per-submission job, as before
        if not args.skip_airflow:
            airflow_results = airflow_bench.run_all(bench, args.rows, args.repeats, RUN_TIMEOUT)
            for (job_name, method), samples in airflow_results.items():
                _store(results, job_name, method, args.rows, samples)
            for job in jobs.JOBS:
                ran = {
                    m: v[str(args.rows)]["samples"]
                    for m, v in results["runs"][job.name].items()
                    if str(args.rows) in v
                }
                _agree(ran, job.name, args.rows)
    finally:
        bench.close(keep=args.keep)
    results["meta"]["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def _store(results: dict[str, Any], job: str, method: str, rows: int, samples: list[dict[str, Any]]) -> None:
    results["runs"].setdefault(job, {}).setdefault(method, {})[str(rows)] = {
        "samples": samples,
        "summary": measure.summarize(samples),
    }


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def table(results: dict[str, Any]) -> str:
    """The human table: one line per job, method and size, medians with the wall-time spread."""
    head = (
        f"{'job':<20} {'method':<37} {'rows':>9} {'wall s':>8} {'spread':>7} {'wire':>10} "
        f"{'trips':>7} {'cpu s':>7} {'rows/s':>11}"
    )
    lines = [head, "-" * len(head)]
    for job_name, methods in results["runs"].items():
        for method, by_size in methods.items():
            for rows, data in sorted(by_size.items(), key=lambda kv: int(kv[0])):
                s = data["summary"]
                lines.append(
                    f"{job_name:<20} {METHOD_LABELS[method]:<37} {int(rows):>9,} "
                    f"{s['wall_s']['median']:>8.3f} {s['wall_s']['spread'] * 100:>6.0f}% "
                    f"{_human_bytes(s['wire_bytes']['median']):>10} {s['round_trips']['median']:>7.0f} "
                    f"{s['client_cpu_s']['median']:>7.2f} {s['rows_per_s']['median']:>11,.0f}"
                )
    return "\n".join(lines)


def _server(summary: dict[str, Any]) -> str:
    server = summary.get("server_s")
    return "—" if server is None else f"{server['median']:.3f}"


def markdown_table(results: dict[str, Any], rows: int | None = None) -> str:
    """The same figures as :func:`table`, as a Markdown table (for docs/benchmarks.md), one size or all."""
    lines = [
        (
            "| job | method | rows | wall s (median) | wall min–max | in-DB run s | wire bytes "
            "| round trips | client CPU s | rows/s |"
        ),
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for job_name, methods in results["runs"].items():
        for method, by_size in methods.items():
            for size, data in sorted(by_size.items(), key=lambda kv: int(kv[0])):
                if rows is not None and int(size) != rows:
                    continue
                s = data["summary"]
                lines.append(
                    f"| {job_name} | {METHOD_LABELS[method]} | {int(size):,} | {s['wall_s']['median']:.3f} "
                    f"| {s['wall_s']['min']:.3f}–{s['wall_s']['max']:.3f} "
                    f"| {_server(s)} "
                    f"| {_human_bytes(s['wire_bytes']['median'])} | {s['round_trips']['median']:.0f} "
                    f"| {s['client_cpu_s']['median']:.2f} | {s['rows_per_s']['median']:,.0f} |"
                )
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run_case.py", description=__doc__)
    parser.add_argument(
        "--dsn",
        default=os.environ.get("PGCRON_BENCH_DSN") or os.environ.get("PGCRON_DSN"),
        help="server with pg_cron >= 1.5 (default $PGCRON_BENCH_DSN, then $PGCRON_DSN), connected to "
        "pg_cron's cron.database_name; tables go in schema 'bench' there, dropped at the end",
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="main size, all methods (default 1M)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per method and size (default 3)")
    parser.add_argument("--large", action="store_true", help="add 10M rows to the scale curves")
    parser.add_argument(
        "--scale", default="10000,100000", help="extra sizes for (a) and (b), comma-separated"
    )
    parser.add_argument("--skip-airflow", action="store_true", help="skip method (c)")
    parser.add_argument(
        "--no-lane",
        dest="lane",
        action="store_false",
        help="skip the pushdown on a warm lane (pg_cron < 1.5 has no lanes)",
    )
    parser.add_argument(
        "--dev-server",
        action="store_true",
        help="start a throwaway server with `pgcron dev up --name bench` and remove it afterwards "
        "(the default when no --dsn, $PGCRON_BENCH_DSN or $PGCRON_DSN is given), with the settings of "
        "docs/benchmarks.md's Setup",
    )
    parser.add_argument(
        "--libpq",
        action="store_true",
        help="with --dev-server: pg_cron in libpq mode (cron.use_background_workers = off), "
        "server `bench-libpq`",
    )
    parser.add_argument("--keep", action="store_true", help="keep schema 'bench' afterwards")
    parser.add_argument("--out", type=Path, default=measure.BENCH_DIR / "results" / "case.json")
    parser.add_argument("--plots", type=Path, default=measure.BENCH_DIR.parent / "docs" / "img")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    args.scale_rows = [int(v) for v in args.scale.split(",") if v.strip()]
    if args.large:
        args.scale_rows.append(10_000_000)
    return args


# The server settings of docs/benchmarks.md's Setup, over the dev server's own (which trades durability for
# speed): a production server's durability, room for the 1M-row tables, no statement log per run.
DEV_SETTINGS = (
    "ALTER SYSTEM SET fsync = on",
    "ALTER SYSTEM SET synchronous_commit = on",
    "ALTER SYSTEM SET full_page_writes = on",
    "ALTER SYSTEM SET shared_buffers = '512MB'",
    "ALTER SYSTEM SET max_wal_size = '4GB'",
    "ALTER SYSTEM SET cron.log_statement = off",
)


def _dev_server(name: str, *, background_workers: bool) -> str:
    """Bring up dev server ``name`` with :data:`DEV_SETTINGS` (a restart, for shared_buffers); its DSN."""
    from pgcron import dev

    dsn = dev.up(name, background_workers=background_workers, use_env=False).dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in DEV_SETTINGS:
            conn.execute(statement)
    dev.down(name)
    return dev.up(name, background_workers=background_workers, use_env=False).dsn


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    if args.dev_server or not args.dsn:
        from pgcron import dev

        name = "bench-libpq" if args.libpq else "bench"
        try:
            args.dsn = _dev_server(name, background_workers=not args.libpq)
            results = run(args)
        finally:
            dev.down(name, purge=True)
    else:
        results = run(args)
    results["meta"]["runner_seconds"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown_table(results) + "\n")
    print(table(results))
    print(f"\nJSON: {args.out}  (runner took {results['meta']['runner_seconds']} s)")
    if not args.no_plots:
        from case import plots

        for path in plots.make_all(results, args.plots, prefix=args.out.stem):
            print(f"plot: {path}")
    return 0
