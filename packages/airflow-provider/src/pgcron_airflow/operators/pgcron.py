"""``PgCronOperator``: run a task's SQL inside PostgreSQL through pg_cron and make the run the task's state.

The SQL goes through the core's pushdown (``Client.submit_attempt``): exactly once per task instance, however
many tries it takes. The key is built from ``dag_id``, ``task_id``, ``run_id`` and ``map_index`` (never the
try number), so a retry re-attaches to the run the earlier try started, or returns its result, instead of
running the SQL again; after a failed or canceled run the core submits the next attempt. With
``deferrable=True`` the worker slot is released while the database works: the wait moves to
``PgCronRunTrigger`` in the triggerer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, Context, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from pgcron import (
    ClientProtocol,
    KeyConflict,
    PgCronError,
    Run,
    RunHandle,
    RunStatus,
    RunTimeout,
    TooManyAttempts,
)

from pgcron_airflow._runs import base_key, failure_text, handle_to_xcom, run_to_xcom
from pgcron_airflow.hooks.pgcron import PgCronHook
from pgcron_airflow.triggers.pgcron import PgCronRunTrigger

__all__ = ["PgCronOperator"]

logger = logging.getLogger(__name__)


class PgCronOperator(BaseOperator):
    """Run ``sql`` inside PostgreSQL as a pg_cron run; the task succeeds or fails with the run.

    :param sql: the SQL (templated; a path ending in ``.sql`` is read from the DAG's template search path).
        One string, run as one command: several statements run in one transaction.
    :param postgres_conn_id: ``postgres`` connection to the database named by ``cron.database_name``.
    :param database: database the SQL runs in (default: pg_cron's own database).
    :param timeout: seconds (or a timedelta) the run may take; enforced by the database, which cancels the
        statement, so it holds even when no worker or triggerer is watching.
    :param deferrable: wait in the triggerer instead of a worker slot (default: ``[operators]
        default_deferrable``).
    :param poll_interval: seconds between progress lines while waiting (completion is noticed at once
        through LISTEN/NOTIFY where the engine's trigger is installed, else by the engine's own polling).
    :param rerun_failed: when an earlier try's run failed or was canceled (nothing committed), a retry runs
        the SQL again. A run whose outcome is unknown (``lost``, the server restarted mid-run) never reruns.
    :param cancel_on_kill: cancel the running statement when the task is killed, marked failed or cleared.

    Returns (XCom) the run: ``jobid``, ``runid``, ``status``, ``message``, ``start``, ``end``,
    ``duration`` (seconds), ``rows``, ``database``, ``key``.
    """

    template_fields: Sequence[str] = ("sql", "postgres_conn_id", "database")
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql"}
    ui_color = "#d6ecf3"

    def __init__(
        self,
        *,
        sql: str,
        postgres_conn_id: str = PgCronHook.default_conn_name,
        database: str | None = None,
        timeout: float | timedelta | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        rerun_failed: bool = True,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.postgres_conn_id = postgres_conn_id
        self.database = database
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        self.deferrable = deferrable
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive seconds, got {poll_interval!r}")
        self.poll_interval = float(poll_interval)
        self.rerun_failed = rerun_failed
        self.cancel_on_kill = cancel_on_kill
        self._key: str | None = None

    def get_hook(self) -> PgCronHook:
        """The hook for ``postgres_conn_id``."""
        return PgCronHook(postgres_conn_id=self.postgres_conn_id)

    # -- execution ---------------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        if not isinstance(self.sql, str) or not self.sql.strip():
            raise AirflowFailException(
                f"task {self.task_id}: sql must be a non-empty SQL string, got {self.sql!r}"
            )
        ti = context["ti"]
        base = base_key(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))
        try:
            with self.get_hook().get_client() as client:
                attempt = client.submit_attempt(
                    self.sql,
                    key=base,
                    database=self.database,
                    timeout=self.timeout,
                    rerun_failed=self.rerun_failed,
                )
                handle = attempt.handle
                self._key = handle.key
                if attempt.reattached:
                    self.log.info(
                        "re-attaching to pgcron submission %s (%s, job %s); the SQL is not run again",
                        handle.key,
                        handle.status.value,
                        handle.jobid,
                    )
                else:
                    self.log.info("submitted pgcron submission %s (job %s)", handle.key, handle.jobid)
                if handle.status.is_terminal:
                    return self._finish(handle_to_xcom(handle))
                if self.deferrable:
                    self.defer(
                        trigger=PgCronRunTrigger(
                            postgres_conn_id=self.postgres_conn_id,
                            key=handle.key,
                            poll_interval=self.poll_interval,
                            cancel_on_kill=self.cancel_on_kill,
                        ),
                        method_name="execute_complete",
                    )
                run = self._wait(client, handle)
        except (KeyConflict, TooManyAttempts) as exc:  # a retry cannot help
            raise AirflowFailException(f"task {self.task_id}: {exc}") from exc
        except PgCronError as exc:
            raise AirflowException(f"task {self.task_id}: {exc}") from exc
        return self._finish(run_to_xcom(run, key=handle.key))

    def _wait(self, client: ClientProtocol, handle: RunHandle) -> Run:
        waited = 0.0
        while True:
            try:
                return client.wait(handle, timeout=self.poll_interval)
            except RunTimeout:
                waited += self.poll_interval
                self.log.info("pgcron submission %s still running after %.0f s", handle.key, waited)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after ``PgCronRunTrigger``: the run's outcome becomes the task's."""
        if not event:
            raise AirflowException(f"task {self.task_id}: the trigger ended without an event")
        if event.get("status") == "error":
            raise AirflowException(f"task {self.task_id}: waiting for the run failed: {event.get('message')}")
        self._key = event.get("key")
        return self._finish(event["run"])

    def _finish(self, run: dict[str, Any]) -> dict[str, Any]:
        duration = run.get("duration")
        self.log.info(
            "pg_cron run %s (job %s) %s%s: %s",
            run.get("runid"),
            run.get("jobid"),
            run.get("status"),
            f" in {duration:.3f} s" if isinstance(duration, (int, float)) else "",
            run.get("message"),
        )
        status = run.get("status")
        if status == RunStatus.SUCCEEDED.value:
            return run
        if status == RunStatus.LOST.value:
            # the server restarted mid-run: the SQL may have committed, so a retry must not run it again
            raise AirflowFailException(
                failure_text(run) + ". Its outcome is unknown (it may have committed); check the data, "
                "then clear the task with a new DAG run if it must run again."
            )
        raise AirflowException(failure_text(run))

    def on_kill(self) -> None:
        """Cancel the running statement (the task was killed, marked failed or cleared on a worker)."""
        if not self.cancel_on_kill or self._key is None:
            return
        key = self._key
        try:
            with self.get_hook().get_client() as client:
                handle = client.attach(key)
                if handle.status.is_active:
                    client.cancel(handle)
                    self.log.info("canceled pgcron submission %s", key)
        except PgCronError as exc:
            self.log.warning("could not cancel pgcron submission %s: %s", key, exc)


def newest_submission(
    client: ClientProtocol, dag_id: str, task_id: str, run_id: str, map_index: int = -1
) -> RunHandle | None:
    """The newest submission of a task instance (for tools and tests that inspect what a task ran)."""
    found = client.latest_attempt(base_key(dag_id, task_id, run_id, map_index))
    return found.handle if found is not None else None
