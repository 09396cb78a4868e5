"""The run feed: runs in ``runid`` order after a cursor, for observers that must see every run once.

``Client.runs`` answers "what happened recently" (newest first). An observer such as the Dagster sensor
needs the other direction: every run *after* the last one it handled, oldest first, with the engine's
status (``pgcron.runstate``), at a cost that does not grow with the history (the ``runid`` range walks
the primary key). Deciding what to do with runs that finish out of order is the observer's job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pgcron import _client_base as base
from pgcron.errors import PgCronError
from pgcron.models import Run

if TYPE_CHECKING:
    from pgcron.client import Client

__all__ = ["FeedPage", "runs_after", "start_runid"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeedPage:
    """Runs after a runid, oldest first; ``observed_at`` is the server's clock when they were read."""

    runs: tuple[Run, ...]
    observed_at: datetime
    full: bool  # the page hit its limit: more runs may follow the last one


def runs_after(
    client: Client,
    after_runid: int,
    *,
    jobids: Iterable[int] | None = None,
    limit: int = 500,
    also: Iterable[int] | None = None,
) -> FeedPage:
    """Runs with ``runid > after_runid`` (of ``jobids`` only, when given), oldest first, at most ``limit``.

    ``also`` names older runids to read again in the same query (an observer's unfinished runs)."""
    if limit < 1:
        raise PgCronError(f"limit must be at least 1, got {limit}")
    if after_runid < 0:
        raise PgCronError(f"after_runid must be 0 or a runid, got {after_runid}")
    ids = None if jobids is None else sorted({int(j) for j in jobids})
    mode = client.capabilities().execution_mode
    again = sorted({int(r) for r in also}) if also is not None else []
    rows = client.database.fetch_all(
        "runfeed_after", {"after_runid": after_runid, "jobids": ids, "limit": limit, "also": again}
    )
    runs = tuple(base.run_from_row(row, execution_mode=mode) for row in rows)
    runs = tuple(client._with_outcomes(list(runs), client.capabilities()))  # pushdown: "1 row", not CALL
    observed: datetime = rows[0]["observed_at"] if rows else _server_now(client)
    logger.debug("run feed: %d runs after %d", len(runs), after_runid)
    return FeedPage(runs=runs, observed_at=observed, full=len(rows) >= limit)


def start_runid(client: Client, before: datetime) -> int:
    """The highest runid that started before ``before`` (0 when none): where a new observer begins."""
    row: dict[str, Any] | None = client.database.fetch_one("runfeed_start", {"before": before})
    return int(row["runid"]) if row else 0


def _server_now(client: Client) -> datetime:
    row = client.database.fetch_one("runfeed_start", {"before": None})
    assert row is not None
    now: datetime = row["now"]
    return now
