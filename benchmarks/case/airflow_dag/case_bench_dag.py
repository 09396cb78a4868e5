"""The benchmark's Airflow DAG: the three jobs as three tasks, by one operator, run with ``dag.test()``.

Run by :mod:`case.airflow_bench` as a script in a fresh process, with ``AIRFLOW_HOME`` set to a scratch
home, ``BENCH_OPERATOR`` = ``airflow_sql`` (``SQLExecuteQueryOperator``) or ``airflow_pgcron``
(``PgCronOperator``), one connection ``bench_<job>`` per job (each through its own wire proxy), and
``BENCH_TIMINGS`` = a file that receives one JSON line per task start and end, with wall and process CPU
clocks, so each task's time and CPU are its own.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from datetime import datetime
from typing import Any

from airflow.sdk import DAG
from case import jobs

OPERATOR = os.environ.get("BENCH_OPERATOR", "airflow_sql")
TIMINGS = os.environ.get("BENCH_TIMINGS", os.devnull)


def _mark(event: str, context: Any) -> None:
    with open(TIMINGS, "a") as out:
        out.write(
            json.dumps(
                {
                    "task": context["ti"].task_id,
                    "event": event,
                    "wall": time.perf_counter(),
                    "cpu": time.process_time(),
                }
            )
            + "\n"
        )


def _pre(context: Any) -> None:
    _mark("pre", context)


def _post(context: Any, result: Any = None) -> None:
    _mark("post", context)


def _operator(job: jobs.Job) -> Any:
    conn_id = "bench_" + job.name
    common: dict[str, Any] = {"task_id": job.name, "pre_execute": _pre, "post_execute": _post}
    if OPERATOR == "airflow_sql":
        from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

        return SQLExecuteQueryOperator(conn_id=conn_id, sql=job.sql, autocommit=True, **common)
    from pgcron_airflow.operators.pgcron import PgCronOperator

    params = inspect.signature(PgCronOperator.__init__).parameters
    conn_param = next(p for p in ("pgcron_conn_id", "postgres_conn_id", "conn_id") if p in params)
    extra: dict[str, Any] = {conn_param: conn_id}
    if "deferrable" in params:
        # Blocking mode: the task waits for its run in its own process, like SQLExecuteQueryOperator.
        extra["deferrable"] = False
    return PgCronOperator(sql=job.sql, **extra, **common)


with DAG(
    dag_id="pgcron_case_bench_" + OPERATOR, schedule=None, start_date=datetime(2026, 1, 1), catchup=False
) as dag:
    previous = None
    for job in jobs.JOBS:
        task = _operator(job)
        if previous is not None:
            previous >> task
        previous = task


if __name__ == "__main__":
    started = time.perf_counter()
    run = dag.test()
    print(json.dumps({"state": str(run.state), "dag_test_s": time.perf_counter() - started}))
