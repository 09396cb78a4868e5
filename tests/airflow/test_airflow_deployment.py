"""Acceptance in the real deployment shape (issue 12): Airflow's scheduler (LocalExecutor), API server and DAG
processor, and a separate ``airflow triggerer`` process, run a DAG of 200 deferred ``PgCronOperator`` tasks
against a pg_cron server with ``max_connections = 100``: every task succeeds, exactly once.

Before connections were shared per process and target, each deferred task held three connections in the
triggerer, so 200 of them could not even be waited for on such a server. Every run here queues behind an
advisory lock the test holds until all 200 tasks are deferred at once; then the lock is released.

Airflow's metadata database is a scratch database on the libpq-mode test server, so Airflow's own
connections never count against the server under test.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

# 400 task starts (submit and defer, then resume) through 8 worker slots: ~10-20 minutes on 2 cores
pytestmark = [
    pytest.mark.acceptance,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(3000),
]

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DAG_ID = "pgcron_deferred_200"
TASKS = 200
LOCK_KEY = 4_242_432  # = the constant in the DAG's SQL
COMPONENTS = ("api-server", "dag-processor", "scheduler", "triggerer")

DAG_SOURCE = textwrap.dedent(
    '''
    """200 deferred PgCronOperator tasks; each records its task id once (the acceptance test reads them)."""

    from datetime import datetime

    from airflow.sdk import DAG
    from pgcron_airflow.operators.pgcron import PgCronOperator

    # The run waits on an advisory lock the test holds (4242432), then records this task's id.
    SQL = (
        "SELECT pg_advisory_xact_lock_shared(4242432); "
        "INSERT INTO {{ params.table }} (task_id) VALUES ('{{ ti.task_id }}')"
    )

    with DAG(
        dag_id="pgcron_deferred_200",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_tasks=200,
        params={"table": "public.unused"},
    ) as dag:
        for i in range(200):
            PgCronOperator(task_id=f"wait_{i:03d}", sql=SQL, deferrable=True, poll_interval=60)
    '''
)


def _uri(dsn: str, scheme: str = "postgresql", dbname: str | None = None) -> str:
    p = conninfo_to_dict(dsn)
    auth = quote(str(p.get("user", "postgres")), safe="")
    if p.get("password"):
        auth += ":" + quote(str(p["password"]), safe="")
    host, port = p.get("host", "127.0.0.1"), p.get("port", 5432)
    return f"{scheme}://{auth}@{host}:{port}/{dbname or p.get('dbname', 'postgres')}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    meta_dsn: str
    api_port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self, component: str) -> None:
        log = (self.home / f"{component}.log").open("wb")
        args = ["--host", "127.0.0.1", "--port", str(self.api_port)] if component == "api-server" else []
        self.procs[component] = subprocess.Popen(
            [AIRFLOW, component, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def logs(self, tail: int = 3000) -> str:
        parts = []
        for component in COMPONENTS:
            path = self.home / f"{component}.log"
            if path.exists():
                parts.append(f"--- {component} ---\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    def check_alive(self) -> None:
        for component, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"airflow {component} exited {proc.returncode}:\n{self.logs()}")

    def meta(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.meta_dsn, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def deployment(
    tmp_path: Path, pgcron_dsn: str, pgcron_libpq_dsn: str, job_prefix: str
) -> Iterator[Deployment]:
    meta_db = f"{job_prefix}airflow"
    with psycopg.connect(pgcron_libpq_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(meta_db)))
    home, dags = tmp_path / "home", tmp_path / "dags"
    home.mkdir()
    dags.mkdir()
    (dags / "pgcron_deferred_200.py").write_text(DAG_SOURCE)
    port = _free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",  # worker slots: the deferred tasks do not hold them
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _uri(pgcron_libpq_dsn, "postgresql+psycopg2", meta_db),
        "AIRFLOW_CONN_POSTGRES_DEFAULT": _uri(pgcron_dsn),
    }
    env.pop("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", None)
    meta_dsn = _uri(pgcron_libpq_dsn, dbname=meta_db)
    dep = Deployment(home, env, meta_dsn, port)
    try:
        migrated = dep.airflow("db", "migrate", timeout=600)
        assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
        for component in COMPONENTS:
            dep.start(component)
        yield dep
    finally:
        dep.stop()
        with psycopg.connect(pgcron_libpq_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(meta_db)))


@pytest.fixture
def task_table(pgcron_dsn: str, job_prefix: str) -> Iterator[str]:
    ident = sql.Identifier("public", f"{job_prefix}deferred")
    with psycopg.connect(pgcron_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (task_id text NOT NULL)").format(ident))
    yield f"public.{job_prefix}deferred"
    with psycopg.connect(pgcron_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))


def _triggerer_connections(dep: Deployment, server_port: int) -> int:
    """TCP connections from the triggerer's process tree (it runs triggers in a child) to the server."""
    import psutil

    root = psutil.Process(dep.procs["triggerer"].pid)
    count = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            count += sum(
                1
                for c in proc.net_connections(kind="tcp")
                if c.raddr and c.raddr.port == server_port and c.status == psutil.CONN_ESTABLISHED
            )
        except psutil.NoSuchProcess:
            continue
    return count


def _states(dep: Deployment, run_id: str) -> dict[str, int]:
    rows = dep.meta(
        "SELECT coalesce(state, 'none'), count(*) FROM task_instance WHERE dag_id = %s AND run_id = %s "
        "GROUP BY 1",
        (DAG_ID, run_id),
    )
    return {str(r[0]): int(r[1]) for r in rows}


def test_200_deferred_tasks_through_scheduler_and_triggerer(
    deployment: Deployment, pgcron_dsn: str, task_table: str
) -> None:
    dep = deployment
    with psycopg.connect(pgcron_dsn, autocommit=True) as conn:
        max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])  # type: ignore[index]
    assert max_connections <= 100, "this test is about a server with the default max_connections"
    server_port = int(conninfo_to_dict(pgcron_dsn).get("port", 5432))

    deadline = time.monotonic() + 300
    while not dep.meta("SELECT 1 FROM dag WHERE dag_id = %s", (DAG_ID,)):
        dep.check_alive()
        assert time.monotonic() < deadline, f"the DAG processor never registered the DAG:\n{dep.logs()}"
        time.sleep(3)

    holder = psycopg.connect(pgcron_dsn, autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        run_id = f"acceptance_{secrets.token_hex(4)}"
        triggered = dep.airflow(
            "dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", json.dumps({"table": task_table})
        )
        assert triggered.returncode == 0, triggered.stdout[-3000:] + triggered.stderr[-3000:]

        # Every task submits its run and defers; the runs wait behind the lock, so all 200 waits are in
        # the triggerer at once.
        most_deferred, peak_conns = 0, 0
        deadline = time.monotonic() + 1300
        while True:
            dep.check_alive()
            states = _states(dep, run_id)
            most_deferred = max(most_deferred, states.get("deferred", 0))
            peak_conns = max(peak_conns, _triggerer_connections(dep, server_port))
            if states.get("deferred", 0) == TASKS:
                break
            assert "failed" not in states and "upstream_failed" not in states, (states, dep.logs())
            assert time.monotonic() < deadline, f"not all tasks deferred: {states}\n{dep.logs()}"
            time.sleep(2)
        for _ in range(5):  # all 200 waiting: the triggerer's connections now
            peak_conns = max(peak_conns, _triggerer_connections(dep, server_port))
            time.sleep(1)
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        holder.close()

    deadline = time.monotonic() + 1300
    while True:
        dep.check_alive()
        peak_conns = max(peak_conns, _triggerer_connections(dep, server_port))
        row = dep.meta("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (DAG_ID, run_id))
        if row and row[0][0] in ("success", "failed"):
            break
        assert time.monotonic() < deadline, f"the DAG run did not end: {_states(dep, run_id)}\n{dep.logs()}"
        time.sleep(3)

    states = _states(dep, run_id)
    assert row[0][0] == "success" and states == {"success": TASKS}, (states, dep.logs())
    schema, name = task_table.split(".")
    with psycopg.connect(pgcron_dsn, autocommit=True) as conn:
        done = conn.execute(
            sql.SQL("SELECT task_id, count(*) FROM {} GROUP BY task_id").format(sql.Identifier(schema, name))
        ).fetchall()
    assert len(done) == TASKS and {n for _, n in done} == {1}, "every task's SQL ran exactly once"
    assert most_deferred == TASKS
    print(f"triggerer: {TASKS} deferred waits, at most {peak_conns} connections to the pg_cron server")
    assert peak_conns <= 3, f"the triggerer held {peak_conns} connections for {TASKS} waits"
