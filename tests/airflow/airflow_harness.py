"""The acceptance harness: a scratch ``AIRFLOW_HOME`` with a migrated SQLite database and a DAGs folder
holding the example DAGs and the test DAGs; DAGs run in a subprocess with ``dag.test()`` or the
``airflow dags test`` CLI, with ``postgres_default`` pointing at a pg_cron server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "airflow"
TEST_DAGS = Path(__file__).resolve().parent / "dags"
RUNNER = Path(__file__).resolve().parent / "run_dag.py"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@dataclass
class AirflowHome:
    home: Path
    dags: Path

    def env(self, dsn: str, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW_CONN_POSTGRES_DEFAULT": dsn,
            **extra,
        }
        env.pop("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", None)
        return env

    def run_dag(
        self,
        dag_file: str,
        dag_id: str,
        dsn: str,
        conf: dict[str, Any] | None = None,
        timeout: float = 240,
        **extra_env: str,
    ) -> tuple[dict[str, Any], str]:
        """``dag.test()`` in a fresh process: the JSON summary and the whole output (task logs included)."""
        proc = subprocess.run(
            [sys.executable, str(RUNNER), str(self.dags / dag_file), dag_id, json.dumps(conf or {})],
            env=self.env(dsn, **extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = proc.stdout + proc.stderr
        lines = [line for line in proc.stdout.splitlines() if line.startswith('{"state"')]
        if proc.returncode != 0 or not lines:
            raise AssertionError(f"dag.test() of {dag_id} exited {proc.returncode}:\n{output[-6000:]}")
        return json.loads(lines[-1]), output

    def airflow(self, *args: str, dsn: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        """The real ``airflow`` CLI against this home."""
        return subprocess.run(
            [AIRFLOW, *args], env=self.env(dsn), capture_output=True, text=True, timeout=timeout, check=False
        )


def make_home(base: Path) -> AirflowHome:
    """Create the home, fill the DAGs folder, and run ``airflow db migrate`` (SQLite)."""
    home, dags = base / "home", base / "dags"
    home.mkdir()
    shutil.copytree(EXAMPLES, dags, ignore=shutil.ignore_patterns("__pycache__"))
    for path in TEST_DAGS.glob("*.py"):
        shutil.copy(path, dags / path.name)
    airflow_home = AirflowHome(home, dags)
    proc = subprocess.run(
        [AIRFLOW, "db", "migrate"],
        env=airflow_home.env("postgresql://unused"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"airflow db migrate failed:\n{proc.stdout}\n{proc.stderr}")
    return airflow_home
