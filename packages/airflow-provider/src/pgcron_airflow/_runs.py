"""Translation between the core's run model and Airflow: XCom payloads, idempotency keys, sensor verdicts.

Nothing here knows pg_cron's own status strings: a run's outcome is the engine's ``RunStatus``
(``pgcron.runstate`` decides it). This module only turns it into what Airflow shows and stores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pgcron import Run, RunHandle, RunStatus
from pgcron.pushdown.attempts import MAX_BASE_KEY_LENGTH

__all__ = [
    "KEY_PREFIX",
    "base_key",
    "failure_text",
    "parse_time",
    "run_to_xcom",
    "sensor_verdict",
]

KEY_PREFIX = "airflow"
# pushdown keys are free text; a longer one is hashed, leaving room for the core's attempt suffix (#2, ...)
_MAX_READABLE = MAX_BASE_KEY_LENGTH


def base_key(dag_id: str, task_id: str, run_id: str, map_index: int | None) -> str:
    """The pushdown idempotency key of one task instance, the same for every try.

    ``try_number`` is deliberately left out: a retry (or a worker that died mid-wait) must find the run
    the first try submitted and re-attach to it, never submit the SQL a second time. It is the base key of
    the core's attempt chain (``Client.submit_attempt``).
    """
    index = -1 if map_index is None else int(map_index)
    key = f"{KEY_PREFIX}:{dag_id}:{task_id}:{run_id}:{index}"
    if len(key) <= _MAX_READABLE:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"{KEY_PREFIX}:{dag_id[:60]}:{task_id[:60]}:{digest}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_to_xcom(run: Run, *, key: str | None = None) -> dict[str, Any]:
    """The run as a JSON-safe dict: the task's return XCom and the trigger event payload."""
    duration = run.duration
    return {
        "jobid": run.jobid,
        "runid": run.runid,
        "status": run.status.value,
        "message": run.message,
        "start": _iso(run.start_time),
        "end": _iso(run.end_time),
        "duration": duration.total_seconds() if duration is not None else None,
        "rows": run.rows,
        "database": run.database,
        "key": key,
    }


def handle_to_xcom(handle: RunHandle) -> dict[str, Any]:
    """A finished submission's handle as the same dict as ``run_to_xcom`` (no extra query needed)."""
    duration = handle.duration
    return {
        "jobid": handle.jobid,
        "runid": handle.runid,
        "status": handle.status.value,
        "message": handle.message,
        "start": _iso(handle.start),
        "end": _iso(handle.end),
        "duration": duration.total_seconds() if duration is not None else None,
        "rows": None,
        "database": None,
        "key": handle.key,
    }


def failure_text(run: Mapping[str, Any]) -> str:
    """The task's error message for a run that did not succeed; the database's own text comes first."""
    message = run.get("message") or "no message from the database"
    return f"pg_cron run {run.get('runid')} (job {run.get('jobid')}) {run.get('status')}: {message}"


def parse_time(value: str | datetime) -> datetime:
    """A timezone-aware datetime from an ISO string (a rendered template) or a datetime."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    if parsed.tzinfo is None:
        raise ValueError(
            f"the point to wait from must carry a timezone, got {value!r}; "
            "use a template such as '{{ data_interval_end }}' or an aware datetime"
        )
    return parsed


def sensor_verdict(latest: Run | None, succeeded: Run | None, *, fail_fast: bool) -> tuple[str, Run] | None:
    """What a job sensor concludes from the runs since its start point.

    ``succeeded`` is the newest succeeded run at or after that point, ``latest`` the newest run at or after
    it. A success wins; otherwise, with ``fail_fast``, a latest run that is over without success
    (``FAILED``, ``CANCELED`` or ``LOST``) ends the wait as a failure. ``None``: keep waiting.
    """
    if succeeded is not None and succeeded.status is RunStatus.SUCCEEDED:
        return ("succeeded", succeeded)
    if fail_fast and latest is not None and latest.status.is_terminal and not latest.status.is_success:
        return ("failed", latest)
    return None
