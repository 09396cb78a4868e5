"""Run-history maintenance: batched retention purge and the index pg_cron does not ship.

``cron.job_run_details`` grows forever and has no index but its primary key (facts §2.2, §8.3). The purge
here deletes in runid key ranges, one short transaction per batch, so the pg_cron launcher (which writes
run rows synchronously) never waits long on it. ``ensure_index`` adds ``(jobid, runid)`` with CREATE
INDEX CONCURRENTLY where the role owns the table, and otherwise says who can (docs/history.md). The routines
are sans-I/O (``pgcron._steps``): ``Client.purge_history`` / ``index_status`` / ``ensure_index`` run them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pgcron._steps import Steps, pinned, step
from pgcron.errors import PermissionDenied, PgCronError

__all__ = [
    "INDEX_NAME",
    "MAX_OLDER_THAN",
    "IndexStatus",
    "InvalidPurge",
    "PurgeResult",
    "check_purge",
    "ensure_index_steps",
    "index_status_steps",
    "purge_steps",
]

logger = logging.getLogger(__name__)

INDEX_NAME = "pgcron_job_run_details_jobid_runid_idx"
#: The oldest cutoff a purge accepts (100 years back); older ones overflow timestamps.
MAX_OLDER_THAN = timedelta(days=36_525)


class InvalidPurge(PgCronError, ValueError):
    """The purge arguments are not valid: older_than must be positive, batch 1 to 1000000, and a job
    prefix non-empty (e.g. "billing:")."""


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge did (``dry_run``: what it would do)."""

    cutoff: datetime
    deleted: int
    batches: int
    seconds: float
    dry_run: bool = False

    @property
    def rows_per_second(self) -> float:
        return self.deleted / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """Whether one job's runs can be found without scanning the whole history."""

    present: bool
    indexes: tuple[str, ...]
    invalid: tuple[str, ...]
    can_create: bool
    owner: str | None
    rows_estimate: int
    total_bytes: int

    @property
    def hint(self) -> str:
        if self.present:
            return f"indexed by {', '.join(self.indexes)}"
        if self.can_create:
            return "run `pgcron history index --create` (CREATE INDEX CONCURRENTLY; no long lock)"
        return (
            f"ask the table owner ({self.owner}) or a superuser to run `pgcron history index --create`, "
            f"or: CREATE INDEX CONCURRENTLY {INDEX_NAME} ON cron.job_run_details (jobid, runid)"
        )


def check_purge(older_than: timedelta, batch: int = 10_000, job_prefix: str | None = None) -> None:
    """Raise ``InvalidPurge`` unless these are valid purge arguments (checked before any I/O)."""
    if not isinstance(older_than, timedelta) or older_than <= timedelta(0):
        raise InvalidPurge(f"older_than must be a positive duration, got {older_than!r}")
    if older_than > MAX_OLDER_THAN:
        raise InvalidPurge(f"older_than must be at most 100 years (36525 days), got {older_than}")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 1_000_000:
        raise InvalidPurge(f"batch must be an integer from 1 to 1000000, got {batch!r}")
    if job_prefix is not None and (not isinstance(job_prefix, str) or not job_prefix.strip()):
        # An empty prefix matches every job: "only these jobs" must never turn into "all of them".
        raise InvalidPurge(
            f"job_prefix must be a non-empty string such as 'billing:', got {job_prefix!r}; "
            "pass job_prefix=None to purge the runs of every job this role may delete"
        )


def purge_steps(
    older_than: timedelta,
    *,
    batch: int = 10_000,
    job_prefix: str | None = None,
    dry_run: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
) -> Steps[PurgeResult]:
    """The purge's statements (``Client.purge_history`` runs them, each committing by itself).

    Deletes runs that started (or ended) more than ``older_than`` ago, ``batch`` runids per statement, and
    rows stuck in a non-terminal state older than the cutoff whose backend is gone. ``job_prefix`` limits
    the purge to jobs whose name starts with it (e.g. ``"billing:"``). The role deletes only the rows it may
    see (row security: its own, or all for a superuser / the owner). ``on_batch(deleted_so_far, batches)``
    is called after each committed batch. ``search_path`` is pinned throughout.
    """
    check_purge(older_than, batch, job_prefix)
    return (yield from pinned(_purge(older_than, batch, job_prefix, dry_run, on_batch)))


def _purge(
    older_than: timedelta,
    batch: int,
    job_prefix: str | None,
    dry_run: bool,
    on_batch: Callable[[int, int], None] | None,
) -> Steps[PurgeResult]:
    started = time.perf_counter()
    cutoff = datetime.now(UTC) - older_than
    jobids: list[int] | None = None
    if job_prefix is not None:
        jobids = list((yield step("history_prefix_jobids", {"prefix": job_prefix}))[0]["jobids"])
    bounds = (yield step("history_purge_bounds", {"cutoff": cutoff}))[0]
    low, high = bounds["low"], bounds["high"]
    if low is None or high is None or jobids == []:
        return PurgeResult(cutoff, 0, 0, time.perf_counter() - started, dry_run)
    if dry_run:
        rows = yield step("history_purge_count", {"high": high, "jobids": jobids, "cutoff": cutoff})
        return PurgeResult(cutoff, int(rows[0]["rows"]), 0, time.perf_counter() - started, True)
    deleted = batches = 0
    position = int(low) - 1
    while position < high:
        upper = min(position + batch, int(high))
        done = yield step(
            "history_purge_batch", {"low": position, "high": upper, "jobids": jobids, "cutoff": cutoff}
        )
        deleted += int(done[0]["deleted"])
        batches += 1
        position = upper
        if on_batch is not None:
            on_batch(deleted, batches)
    seconds = time.perf_counter() - started
    logger.info("purged %d run rows older than %s in %d batches (%.1f s)", deleted, cutoff, batches, seconds)
    return PurgeResult(cutoff, deleted, batches, seconds)


def index_status_steps() -> Steps[IndexStatus]:
    """Which ``(jobid, …)`` indexes ``cron.job_run_details`` has and whether this role may add one."""
    return (yield from pinned(_index_status()))


def _index_status() -> Steps[IndexStatus]:
    rows = yield step("history_index_status")
    if not rows:
        raise PgCronError(
            "cron.job_run_details does not exist: pg_cron 1.3 or later is needed for run history"
        )
    row = rows[0]
    return IndexStatus(
        present=bool(row["jobid_indexes"]),
        indexes=tuple(row["jobid_indexes"]),
        invalid=tuple(row["invalid_indexes"]),
        can_create=bool(row["can_create"]),
        owner=row["owner"],
        rows_estimate=max(int(row["rows_estimate"]), 0),
        total_bytes=int(row["total_bytes"] or 0),
    )


def ensure_index_steps() -> Steps[IndexStatus]:
    """Create the ``(jobid, runid)`` index CONCURRENTLY unless a ``(jobid, …)`` index exists (run each
    statement outside a transaction block).

    Raises ``PermissionDenied`` (with who can do it) when the role does not own the table.
    """
    return (yield from pinned(_ensure_index()))


def _ensure_index() -> Steps[IndexStatus]:
    status = yield from _index_status()
    if status.present:
        return status
    if not status.can_create:
        raise PermissionDenied(f"role cannot index cron.job_run_details: {status.hint}")
    if INDEX_NAME in status.invalid:
        logger.warning("dropping the invalid index %s left by an interrupted build", INDEX_NAME)
        yield step("history_index_drop_invalid")
    logger.info("creating %s concurrently on ~%d rows", INDEX_NAME, status.rows_estimate)
    yield step("history_index_create")
    return (yield from _index_status())
