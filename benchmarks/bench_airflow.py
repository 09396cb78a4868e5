"""Benchmark of the Airflow provider (issue 6): ``PgCronOperator`` beside ``SQLExecuteQueryOperator``.

    PGCRON_DSN=... python benchmarks/bench_airflow.py [--small 5] [--long]

Each operator runs one DAG with ``dag.test()`` in a fresh process (a scratch ``AIRFLOW_HOME``, ``airflow db
migrate`` on SQLite): ``--small`` sequential tasks running the same small statement (an ``UPDATE`` of one
row), then one task running ``SELECT pg_sleep(N)`` (10 s by default, 60 s with ``--long``). Operators:

* ``sql`` — ``SQLExecuteQueryOperator`` (the statement runs on the worker's connection);
* ``pgcron`` — ``PgCronOperator(deferrable=False)`` (pushdown; the worker waits for the run);
* ``pgcron_deferrable`` — ``PgCronOperator(deferrable=True)`` (pushdown; the triggerer waits).

Measured inside the task process: **per-task time** for the small statement (``pre_execute`` →
``post_execute``, median over the tasks), and **worker-slot seconds** for the long statement: the time
a task occupies a worker. For a deferrable task that is the part before it defers plus the part after
it resumes, not the wait in the triggerer. ``dag.test()`` runs the trigger inline in the same process,
so the deferrable DAG's wall time is not lower here; in a deployment the slot serves other tasks
during the wait.
Prints a table and writes ``benchmarks/results/bench_airflow.json`` (with ``--long``:
``bench_airflow_long.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import report

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
TABLE = "pgcron_bench_airflow_counter"
OPERATORS = ("sql", "pgcron", "pgcron_deferrable")

# The DAG, written into the scratch DAGs folder. Marks go to BENCH_MARKS as JSON lines:
# pre / post (BaseOperator hooks), defer (just before the slot is given up), resume (back from the trigger).
DAG_SOURCE = textwrap.dedent(
    """
    from __future__ import annotations

    import json, os, time
    from datetime import datetime

    from airflow.sdk import DAG
    from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
    from pgcron_airflow.operators.pgcron import PgCronOperator

    KIND = os.environ["BENCH_OPERATOR"]
    MARKS = os.environ["BENCH_MARKS"]
    SMALL = int(os.environ["BENCH_SMALL"])
    WARMUP = os.environ.get("BENCH_WARMUP") == "1"  # a first task that pays the process's own warm-up
    PGCRON_CONN = os.environ.get("BENCH_PGCRON_CONN", "postgres_default")
    # fixed statements (no SQL built from strings): the counter table and the two long lengths (0: none)
    SMALL_SQL = "UPDATE pgcron_bench_airflow_counter SET n = n + 1"
    LONG_SQL = {"0": None, "10": "SELECT pg_sleep(10)", "60": "SELECT pg_sleep(60)"}[
        os.environ["BENCH_LONG_SECONDS"]
    ]


    def mark(task_id, event):
        with open(MARKS, "a") as out:
            out.write(json.dumps({"task": task_id, "event": event, "t": time.perf_counter()}) + "\\n")


    class MarkedPgCron(PgCronOperator):
        def defer(self, **kwargs):
            mark(self.task_id, "defer")
            super().defer(**kwargs)

        def execute_complete(self, context, event=None):
            mark(self.task_id, "resume")
            return super().execute_complete(context, event)


    def make(task_id, statement):
        hooks = dict(
            pre_execute=lambda context: mark(task_id, "pre"),
            post_execute=lambda context, result=None: mark(task_id, "post"),
        )
        if KIND == "sql":
            return SQLExecuteQueryOperator(
                task_id=task_id, conn_id="postgres_default", sql=statement, autocommit=True, **hooks
            )
        return MarkedPgCron(
            task_id=task_id,
            sql=statement,
            postgres_conn_id=PGCRON_CONN,
            deferrable=(KIND == "pgcron_deferrable"),
            poll_interval=60,
            **hooks,
        )


    DAG_ID = "bench_airflow_" + os.environ.get("BENCH_LABEL", KIND)
    with DAG(DAG_ID, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        previous = make("warmup", SMALL_SQL) if WARMUP else None
        for i in range(SMALL):
            task = make(f"small_{i}", SMALL_SQL)
            if previous is not None:
                previous >> task
            previous = task
        if LONG_SQL is not None:
            long = make("long", LONG_SQL)
            if previous is not None:
                previous >> long

    if __name__ == "__main__":
        started = time.perf_counter()
        run = dag.test()
        wall = time.perf_counter() - started
        # Airflow's own record of each task instance: start_date -> end_date, as the task runner set them
        ti_s = {ti.task_id: ti.duration for ti in run.get_task_instances()}
        print(json.dumps({"state": str(run.state), "dag_test_s": wall, "ti_s": ti_s}))
    """
)


def _env(home: Path, dags: Path, dsn: str) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_POSTGRES_DEFAULT": dsn,
    }


@contextmanager
def scratch_airflow(prefix: str = "pgcron-bench-airflow-") -> Iterator[tuple[Path, Path]]:
    """A scratch ``AIRFLOW_HOME`` with a migrated SQLite database, and the DAG file: ``(home, dag_file)``."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        home, dags = Path(tmp) / "home", Path(tmp) / "dags"
        home.mkdir()
        dags.mkdir()
        dag_file = dags / "bench_airflow_dag.py"
        dag_file.write_text(DAG_SOURCE)
        env = _env(home, dags, "postgresql://unused@127.0.0.1/postgres")  # migrate does not connect to it
        subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
        yield home, dag_file


def _slot_seconds(marks: list[dict[str, Any]]) -> float:
    """Seconds a task held a worker: each stretch from a ``pre`` (the task starts or resumes on a worker) to
    the next ``defer`` (it hands the slot to the triggerer) or ``post`` (it ends)."""
    held, started = 0.0, None
    for mark in sorted(marks, key=lambda m: m["t"]):
        if mark["event"] == "pre":
            started = mark["t"]
        elif mark["event"] in ("defer", "post") and started is not None:
            held += mark["t"] - started
            started = None
    return held


def run_dag(
    kind: str, env: dict[str, str], dag_file: Path, marks: Path, small: int, long_s: float, **extra: str
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """``dag.test()`` of the DAG in a fresh process: its summary line (state, ``dag_test_s``, ``ti_s`` per
    task) and the marks per task. ``extra``: more ``BENCH_*`` environment (``BENCH_WARMUP``, ...)."""
    proc = subprocess.run(
        [sys.executable, str(dag_file)],
        env={
            **env,
            "BENCH_OPERATOR": kind,
            "BENCH_MARKS": str(marks),
            "BENCH_SMALL": str(small),
            "BENCH_LONG_SECONDS": str(int(long_s)),
            **extra,
        },
        capture_output=True,
        text=True,
        timeout=600 + 2 * long_s,
        check=False,
    )
    summary = next(
        (json.loads(x) for x in reversed(proc.stdout.splitlines()) if x.startswith('{"state"')), None
    )
    if proc.returncode != 0 or summary is None or "success" not in summary["state"]:
        raise RuntimeError(
            f"{kind}: dag.test() failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    by_task: dict[str, list[dict[str, Any]]] = {}
    for line in marks.read_text().splitlines():
        mark = json.loads(line)
        by_task.setdefault(mark["task"], []).append(mark)
    return summary, by_task


def small_seconds(by_task: dict[str, list[dict[str, Any]]], small: int) -> list[float]:
    """Per small task: its first mark (``pre_execute``) to its last (``post_execute``), in task order."""
    return [by_task[f"small_{i}"][-1]["t"] - by_task[f"small_{i}"][0]["t"] for i in range(small)]


def run_operator(
    kind: str, env: dict[str, str], dag_file: Path, marks: Path, small: int, long_s: float
) -> dict[str, Any]:
    summary, by_task = run_dag(kind, env, dag_file, marks, small, long_s)
    small_s = small_seconds(by_task, small)
    long_marks = by_task["long"]
    return {
        "operator": kind,
        "small_task_s_median": statistics.median(small_s),
        "small_task_s_min": min(small_s),
        "long_task_wall_s": long_marks[-1]["t"] - long_marks[0]["t"],
        "long_worker_slot_s": _slot_seconds(long_marks),
        "dag_test_s": summary["dag_test_s"],
    }


def counter_reset(dsn: str) -> None:
    """The counter the small statement updates: one row, ``n = 0``."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (n bigint NOT NULL)").format(sql.Identifier(TABLE))
        )
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(TABLE)))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (0)").format(sql.Identifier(TABLE)))


def counter_drop(dsn: str) -> int | None:
    """Drop the counter; its value (how many small statements ran), or None if it was gone."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        total = conn.execute(sql.SQL("SELECT n FROM {}").format(sql.Identifier(TABLE))).fetchone()
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(TABLE)))
    return int(total[0]) if total else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dsn", default=os.environ.get("PGCRON_DSN"), help="pg_cron database (default PGCRON_DSN)"
    )
    parser.add_argument("--small", type=int, default=5, help="small tasks per operator (default 5)")
    parser.add_argument("--long", action="store_true", help="a 60-second long statement (default 10 s)")
    args = parser.parse_args()
    if not args.dsn:
        parser.error("give --dsn or set PGCRON_DSN (a pg_cron database with the pgcron schema installed)")
    long_s = 60 if args.long else 10
    counter_reset(args.dsn)
    rows = []
    try:
        with scratch_airflow() as (home, dag_file):
            env = _env(home, dag_file.parent, args.dsn)
            for kind in OPERATORS:
                rows.append(
                    run_operator(kind, env, dag_file, home / f"marks-{kind}.jsonl", args.small, long_s)
                )
                print(f"{kind}: done", flush=True)
    finally:
        total = counter_drop(args.dsn)
    expected = args.small * len(rows)
    report(
        "bench_airflow_long" if args.long else "bench_airflow",
        rows,
        columns=[
            "operator",
            "small_task_s_median",
            "small_task_s_min",
            "long_task_wall_s",
            "long_worker_slot_s",
            "dag_test_s",
        ],
        packages=(
            "pgcron",
            "airflow-provider-pgcron",
            "apache-airflow",
            "apache-airflow-providers-common-sql",
        ),
        notes={
            "small_statement": "UPDATE pgcron_bench_airflow_counter SET n = n + 1",
            "long_statement": "SELECT pg_sleep(60)" if args.long else "SELECT pg_sleep(10)",
            "small_tasks_per_operator": args.small,
            "counter_after_all_small_tasks": total,
            "counter_expected": expected,
            "worker_slot": "sum of pre_execute→defer and pre_execute→post_execute stretches on a worker",
        },
    )


if __name__ == "__main__":
    main()
