"""``PgCronJobsOperator``: deploy recurring pg_cron jobs from a DAG, through the core's plan and apply.

It reads a jobs file (docs/jobs-file.md) or takes a list of ``JobSpec`` (or dicts with the same fields),
computes the plan for the namespace, logs it, and applies it in one transaction. Jobs outside the
namespace are never read or changed; updates keep each job's jobid and run history.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from pgcron import JobSpec, PgCronError
from pgcron.jobsfile import load_jobs_file
from pgcron.plan import Action, Plan, desired_specs

from pgcron_airflow.hooks.pgcron import PgCronHook

__all__ = ["PgCronJobsOperator"]


def _jsonable(plan: Plan) -> dict[str, Any]:
    # XCom must be JSON: plan values may hold timedeltas (job timeouts)
    data: dict[str, Any] = json.loads(json.dumps(plan.to_dict(), default=str))
    return data


def _spec(value: JobSpec | Mapping[str, Any]) -> JobSpec:
    if isinstance(value, JobSpec):
        return value
    try:
        return JobSpec(**dict(value))
    except TypeError as exc:
        raise AirflowFailException(
            f"a job spec must have name, schedule, command (and optionally database, username, active, "
            f"timeout, description, tags); got {dict(value)!r}: {exc}"
        ) from exc


class PgCronJobsOperator(BaseOperator):
    """Make pg_cron's jobs of a namespace match a jobs file or a list of specs.

    :param jobs_file: path to a TOML or YAML jobs file (templated); a relative path is taken from the
        DAG file's folder. Its ``namespace`` is used.
    :param specs: job specs instead of a file (``JobSpec`` or dicts); needs ``namespace``.
    :param namespace: the namespace owning the jobs (``<namespace>:<name>``) when ``specs`` are given.
    :param prune: delete jobs of the namespace that are not declared.
    :param plan_only: only compute and log the plan.
    :param postgres_conn_id: ``postgres`` connection to the database named by ``cron.database_name``.

    Returns (XCom) ``{"plan": <plan as a dict>, "applied": bool, "jobids": {name: jobid}}``.
    """

    template_fields: Sequence[str] = ("jobs_file", "namespace", "postgres_conn_id")
    ui_color = "#d6ecf3"

    def __init__(
        self,
        *,
        jobs_file: str | None = None,
        specs: Sequence[JobSpec | Mapping[str, Any]] | None = None,
        namespace: str | None = None,
        prune: bool = False,
        plan_only: bool = False,
        postgres_conn_id: str = PgCronHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (jobs_file is None) == (specs is None):
            raise ValueError(
                "give exactly one of jobs_file= (a jobs file path) or specs= (a list of job specs)"
            )
        if specs is not None and not namespace:
            raise ValueError("specs= needs namespace= (the jobs are named <namespace>:<name>)")
        self.jobs_file = jobs_file
        self.specs = list(specs) if specs is not None else None
        self.namespace = namespace
        self.prune = prune
        self.plan_only = plan_only
        self.postgres_conn_id = postgres_conn_id

    def _declared(self) -> tuple[str, list[JobSpec], int | None]:
        """The namespace, the job specs and the jobs file's ``[lanes] workers`` (None: leave lanes alone)."""
        if self.specs is not None:
            assert self.namespace is not None
            return self.namespace, [_spec(s) for s in self.specs], None
        path = Path(str(self.jobs_file))
        if not path.is_absolute() and self.has_dag() and self.dag.fileloc:
            path = Path(self.dag.fileloc).parent / path
        jobs = load_jobs_file(path)
        if self.namespace and self.namespace != jobs.namespace:
            raise AirflowFailException(
                f"namespace={self.namespace!r} does not match the file's namespace {jobs.namespace!r}; "
                "drop namespace= or fix the file"
            )
        return jobs.namespace, desired_specs(jobs), jobs.lane_workers

    def _log_plan(self, plan: Plan) -> None:
        self.log.info(
            "plan for namespace %s: %s",
            plan.namespace,
            ", ".join(f"{k} {v}" for k, v in plan.summary().items()),
        )
        for change in plan.changes:
            if change.action is Action.UNCHANGED:
                continue
            fields = ", ".join(
                f"{c.field}: {c.before!r} -> {c.after!r}" for c in change.changes if c.field != "command"
            )
            if any(c.field == "command" for c in change.changes):
                fields = (fields + ", " if fields else "") + "command changed"
            drift = " (drifted outside the file)" if change.drift else ""
            self.log.info(
                "  %s %s%s%s", change.action.value, change.name, f": {fields}" if fields else "", drift
            )

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            namespace, specs, lane_workers = self._declared()
            with PgCronHook(postgres_conn_id=self.postgres_conn_id).get_client() as client:
                plan = client.plan(specs, namespace=namespace, prune=self.prune, lane_workers=lane_workers)
                self._log_plan(plan)
                if self.plan_only or not plan.pending:
                    return {"plan": _jsonable(plan), "applied": False, "jobids": {}}
                result = client.apply(plan)
        except PgCronError as exc:
            raise AirflowException(f"task {self.task_id}: {exc}") from exc
        self.log.info(
            "applied: %d created, %d updated, %d deleted, %d unchanged",
            len(result.created),
            len(result.updated),
            len(result.deleted),
            result.unchanged,
        )
        return {"plan": _jsonable(plan), "applied": True, "jobids": dict(result.jobids)}
