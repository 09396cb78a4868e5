"""Submit-or-re-attach for one task instance: the decision a retry makes before anything runs.

Attempt 1 uses the task instance's key; attempt N > 1 exists only if attempt N-1 ended without committing
anything (``FAILED`` or ``CANCELED``). On every try the newest attempt decides:

| newest attempt              | what this try does                                          |
|-----------------------------|-------------------------------------------------------------|
| none                        | submit attempt 1                                            |
| pending / running           | re-attach and wait (a retry after a lost worker, a clear)   |
| succeeded                   | re-attach: the result, without running the SQL again        |
| failed / canceled           | submit the next attempt (``rerun_failed=True``) or report it |
| lost (outcome unknown)      | fail without retrying: it may have committed                |
"""

from __future__ import annotations

import logging

import pgcron
from pgcron import RunHandle, RunStatus, SubmissionNotFound

from pgcron_airflow._runs import attempt_key

__all__ = ["MAX_ATTEMPTS", "newest_attempt", "submit_or_attach"]

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 1000  # a bound on the attach chain, far above any retries setting


def newest_attempt(client: pgcron.Client, base: str) -> tuple[int, RunHandle] | None:
    """The newest existing attempt of ``base`` (number, handle), or None when nothing was submitted."""
    found: tuple[int, RunHandle] | None = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            handle = client.attach(attempt_key(base, attempt))
        except SubmissionNotFound:
            return found
        found = (attempt, handle)
    return found


def submit_or_attach(
    client: pgcron.Client,
    base: str,
    sql: str,
    *,
    database: str | None,
    timeout: float | None,
    rerun_failed: bool,
) -> tuple[RunHandle, bool]:
    """The submission this try follows, and whether it re-attached (True) or submitted (False)."""
    newest = newest_attempt(client, base)
    if newest is None:
        return client.submit(sql, key=attempt_key(base, 1), database=database, timeout=timeout), False
    attempt, handle = newest
    status = handle.status
    if status.is_active or status is RunStatus.SUCCEEDED:
        logger.info(
            "re-attaching to pgcron submission %s (%s); the SQL is not run again", handle.key, status.value
        )
        return handle, True
    if status in (RunStatus.FAILED, RunStatus.CANCELED) and rerun_failed:
        key = attempt_key(base, attempt + 1)
        logger.info("previous submission %s %s; submitting attempt %d", handle.key, status.value, attempt + 1)
        return client.submit(sql, key=key, database=database, timeout=timeout), False
    return handle, True
