"""``PgCronJobSensor``: wait for a recurring pg_cron job's succeeded run, e.g. tonight's purge.

The point the run must start at or after comes from the DAG run (``data_interval_end`` by default, or the
run's ``run_after`` when it has no data interval) or from the ``after`` argument (templated, so
``"{{ data_interval_start }}"`` works). With ``fail_fast`` (default) a newest run that ended without success
fails the task at once instead of waiting for the sensor's timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, conf
from airflow.sdk.exceptions import AirflowException
from pgcron import PgCronError, RunStatus

from pgcron_airflow._runs import failure_text, parse_time, run_to_xcom, sensor_verdict
from pgcron_airflow.hooks.pgcron import PgCronHook
from pgcron_airflow.triggers.pgcron import PgCronJobRunTrigger

__all__ = ["PgCronJobSensor"]

_FROM_CONTEXT = ("data_interval_end", "data_interval_start", "logical_date", "run_after")


class PgCronJobSensor(BaseSensorOperator):
    """Wait until pg_cron job ``job`` has a succeeded run that started at or after a point in time.

    :param job: the job's name (as the connection's role sees it) or its jobid. Templated.
    :param postgres_conn_id: ``postgres`` connection to the database named by ``cron.database_name``.
    :param after: the point: an aware datetime or an ISO string (templated). Default: ``since``.
    :param since: which DAG-run time to use when ``after`` is not given: ``data_interval_end`` (default),
        ``data_interval_start``, ``logical_date`` or ``run_after``; a run without a data interval falls
        back to ``run_after``.
    :param fail_fast: fail as soon as the newest run since the point ended without success.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param poll_interval: seconds between checks (also the sensor's ``poke_interval``).

    Returns (XCom) the succeeded run (see ``PgCronOperator``).
    """

    template_fields: Sequence[str] = ("job", "after", "postgres_conn_id")
    ui_color = "#d6ecf3"

    def __init__(
        self,
        *,
        job: str | int,
        postgres_conn_id: str = PgCronHook.default_conn_name,
        after: str | datetime | None = None,
        since: str = "data_interval_end",
        fail_fast: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        **kwargs: Any,
    ) -> None:
        if since not in _FROM_CONTEXT:
            raise ValueError(f"since must be one of {', '.join(_FROM_CONTEXT)}; got {since!r}")
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.job = job
        self.postgres_conn_id = postgres_conn_id
        self.after = after
        self.since = since
        self.fail_fast = fail_fast
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self._result: dict[str, Any] | None = None

    def _job(self) -> str | int:
        # a rendered template is always a string: a string of digits means a jobid
        if isinstance(self.job, str) and self.job.strip().isdigit():
            return int(self.job)
        return self.job

    def start_point(self, context: Context) -> datetime:
        """The time the awaited run must start at or after."""
        if self.after is not None and self.after != "":
            return parse_time(self.after)
        value: Any = context.get(self.since)
        if value is None:
            dag_run = context.get("dag_run")
            value = getattr(dag_run, "run_after", None)
        if value is None:
            raise AirflowException(
                f"task {self.task_id}: this DAG run has no {self.since} and no run_after; pass after="
            )
        return parse_time(value)

    def poke(self, context: Context) -> bool:
        after = self.start_point(context)
        try:
            with PgCronHook(postgres_conn_id=self.postgres_conn_id).get_client() as client:
                succeeded = client.runs(job=self._job(), status=RunStatus.SUCCEEDED, since=after, limit=1)
                latest = client.runs(job=self._job(), since=after, limit=1)
        except PgCronError as exc:
            raise AirflowException(f"task {self.task_id}: {exc}") from exc
        verdict = sensor_verdict(
            latest[0] if latest else None, succeeded[0] if succeeded else None, fail_fast=self.fail_fast
        )
        if verdict is None:
            self.log.info("job %s has no succeeded run since %s yet", self.job, after.isoformat())
            return False
        status, run = verdict
        return self._conclude(status, run_to_xcom(run))

    def _conclude(self, status: str, run: dict[str, Any]) -> bool:
        if status != "succeeded":
            raise AirflowException(f"job {self.job}: {failure_text(run)} (fail_fast)")
        self.log.info("job %s: run %s succeeded at %s", self.job, run["runid"], run["start"])
        self._result = run
        return True

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            super().execute(context)
            return self._result
        if self.poke(context):  # already there: no need to defer
            return self._result
        self.defer(
            trigger=PgCronJobRunTrigger(
                postgres_conn_id=self.postgres_conn_id,
                job=self._job(),
                after=self.start_point(context).isoformat(),
                fail_fast=self.fail_fast,
                poll_interval=self.poll_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Resume after ``PgCronJobRunTrigger``."""
        if not event or event.get("status") == "error":
            message = (event or {}).get("message", "the trigger ended without an event")
            raise AirflowException(f"task {self.task_id}: waiting for job {self.job} failed: {message}")
        self._conclude(event["status"], event["run"])
        return self._result
