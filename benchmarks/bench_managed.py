"""Pushdown on each managed flavour (issue 13): start latency and clean-up time, as the admin and an app role.

    python benchmarks/bench_managed.py [--flavours rds,cloudsql,azure,supabase,neon] [--runs 5]

Starts each emulation in turn (``pgcron dev up --managed``; stopped and purged afterwards), installs the
engine as the customer's admin, creates an app role and grants it pgcron's privileges (what ``pgcron schema
grant`` runs). Per role: ``run_now("SELECT 1")`` ``--runs`` times (wall time of submit + wait), then the time
until none of that role's temporary jobs is left in ``cron.job`` — for the admin the engine's maintenance job
removes them (every 5 s); for an app role its own next submit does (``pgcron.tidy_own()``), which this
measures by calling ``tidy_own`` every 0.5 s. Writes ``benchmarks/results/bench_managed.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import pgcron
import psycopg
from pgcron import dev
from pgcron.schema import install
from psycopg import sql
from psycopg.conninfo import make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import report

APP = "bench_app"


def _left(superuser: str, role: str) -> int:
    with psycopg.connect(superuser, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM cron.job WHERE starts_with(jobname, 'pgcron:run:') AND username = %s",
            (role,),
        ).fetchone()
    return int(row[0]) if row else -1


def _bench_role(dsn: str, superuser: str, role: str, runs: int, tidy: bool) -> dict[str, object]:
    latencies = []
    with pgcron.Client.connect(dsn) as client:
        for _ in range(runs):
            started = time.perf_counter()
            run = client.run_now("SELECT 1", timeout=60)
            latencies.append(time.perf_counter() - started)
            assert run.status is pgcron.RunStatus.SUCCEEDED, run
    started = time.perf_counter()
    deadline = started + 60
    while _left(superuser, role) and time.perf_counter() < deadline:
        if tidy:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("SELECT pgcron.tidy_own()")
        time.sleep(0.5)
    left = _left(superuser, role)
    return {
        "role": role,
        "runs": runs,
        "run_now_p50_s": round(statistics.median(latencies), 2),
        "run_now_max_s": round(max(latencies), 2),
        "cleanup_s": round(time.perf_counter() - started, 1),
        "jobs_left": left,
    }


def bench(flavour: str, runs: int) -> list[dict[str, object]]:
    name = f"bench-managed-{flavour}"
    state = dev.up(name, managed=flavour, use_env=False)
    try:
        assert state.superuser_dsn and state.admin_role
        install(state.dsn)
        with psycopg.connect(state.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(APP)))
        with pgcron.Client.connect(state.dsn) as client:
            app_ok = client.grant_role(APP).ok
        rows: list[dict[str, object]] = []
        for role, dsn, tidy in (
            (state.admin_role, state.dsn, False),
            (APP, make_conninfo(state.dsn, user=APP), True),
        ):
            if role == APP and not app_ok:
                rows.append({"role": role, "runs": 0, "note": "app roles cannot use cron here"})
                continue
            rows.append(_bench_role(dsn, state.superuser_dsn, role, runs, tidy))
        for row in rows:
            row["flavour"] = flavour
            row["mode"] = state.mode
        return rows
    finally:
        dev.down(name, purge=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flavours", default="rds,cloudsql,azure,supabase,neon")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    for flavour in args.flavours.split(","):
        rows += bench(flavour.strip(), args.runs)
    report(
        "bench_managed",
        rows,
        columns=[
            "flavour",
            "mode",
            "role",
            "runs",
            "run_now_p50_s",
            "run_now_max_s",
            "cleanup_s",
            "jobs_left",
        ],
        notes={
            "command": "SELECT 1",
            "cleanup": "admin: maintenance every 5 s; app role: tidy_own every 0.5 s",
        },
    )


if __name__ == "__main__":
    main()
