"""Run one DAG with ``dag.test()`` in this process and print a JSON summary (used by the acceptance tests).

    python run_dag.py DAG_FILE DAG_ID '{"conf": "json"}'

The last stdout line is ``{"state": ..., "tasks": {task_id: {"state", "try_number", "xcom"}}}``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time


def main() -> None:
    path, dag_id, conf = sys.argv[1], sys.argv[2], json.loads(sys.argv[3] if len(sys.argv) > 3 else "{}")
    spec = importlib.util.spec_from_file_location("dag_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = next(
        v for v in vars(module).values() if getattr(v, "dag_id", None) == dag_id and hasattr(v, "test")
    )
    started = time.perf_counter()
    dr = dag.test(run_conf=conf)
    elapsed = time.perf_counter() - started

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    tasks: dict[str, dict[str, object]] = {}
    with create_session() as session:
        for ti in dr.get_task_instances(session=session):
            tasks[ti.task_id] = {"state": str(ti.state), "try_number": ti.try_number, "xcom": None}
        rows = session.execute(
            select(XComModel.task_id, XComModel.value).where(
                XComModel.run_id == dr.run_id, XComModel.dag_id == dag_id, XComModel.key == "return_value"
            )
        ).all()
        for task_id, value in rows:
            tasks[task_id]["xcom"] = json.loads(value) if isinstance(value, str) else value
    print(json.dumps({"state": str(dr.state), "run_id": dr.run_id, "seconds": elapsed, "tasks": tasks}))


if __name__ == "__main__":
    main()
