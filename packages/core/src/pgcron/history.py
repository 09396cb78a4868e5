"""Run-history maintenance: batched retention purge and the index pg_cron does not ship.

``cron.job_run_details`` grows forever and has no index but its primary key (facts §2.2, §8.3). The purge
here deletes in runid key ranges, one short transaction per batch, so the pg_cron launcher (which writes
run rows synchronously) never waits long on it. ``ensure_index`` adds ``(jobid, runid)`` with CREATE
INDEX CONCURRENTLY where the role owns the table, and otherwise says who can (docs/history.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgcron._client_base import translate_error
from pgcron._search_path import pinned_search_path
from pgcron.errors import PermissionDenied, PgCronError
from pgcron.sql import get_query

__all__ = [
    "INDEX_NAME",
    "MAX_OLDER_THAN",
    "IndexStatus",
    "InvalidPurge",
    "PurgeResult",
    "ensure_index",
    "index_status",
    "purge_history",
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


def _fetch(
    conn: psycopg.Connection[Any], query: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(get_query(query), dict(params or {}))
        return cur.fetchall() if cur.description is not None else []


def _require_autocommit(conn: psycopg.Connection[Any], what: str) -> None:
    if not conn.autocommit or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise PgCronError(
            f"{what} commits as it goes: pass an autocommit connection outside a transaction "
            "(psycopg.connect(dsn, autocommit=True))"
        )


def purge_history(
    conn: psycopg.Connection[Any],
    older_than: timedelta,
    *,
    batch: int = 10_000,
    job_prefix: str | None = None,
    dry_run: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
) -> PurgeResult:
    """Delete runs that started (or ended) more than ``older_than`` ago, ``batch`` runids per transaction.

    Also removes rows stuck in a non-terminal state older than the cutoff whose backend is gone.
    ``job_prefix`` limits the purge to jobs whose name starts with it (e.g. ``"billing:"``). The role
    deletes only the rows it may see (row security: its own, or all for a superuser / the owner).
    ``on_batch(deleted_so_far, batches)`` is called after each committed batch.
    """
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
    _require_autocommit(conn, "purge_history")
    try:
        with pinned_search_path(conn):
            return _purge(conn, older_than, batch, job_prefix, dry_run, on_batch)
    except psycopg.Error as exc:
        raise translate_error(exc, role=conn.info.user) from exc


def _purge(
    conn: psycopg.Connection[Any],
    older_than: timedelta,
    batch: int,
    job_prefix: str | None,
    dry_run: bool,
    on_batch: Callable[[int, int], None] | None,
) -> PurgeResult:
    started = time.perf_counter()
    cutoff = datetime.now(UTC) - older_than
    jobids: list[int] | None = None
    if job_prefix is not None:
        jobids = list(_fetch(conn, "history_prefix_jobids", {"prefix": job_prefix})[0]["jobids"])
    bounds = _fetch(conn, "history_purge_bounds", {"cutoff": cutoff})[0]
    low, high = bounds["low"], bounds["high"]
    if low is None or high is None or jobids == []:
        return PurgeResult(cutoff, 0, 0, time.perf_counter() - started, dry_run)
    if dry_run:
        rows = _fetch(conn, "history_purge_count", {"high": high, "jobids": jobids, "cutoff": cutoff})
        return PurgeResult(cutoff, int(rows[0]["rows"]), 0, time.perf_counter() - started, True)
    deleted = batches = 0
    position = int(low) - 1
    while position < high:
        upper = min(position + batch, int(high))
        with conn.cursor() as cur:
            cur.execute(
                get_query("history_purge_batch"),
                {"low": position, "high": upper, "jobids": jobids, "cutoff": cutoff},
            )
            deleted += max(cur.rowcount, 0)
        batches += 1
        position = upper
        if on_batch is not None:
            on_batch(deleted, batches)
    seconds = time.perf_counter() - started
    logger.info("purged %d run rows older than %s in %d batches (%.1f s)", deleted, cutoff, batches, seconds)
    return PurgeResult(cutoff, deleted, batches, seconds)


def index_status(conn: psycopg.Connection[Any]) -> IndexStatus:
    """Which ``(jobid, …)`` indexes ``cron.job_run_details`` has and whether this role may add one."""
    try:
        with pinned_search_path(conn):
            rows = _fetch(conn, "history_index_status")
    except psycopg.Error as exc:
        raise translate_error(exc, role=conn.info.user) from exc
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


def ensure_index(conn: psycopg.Connection[Any]) -> IndexStatus:
    """Create the ``(jobid, runid)`` index CONCURRENTLY unless a ``(jobid, …)`` index exists.

    Raises ``PermissionDenied`` (with who can do it) when the role does not own the table.
    """
    _require_autocommit(conn, "ensure_index")
    try:
        with pinned_search_path(conn):
            return _ensure_index(conn)
    except psycopg.Error as exc:
        raise translate_error(exc, role=conn.info.user) from exc


def _ensure_index(conn: psycopg.Connection[Any]) -> IndexStatus:
    status = index_status(conn)
    if status.present:
        return status
    if not status.can_create:
        raise PermissionDenied(f"role cannot index cron.job_run_details: {status.hint}")
    if INDEX_NAME in status.invalid:
        logger.warning("dropping the invalid index %s left by an interrupted build", INDEX_NAME)
        _fetch(conn, "history_index_drop_invalid")
    logger.info("creating %s concurrently on ~%d rows", INDEX_NAME, status.rows_estimate)
    _fetch(conn, "history_index_create")
    return index_status(conn)
