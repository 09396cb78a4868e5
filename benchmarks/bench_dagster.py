"""Dagster run sensor benchmark: tick cost against the size of pg_cron's run history.

    python benchmarks/bench_dagster.py [--sizes 1000,100000] [--repeats 5] [--new-runs 100] [--keep]

Runs on its OWN throwaway cluster (``pgcron.dev.up("bench-dagster")``, PostgreSQL 17 + pg_cron 1.6,
stopped and deleted at the end unless ``--keep``): synthetic rows go straight into
``cron.job_run_details`` (superuser), 10 % of them belonging to the watched job, spread over 30 days.
Add 1000000 to ``--sizes`` for the million-row case (about a minute more on 2 cores).

Per history size (best of ``--repeats``):

* **sensor tick (ours)**: ``collect_events`` with the run-feed cursor when ``--new-runs`` runs
  arrived since the last tick (a watermark ``--new-runs`` below the newest runid): one primary-key range.
* **sensor tick via Dagster**: the same, invoked as a Dagster sensor (resource, connection, SensorResult).
* **first tick**: no cursor, one hour of lookback.
* **alternative (window re-read)**: what a sensor without a runid cursor does, re-read the last hour
  with ``client.runs(job=..., since=1 h)`` (filters on start_time, which has no index) and dedupe in memory.
* **audit**: the on-schedule audit of the watched job over 24 h (runs every 10 minutes by default).

Prints a table and writes benchmarks/results/dagster_sensor.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dagster as dg
import pgcron
import psycopg
from _runner import best_of, report
from dagster_pgcron import DagsterPgCronTranslator, PgCronResource, SensorSettings, build_pgcron_run_sensor
from dagster_pgcron.cursor import SensorCursor
from dagster_pgcron.sensor import ClientRunSource, collect_events
from pgcron import dev, runfeed
from pgcron.runfeed import RunCursor

INSTANCE = "bench-dagster"
WATCHED = "bench:watched"
OTHER = "bench:other"

# Synthetic history: runs of two jobs, 1 in 10 watched, 1 in 20 failed, start times 30 days back to now.
FILL = """
INSERT INTO cron.job_run_details (jobid, job_pid, database, username, command, status, return_message,
                                  start_time, end_time)
SELECT CASE WHEN g %% 10 = 0 THEN %(watched)s::bigint ELSE %(other)s::bigint END,
       1000 + g %% 500, 'postgres', 'postgres', 'SELECT 1',
       CASE WHEN g %% 20 = 0 THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN g %% 20 = 0 THEN 'ERROR: synthetic failure' ELSE 'SELECT 1' END,
       now() - make_interval(secs => (%(n)s - g) * (2592000.0 / %(n)s)),
       now() - make_interval(secs => (%(n)s - g) * (2592000.0 / %(n)s)) + interval '20 milliseconds'
  FROM generate_series(1, %(n)s::integer) AS g
"""


def fill(dsn: str, n: int, watched: int, other: int) -> float:
    start = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE cron.job_run_details")
        conn.execute(FILL, {"n": n, "watched": watched, "other": other})
        conn.execute("ANALYZE cron.job_run_details")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000", help="history sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--new-runs", type=int, default=100, help="runs that arrived since the last tick")
    parser.add_argument("--keep", action="store_true", help="leave the benchmark cluster running")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    state = dev.up(INSTANCE, flavour="1.6", background_workers=True, use_env=False)
    dsn = state.dsn
    rows: list[dict[str, object]] = []
    try:
        with pgcron.Client.connect(dsn) as client:
            # jobs that never fire during the benchmark (1 January only); their runs are synthetic
            watched = client.schedule(pgcron.JobSpec(WATCHED, "0 0 1 1 *", "SELECT 1"))
            other = client.schedule(pgcron.JobSpec(OTHER, "0 0 1 1 *", "SELECT 1"))
            spec = DagsterPgCronTranslator().get_asset_spec(watched)
            keys = {WATCHED: spec.key}
            steady = SensorSettings(audit_interval=None, settle=timedelta(0))
            first = SensorSettings(audit_interval=None, lookback=timedelta(hours=1))
            sensor = build_pgcron_run_sensor(specs=[spec], name="bench", settings=steady)
            resources = {"pg_cron": PgCronResource(dsn=dsn)}
            instance = dg.DagsterInstance.ephemeral()
            for n in sizes:
                load_s = fill(dsn, n, watched.jobid, other.jobid)
                newest = runfeed.start_runid(client, datetime.now(UTC) + timedelta(days=1))
                mark = newest - args.new_runs
                cursor_text = RunCursor(watermark=mark).serialize()

                def tick(cursor_text: str = cursor_text) -> None:
                    collect_events(ClientRunSource(client), SensorCursor.parse(cursor_text), keys, steady)

                def tick_dagster(cursor_text: str = cursor_text) -> None:
                    ctx = dg.build_sensor_context(instance=instance, cursor=cursor_text, resources=resources)
                    sensor(ctx)

                def first_tick() -> None:
                    collect_events(ClientRunSource(client), None, keys, first)

                def window() -> None:
                    seen: set[int] = set()
                    for run in client.runs(job=watched.jobid, since=timedelta(hours=1), limit=100_000):
                        seen.add(run.runid)

                def audit() -> None:
                    client.audit(timedelta(hours=24), job=WATCHED)

                reported = collect_events(
                    ClientRunSource(client), SensorCursor.parse(cursor_text), keys, steady
                ).reported
                row = {
                    "history_runs": n,
                    "load_s": round(load_s, 2),
                    "new_runs": args.new_runs,
                    "reported": reported,
                    "tick_ms": round(best_of(tick, args.repeats) * 1000, 2),
                    "tick_dagster_ms": round(best_of(tick_dagster, args.repeats) * 1000, 2),
                    "first_tick_ms": round(best_of(first_tick, args.repeats) * 1000, 2),
                    "alt_window_ms": round(best_of(window, args.repeats) * 1000, 2),
                    "audit_24h_ms": round(best_of(audit, max(1, args.repeats // 2)) * 1000, 2),
                }
                rows.append(row)
                print(row, flush=True)
            client.unschedule(WATCHED)
            client.unschedule(OTHER)
    finally:
        if not args.keep:
            dev.down(INSTANCE, purge=True)
    report(
        "dagster_sensor",
        rows,
        columns=[
            "history_runs",
            "new_runs",
            "reported",
            "tick_ms",
            "tick_dagster_ms",
            "first_tick_ms",
            "alt_window_ms",
            "audit_24h_ms",
            "load_s",
        ],
        packages=("pgcron", "dagster-pgcron", "dagster", "psycopg"),
        notes={
            "when": datetime.now(UTC).isoformat(),
            "cluster": "own throwaway cluster (pgcron.dev, PostgreSQL 17 + pg_cron 1.6), deleted afterwards",
            "tick": "collect_events with a watermark new_runs below the newest runid; audit off",
            "alt_window": "client.runs(job, since=1 h): re-read the last hour per tick (no start_time index)",
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
