"""Triggers of the pgcron provider. They run in the triggerer, on the core's ``AsyncClient`` only.

Each trigger only reads (waits for a submission, lists runs), so running it twice — which Airflow allows
after a triggerer fails over — is harmless. The one side effect, canceling a pushdown run, happens in
``on_kill``, which Airflow calls only on a user action (mark failed or success, clear).

- ``PgCronRunTrigger``: waits for a pushdown submission (``PgCronOperator`` in deferrable mode).
- ``PgCronJobRunTrigger``: waits for a recurring job's succeeded run at or after a point
  (``PgCronJobSensor`` in deferrable mode).
- ``PgCronJobSucceededTrigger``: a ``BaseEventTrigger`` for an ``AssetWatcher``; fires on every new
  succeeded run of a job, so a job running inside the database can schedule downstream DAGs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pgcron
from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent
from pgcron import PgCronError, RunStatus, RunTimeout
from pgcron.runfeed import SETTLE, RunCursor

from pgcron_airflow._runs import parse_time, run_to_xcom, sensor_verdict
from pgcron_airflow.hooks.pgcron import PgCronHook

__all__ = ["PgCronJobRunTrigger", "PgCronJobSucceededTrigger", "PgCronRunTrigger"]

logger = logging.getLogger(__name__)

_CLASSPATH = "pgcron_airflow.triggers.pgcron"
_CURSOR_KEY = "pgcron_run_cursor"  # a pgcron.runfeed.RunCursor string
_OLD_CURSOR_KEY = "pgcron_last_runid"  # before the core's cursor: the last runid, read as the watermark
_PAGE = 500


class PgCronRunTrigger(BaseTrigger):
    """Wait for the pushdown submission ``key`` to end; one event with the run (or the error).

    :param postgres_conn_id: the ``postgres`` connection to pg_cron's database.
    :param key: the submission's idempotency key (``PgCronOperator`` derives it from the task instance).
    :param poll_interval: seconds between progress lines in the log; completion itself is noticed by the
        engine's LISTEN/NOTIFY (or its own polling), not by this interval.
    :param cancel_on_kill: cancel the run when the task is marked failed or success, or cleared.
    """

    def __init__(
        self,
        *,
        postgres_conn_id: str,
        key: str,
        poll_interval: float = 10.0,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.postgres_conn_id = postgres_conn_id
        self.key = key
        self.poll_interval = float(poll_interval)
        self.cancel_on_kill = cancel_on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{_CLASSPATH}.PgCronRunTrigger",
            {
                "postgres_conn_id": self.postgres_conn_id,
                "key": self.key,
                "poll_interval": self.poll_interval,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    def _hook(self) -> PgCronHook:
        return PgCronHook(postgres_conn_id=self.postgres_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            async with self._hook().aget_client() as client:
                handle = await client.attach(self.key)
                waited = 0.0
                while True:
                    try:
                        run = await client.wait(handle, timeout=self.poll_interval)
                        break
                    except RunTimeout:
                        waited += self.poll_interval
                        logger.info("pgcron submission %s still running after %.0f s", self.key, waited)
        except PgCronError as exc:
            yield TriggerEvent({"status": "error", "key": self.key, "message": str(exc)})
            return
        yield TriggerEvent(
            {"status": run.status.value, "key": self.key, "run": run_to_xcom(run, key=self.key)}
        )

    async def on_kill(self) -> None:
        """Cancel the run: the user marked the task failed or success, or cleared it."""
        if not self.cancel_on_kill:
            return
        async with self._hook().aget_client() as client:
            handle = await client.attach(self.key)
            if handle.status.is_active:
                await client.cancel(handle)
                logger.info("canceled pgcron submission %s (task killed by a user action)", self.key)


async def _job_verdict(
    client: pgcron.AsyncClientProtocol, job: str | int, after: datetime, fail_fast: bool
) -> tuple[str, pgcron.Run] | None:
    succeeded = await client.runs(job=job, status=RunStatus.SUCCEEDED, since=after, limit=1)
    latest = await client.runs(job=job, since=after, limit=1)
    return sensor_verdict(
        latest[0] if latest else None, succeeded[0] if succeeded else None, fail_fast=fail_fast
    )


class PgCronJobRunTrigger(BaseTrigger):
    """Wait until job ``job`` has a succeeded run that started at or after ``after``.

    With ``fail_fast``, a newest run (since ``after``) that ended without success ends the wait too.
    The event's ``status`` is ``succeeded``, ``failed`` (with the run) or ``error``.
    """

    def __init__(
        self,
        *,
        postgres_conn_id: str,
        job: str | int,
        after: str,
        fail_fast: bool = True,
        poll_interval: float = 30.0,
    ) -> None:
        super().__init__()
        self.postgres_conn_id = postgres_conn_id
        self.job = job
        self.after = after if isinstance(after, str) else parse_time(after).isoformat()
        self.fail_fast = fail_fast
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{_CLASSPATH}.PgCronJobRunTrigger",
            {
                "postgres_conn_id": self.postgres_conn_id,
                "job": self.job,
                "after": self.after,
                "fail_fast": self.fail_fast,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        after = parse_time(self.after)
        try:
            async with PgCronHook(postgres_conn_id=self.postgres_conn_id).aget_client() as client:
                while True:
                    verdict = await _job_verdict(client, self.job, after, self.fail_fast)
                    if verdict is not None:
                        status, run = verdict
                        break
                    await asyncio.sleep(self.poll_interval)
        except PgCronError as exc:
            yield TriggerEvent({"status": "error", "job": self.job, "message": str(exc)})
            return
        yield TriggerEvent({"status": status, "job": self.job, "run": run_to_xcom(run)})


class PgCronJobSucceededTrigger(BaseEventTrigger):
    """Fire an event for every new succeeded run of job ``job`` (for ``AssetWatcher``).

    Runs are read from the core's run feed in ``runid`` order after a cursor (``pgcron.runfeed.RunCursor``:
    a watermark and the settled runs above it, so a run is reported once when it ends, also when runs end
    out of ``runid`` order). The cursor starts at ``after_runid`` when given, else at the cursor saved in
    the watched asset's state store (Airflow ≥ 3.3 injects it, so a triggerer restart resumes where it
    was), else after the newest finished run of the job when the trigger starts (so history is not
    replayed). The cursor is saved once the events of a poll are handed over: a restart may repeat the
    events of the last poll, never skip one. Each event's payload ``{"job", "run"}`` (see ``run_to_xcom``)
    becomes the asset event's ``extra["payload"]``.

    :param max_events: stop after this many events (``None``: watch forever, as an ``AssetWatcher`` does).
    """

    def __init__(
        self,
        *,
        postgres_conn_id: str,
        job: str | int,
        poll_interval: float = 30.0,
        after_runid: int | None = None,
        max_events: int | None = None,
    ) -> None:
        super().__init__()
        self.postgres_conn_id = postgres_conn_id
        self.job = job
        self.poll_interval = float(poll_interval)
        self.after_runid = after_runid
        self.max_events = max_events

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{_CLASSPATH}.PgCronJobSucceededTrigger",
            {
                "postgres_conn_id": self.postgres_conn_id,
                "job": self.job,
                "poll_interval": self.poll_interval,
                "after_runid": self.after_runid,
                "max_events": self.max_events,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        fired = 0
        async with PgCronHook(postgres_conn_id=self.postgres_conn_id).aget_client() as client:
            jobid = self.job if isinstance(self.job, int) else (await client.job(self.job)).jobid
            cursor = await self._start_cursor(client)
            saved = cursor.serialize()
            logger.info("watching job %s for succeeded runs after runid %d", self.job, cursor.watermark)
            while True:
                after = cursor.watermark
                while True:
                    page = await client.runs_after(after, jobids=[jobid], limit=_PAGE)
                    finished = cursor.advance(
                        page.runs, settled_before=page.observed_at - SETTLE, after=after
                    )
                    succeeded = [run for run in finished if run.status is RunStatus.SUCCEEDED]
                    for i, run in enumerate(succeeded):
                        yield TriggerEvent({"job": self.job, "run": run_to_xcom(run)})
                        fired += 1
                        if self.max_events is not None and fired >= self.max_events:
                            if i == len(succeeded) - 1:  # every event of this page was handed over
                                await self._save_cursor(cursor)
                            return
                    if cursor.serialize() != saved:
                        await self._save_cursor(cursor)
                        saved = cursor.serialize()
                    if not page.full or not page.runs:
                        break
                    after = page.runs[-1].runid
                await asyncio.sleep(self.poll_interval)

    async def _start_cursor(self, client: pgcron.AsyncClientProtocol) -> RunCursor:
        if self.after_runid is not None:
            return RunCursor(watermark=int(self.after_runid))
        saved = await self._saved_cursor()
        if saved is not None:
            return saved
        newest = await client.runs(job=self.job, limit=1)
        if not newest:
            return RunCursor()
        # pg_cron runs one instance of a job at a time: only the newest run can still be going
        run = newest[0]
        return RunCursor(watermark=run.runid if run.status.is_terminal else run.runid - 1)

    # The asset state store is optional (Airflow >= 3.3, one watched asset): without it the cursor lives in
    # memory only, and a restarted trigger starts after the newest run again.
    async def _saved_cursor(self) -> RunCursor | None:
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return None
        try:
            value = await store.aget(_CURSOR_KEY)
            if value is None:
                value = await store.aget(_OLD_CURSOR_KEY)
            return None if value is None else RunCursor.parse(str(value))
        except Exception as exc:  # noqa: BLE001 - a missing store or a bad value must not stop the watcher
            logger.warning("cannot read the saved cursor of job %s: %s", self.job, exc)
            return None

    async def _save_cursor(self, cursor: RunCursor) -> None:
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return
        try:
            await store.aset(_CURSOR_KEY, cursor.serialize())
        except Exception as exc:  # noqa: BLE001 - see _saved_cursor
            logger.warning("cannot save the cursor of job %s: %s", self.job, exc)
