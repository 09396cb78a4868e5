"""Airflow per-task cost with a warm lane (issue 15): ``PgCronOperator`` on a lane, ``PgCronOperator`` on the
per-submission job and ``SQLExecuteQueryOperator``, in both execution modes, in one run.

    hatch run python benchmarks/bench_airflow_lanes.py [--tasks 40] [--modes bgw,libpq]
        [--dsn DSN] [--libpq-dsn DSN]

Each scenario is one DAG of ``--tasks`` sequential tasks running the same small statement (an ``UPDATE`` of
one counter row), run by ``dag.test()`` in a fresh process (the DAG of ``bench_airflow.py``; a scratch
``AIRFLOW_HOME``, ``airflow db migrate`` on SQLite). Scenarios, in this order:

* ``SQLExecuteQueryOperator`` — the statement on the task's own connection;
* ``PgCronOperator, warm lane`` — pushdown, with a one-worker lane of the connecting role started first;
* ``PgCronOperator, per-submission job`` — the same operator while the lane runs, on a connection whose
  ``options`` set ``pgcron.lanes = off`` (ADR 0006), so every submission takes pg_cron's one-shot job.

Every DAG starts with one more task of the same kind that is not counted: the first task of a ``dag.test()``
process pays Airflow's own start-up (about 4 s). Per counted task: **task instance** seconds — Airflow's own
record, ``start_date`` → ``end_date`` of the task instance, which includes the task runner's work around the
operator — and **execute** seconds, the operator's ``pre_execute`` → ``post_execute`` inside the task. p50 and
p95 over the tasks, and each pushdown's path as the engine recorded it (``pgcron.submission.via``).

As ``bench_lanes.py``, everything runs as a throw-away LOGIN role (lanes are per role) that is dropped at the
end, its lane stopped whatever happens. Without ``--dsn`` / ``--libpq-dsn`` (or ``PGCRON_DSN`` /
``PGCRON_LIBPQ_DSN``) it brings up its own dev servers (``pgcron.dev.up("bench-airflow-bgw")`` and
``("bench-airflow-libpq", background_workers=False)``) and removes them afterwards. Prints a table and writes
``benchmarks/results/bench_airflow_lanes.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pgcron
import pgcron.dev
from _runner import report
from bench_airflow import TABLE, _env, counter_drop, counter_reset, run_dag, scratch_airflow, small_seconds
from bench_lanes import pct, throwaway_role
from bench_waits import as_uri
from pgcron.schema import install

JOB_CONN = "pgcron_job"  # the Airflow connection of the job-path scenario (pgcron.lanes = off)
# (label, operator kind in the DAG, Airflow connection of the PgCronOperator)
SCENARIOS = (
    ("SQLExecuteQueryOperator", "sql", "postgres_default"),
    ("PgCronOperator, warm lane", "pgcron", "postgres_default"),
    ("PgCronOperator, per-submission job", "pgcron", JOB_CONN),
)
SERVERS = {"bgw": ("bench-airflow-bgw", True), "libpq": ("bench-airflow-libpq", False)}


def _paths(dsn: str, role: str, since: Any) -> dict[str, int]:
    """How many of ``role``'s submissions since ``since`` each path ran (``pgcron.submission.via``)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT via, count(*) FROM pgcron.submission WHERE submitted_by = %s AND submitted_at >= %s "
            "GROUP BY via ORDER BY via",
            (role, since),
        ).fetchall()
    return {str(via): int(n) for via, n in rows}


def run_mode(mode: str, su_dsn: str, home: Path, dag_file: Path, tasks: int) -> list[dict[str, Any]]:
    install(su_dsn)
    counter_reset(su_dsn)
    rows: list[dict[str, Any]] = []
    try:
        with throwaway_role(su_dsn, TABLE, "SELECT, UPDATE") as dsn:
            role = str(conninfo_to_dict(dsn)["user"])
            env = {
                **_env(home, dag_file.parent, as_uri(dsn)),
                "AIRFLOW_CONN_" + JOB_CONN.upper(): as_uri(dsn, options="-c pgcron.lanes=off"),
            }
            client = pgcron.Client.connect(dsn)
            try:
                client.lane_start(1)
                for label, kind, conn_id in SCENARIOS:
                    with psycopg.connect(su_dsn, autocommit=True) as conn:
                        since = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
                    summary, by_task = run_dag(
                        kind,
                        env,
                        dag_file,
                        home / f"marks-{mode}-{len(rows)}.jsonl",
                        tasks,
                        0,
                        BENCH_WARMUP="1",
                        BENCH_PGCRON_CONN=conn_id,
                        BENCH_LABEL=f"{kind}_{conn_id}",
                    )
                    rows.append(_row(mode, label, summary, by_task, tasks, _paths(su_dsn, role, since)))
                    print(rows[-1], flush=True)
            finally:
                try:
                    client.lane_stop()
                finally:
                    client.close()
    finally:
        total = counter_drop(su_dsn)
    for row in rows:
        row["counter"] = f"{total} of {len(rows) * (tasks + 1)}"  # every statement ran exactly once
    return rows


def _row(
    mode: str,
    label: str,
    summary: dict[str, Any],
    by_task: dict[str, list[dict[str, Any]]],
    tasks: int,
    via: dict[str, int],
) -> dict[str, Any]:
    ti = [float(summary["ti_s"][f"small_{i}"]) for i in range(tasks)]
    execute = small_seconds(by_task, tasks)
    return {
        "mode": mode,
        "scenario": label,
        "tasks": tasks,
        "task instance p50 s": pct(ti, 0.5),
        "task instance p95 s": pct(ti, 0.95),
        "execute p50 s": pct(execute, 0.5),
        "execute p95 s": pct(execute, 0.95),
        "execute mean s": statistics.fmean(execute),
        "via": ", ".join(f"{path} {n}" for path, n in (via or {"direct": tasks + 1}).items()),
        "dag_test_s": summary["dag_test_s"],
        "ti_s": ti,
        "execute_s": execute,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=40, help="counted tasks per scenario (default 40)")
    parser.add_argument("--modes", default="bgw,libpq", help="comma-separated: bgw, libpq")
    parser.add_argument("--dsn", default=os.environ.get("PGCRON_DSN"), help="bgw-mode server (superuser)")
    parser.add_argument("--libpq-dsn", default=os.environ.get("PGCRON_LIBPQ_DSN"), help="libpq-mode server")
    args = parser.parse_args()
    given = {"bgw": args.dsn, "libpq": args.libpq_dsn}
    rows: list[dict[str, Any]] = []
    started: list[str] = []
    try:
        with scratch_airflow("pgcron-bench-airflow-lanes-") as (home, dag_file):
            for mode in args.modes.split(","):
                dsn = given[mode]
                if not dsn:
                    name, bgw = SERVERS[mode]
                    dsn = pgcron.dev.up(name, background_workers=bgw, use_env=False).dsn
                    started.append(name)
                rows += run_mode(mode, dsn, home, dag_file, args.tasks)
    finally:
        for name in started:
            pgcron.dev.down(name, purge=True)
    sql_p50 = {r["mode"]: r["task instance p50 s"] for r in rows if r["scenario"] == SCENARIOS[0][0]}
    for row in rows:
        row["Δ p50 vs SQL s"] = row["task instance p50 s"] - sql_p50.get(row["mode"], 0.0)
    report(
        "bench_airflow_lanes",
        rows,
        columns=[
            "mode",
            "scenario",
            "task instance p50 s",
            "task instance p95 s",
            "Δ p50 vs SQL s",
            "execute p50 s",
            "execute p95 s",
            "via",
            "counter",
        ],
        packages=(
            "pgcron",
            "airflow-provider-pgcron",
            "apache-airflow",
            "apache-airflow-providers-common-sql",
            "psycopg",
        ),
        notes={
            "statement": "UPDATE pgcron_bench_airflow_counter SET n = n + 1",
            "tasks_per_scenario": args.tasks,
            "warm_up": "one more task first in every DAG (not counted): Airflow's own start-up",
            "task_instance": "Airflow's task instance start_date -> end_date (dag.test(), SQLite)",
            "execute": "the operator's pre_execute -> post_execute inside the task",
            "lane": "one worker of the throw-away role's lane, started before the first scenario",
            "job_path": "connection options '-c pgcron.lanes=off': the engine keeps the per-submission job",
        },
    )


if __name__ == "__main__":
    main()
