"""The attempt chain of a retried submission: which key a retry uses, and whether it re-attaches or submits.

A caller that retries (an Airflow task try, a Dagster step or run retry) gives one *base key* per unit of
work. Attempt 1 runs under the base key, attempt ``n`` under ``<base>#<n>``. On every call the newest
attempt decides (``Client.submit_attempt``; the lookup is one statement, ``pushdown_latest_attempt``):

| newest attempt         | what the call does                                                       |
|------------------------|--------------------------------------------------------------------------|
| none                   | submit attempt 1                                                         |
| pending / running      | re-attach (a retry after a lost worker, a step that stopped waiting)     |
| succeeded              | re-attach: the result, without running the SQL again                     |
| failed / canceled      | submit the next attempt (``rerun_failed=True``), else re-attach          |
| lost (outcome unknown) | re-attach: it may have committed, so the caller reports it, never reruns |

The chain is bounded by ``MAX_ATTEMPTS``: a call that would need attempt ``MAX_ATTEMPTS + 1`` raises
``TooManyAttempts`` instead (something resubmits in a loop; a person should look). No I/O here.
"""

from __future__ import annotations

from pgcron.errors import PgCronError, TooManyAttempts
from pgcron.models import RunStatus

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_BASE_KEY_LENGTH",
    "MAX_KEY_LENGTH",
    "attempt_key",
    "check_base_key",
    "next_attempt",
]

#: The most attempts one base key gets; far above any retries setting of Airflow or Dagster.
MAX_ATTEMPTS = 1000
#: The engine refuses longer keys (migration 0004).
MAX_KEY_LENGTH = 200
#: A base key leaves room for the longest attempt suffix (``#1000``).
MAX_BASE_KEY_LENGTH = MAX_KEY_LENGTH - len(f"#{MAX_ATTEMPTS}")


def attempt_key(base: str, number: int) -> str:
    """The key of attempt ``number`` of ``base`` (attempt 1 is the base key itself)."""
    if number < 1:
        raise PgCronError(f"an attempt number is 1 or more, got {number}")
    return base if number == 1 else f"{base}#{number}"


def check_base_key(base: str) -> str:
    """``base`` when it can carry every attempt suffix; a clear error otherwise."""
    if not isinstance(base, str) or not base.strip():
        raise PgCronError(f"key must be a non-empty string, got {base!r}")
    if len(base) > MAX_BASE_KEY_LENGTH:
        raise PgCronError(
            f"key is {len(base)} characters long; a key that is retried in attempts may have at most "
            f"{MAX_BASE_KEY_LENGTH} (room for '#{MAX_ATTEMPTS}'): use a shorter key, e.g. a hash of it"
        )
    return base


def next_attempt(base: str, newest: int, status: RunStatus | None, *, rerun_failed: bool) -> int | None:
    """The attempt number to submit, or None to re-attach to attempt ``newest``.

    ``newest`` is the newest existing attempt (0: none) and ``status`` its status. Raises
    ``TooManyAttempts`` when the next attempt would pass ``MAX_ATTEMPTS``.
    """
    if newest == 0 or status is None:
        return 1
    if status not in (RunStatus.FAILED, RunStatus.CANCELED) or not rerun_failed:
        return None
    if newest >= MAX_ATTEMPTS:
        raise TooManyAttempts(
            f"pushdown key {base!r} has {newest} attempts and the newest {status.value}; pgcron makes at "
            f"most {MAX_ATTEMPTS}. Fix what makes the SQL fail, then run it under a new key (a new DAG run "
            "in Airflow, a re-execution in Dagster).",
            key=base,
            attempts=newest,
        )
    return newest + 1
