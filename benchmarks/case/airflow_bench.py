"""Method (c): the same SQL through Airflow operators, each run as a real ``dag.test()`` in its own process.

Airflow gets a scratch ``AIRFLOW_HOME`` with a SQLite metadata database (``airflow db migrate`` once). Each
job's task uses its own connection routed through its own wire proxy, so bytes and round trips are per task.
Wall time and CPU per task are taken between the operator's ``pre_execute`` and ``post_execute`` inside the
task process (see ``airflow_dag/case_bench_dag.py``); ``dag.test()``'s own start-up (about 10 s of Execution
API and DAG sync) is recorded separately as ``dag_test_s`` and left out of the task figures, which flatters
Airflow, not pgcron.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from case import jobs, measure
from case.measure import Sample, WireProxy

if TYPE_CHECKING:
    from case.runner import Bench

logger = logging.getLogger(__name__)

DAG_DIR = Path(__file__).resolve().parent / "airflow_dag"
DAG_FILE = DAG_DIR / "case_bench_dag.py"


def pgcron_operator_available() -> bool:
    try:
        from pgcron_airflow.operators.pgcron import PgCronOperator  # noqa: F401
    except ImportError:
        return False
    return True


def _airflow_env(home: Path, proxies: dict[str, WireProxy], dsn_for: Any) -> dict[str, str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_DIR),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "PYTHONPATH": str(measure.BENCH_DIR),
    }
    for name, proxy in proxies.items():
        env["AIRFLOW_CONN_BENCH_" + name.upper()] = dsn_for(proxy.port)
    return env


def run_all(
    bench: Bench, rows: int, repeats: int, timeout: float
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Run every job through each available Airflow operator ``repeats`` times at ``rows`` rows."""
    from case.runner import _with_port

    methods = ["airflow_sql"]
    if pgcron_operator_available():
        methods.append("airflow_pgcron")
    else:
        logger.warning(
            "PgCronOperator or pgcron pushdown not available: measuring SQLExecuteQueryOperator only"
        )
    proxies = {job.name: WireProxy(bench.host, bench.port) for job in jobs.JOBS}
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="pgcron-bench-airflow-") as tmp:
            home = Path(tmp)
            env = _airflow_env(home, proxies, lambda port: _with_port(bench.dsn, port))
            subprocess.run(
                [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
                env=env,
                check=True,
                capture_output=True,
                timeout=600,
            )
            for rep in range(repeats):
                for method in methods:
                    for job in jobs.JOBS:
                        jobs.reset(bench.admin, job, rows)
                    timings = home / f"timings-{method}-{rep}.jsonl"
                    before = {name: p.snap() for name, p in proxies.items()}
                    proc = subprocess.run(
                        [sys.executable, str(DAG_FILE)],
                        env={**env, "BENCH_OPERATOR": method, "BENCH_TIMINGS": str(timings)},
                        check=False,
                        capture_output=True,
                        text=True,
                        timeout=timeout,
                    )
                    after = {name: p.snap() for name, p in proxies.items()}
                    summary = _last_json(proc.stdout)
                    if proc.returncode != 0 or summary is None or "success" not in summary["state"]:
                        raise RuntimeError(
                            f"Airflow {method} run failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
                        )
                    per_task = _task_clocks(timings)
                    for job in jobs.JOBS:
                        wall, cpu = per_task[job.name]
                        c2s, s2c, trips = measure.wire_delta(before[job.name], after[job.name])
                        sample = Sample(wall, c2s, s2c, trips, cpu, rows, None).as_dict()
                        sample["dag_test_s"] = round(summary["dag_test_s"], 2)
                        sample["digest"] = bench.check(method, job)
                        out.setdefault((job.name, method), []).append(sample)
                        logger.info(
                            "%s %s rows=%d rep=%d wall=%.3fs bytes=%d",
                            job.name,
                            method,
                            rows,
                            rep + 1,
                            wall,
                            sample["wire_bytes"],
                        )
    finally:
        for proxy in proxies.values():
            proxy.stop()
    return out


def _last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    return None


def _task_clocks(path: Path) -> dict[str, tuple[float, float]]:
    """Per task: wall and CPU from its first ``pre_execute`` to its last ``post_execute``."""
    first: dict[str, dict[str, float]] = {}
    last: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "pre":
            first.setdefault(event["task"], event)
        else:
            last[event["task"]] = event
    return {
        task: (last[task]["wall"] - start["wall"], last[task]["cpu"] - start["cpu"])
        for task, start in first.items()
    }
