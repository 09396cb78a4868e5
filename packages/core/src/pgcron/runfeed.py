"""The run feed: runs in ``runid`` order after a cursor, for observers that must see every run once.

``Client.runs`` answers "what happened recently" (newest first). An observer such as the Dagster sensor or
the Airflow asset watcher needs the other direction: every run *after* the last one it handled, oldest
first, with the engine's status (``pgcron.runstate``), at a cost that does not grow with the history (the
``runid`` range walks the primary key). ``Client.runs_after`` reads the feed; ``RunCursor`` remembers what
an observer has handled, correctly when runs end out of ``runid`` order::

    cursor = RunCursor.parse(saved) if saved else RunCursor(watermark=client.start_runid(since))
    page = client.runs_after(cursor.watermark, jobids=[job.jobid])
    for run in cursor.advance(page.runs, settled_before=page.observed_at - SETTLE):
        report(run)  # every finished run exactly once, in the order they finish
    save(cursor.serialize())
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pgcron.errors import InvalidCursor, PgCronError
from pgcron.models import Run

if TYPE_CHECKING:
    from pgcron.client import Client

__all__ = ["MAX_RANGES", "SETTLE", "FeedPage", "RunCursor", "runs_after", "start_runid"]

logger = logging.getLogger(__name__)

#: How long after a run ended the cursor treats the runids below it as final. pg_cron takes a runid from a
#: sequence when it inserts the run's row and commits it at once, so a row with a smaller runid that is not
#: visible yet appears within moments; 30 s leaves a wide margin.
SETTLE = timedelta(seconds=30)
#: The most ranges of settled runids a cursor keeps above its watermark (see ``RunCursor``).
MAX_RANGES = 10_000

_RANGE = r"\d{1,19}(?:-\d{1,19})?"
_TEXT_RE = re.compile(rf"\A(?P<w>\d{{1,19}})(?:;(?P<ranges>{_RANGE}(?:,{_RANGE})*))?\Z")


@dataclass(frozen=True, slots=True)
class FeedPage:
    """Runs after a runid, oldest first; ``observed_at`` is the server's clock when they were read."""

    runs: tuple[Run, ...]
    observed_at: datetime
    full: bool  # the page hit its limit: more runs may follow the last one


class RunCursor:
    """Which runs of a feed an observer has handled; correct when runs end out of ``runid`` order.

    ``runid`` comes from a sequence when pg_cron *starts* a run, but runs end in any order (a long run that
    started first ends last). The cursor keeps

    * ``watermark``: every run of the feed at or below it is settled (finished and returned by
      ``advance``), and no run can still appear below it;
    * ``settled_ranges``: the settled runids above the watermark, as ``(lo, hi)`` ranges. Once a run ended
      ``SETTLE`` ago, no new row can appear below it, so a range also covers the runids between the runs the
      feed returned: the ranges are split only by runs still unfinished and by runs that ended moments ago.
      A long run holding the watermark back while thousands of short runs end above it costs one range.

    **Bound**: at most ``MAX_RANGES`` (10,000) ranges. A feed stays far below it (pg_cron runs at most
    ``cron.max_running_jobs`` runs at once, and a job at most once a second). Past the bound, the watermark
    moves to the top of the oldest ranges and a WARNING names the runids it passed: a run among them that
    was still unfinished is not reported when it ends.

    The cursor belongs to one feed (one set of jobids): read ``runs_after(cursor.watermark, ...)`` and give
    each page to ``advance``. ``serialize`` / ``parse`` round-trip it through a short string
    (``"<watermark>"`` or ``"<watermark>;<lo>-<hi>,<runid>,..."``).
    """

    __slots__ = ("_ranges", "_watermark")

    def __init__(self, watermark: int = 0, settled_ranges: Iterable[tuple[int, int]] = ()) -> None:
        if isinstance(watermark, bool) or not isinstance(watermark, int) or watermark < 0:
            raise PgCronError(f"watermark must be 0 or a runid, got {watermark!r}")
        self._watermark = watermark
        self._ranges: list[tuple[int, int]] = []
        self._merge([(int(lo), int(hi)) for lo, hi in settled_ranges])

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def watermark(self) -> int:
        """Every run of the feed at or below this runid is settled; read the feed after it."""
        return self._watermark

    @property
    def settled_ranges(self) -> tuple[tuple[int, int], ...]:
        """The settled runids above the watermark, as sorted, disjoint ``(lo, hi)`` ranges."""
        return tuple(self._ranges)

    def is_settled(self, runid: int) -> bool:
        """Whether ``advance`` has returned (or passed over) this runid."""
        if runid <= self._watermark:
            return True
        i = bisect.bisect_right(self._ranges, (runid, runid)) - 1
        if i >= 0 and self._ranges[i][0] <= runid <= self._ranges[i][1]:
            return True
        return i + 1 < len(self._ranges) and self._ranges[i + 1][0] == runid

    # -- the one operation -----------------------------------------------------------------------------------
    def advance(
        self, runs: Iterable[Run], *, settled_before: datetime, after: int | None = None
    ) -> list[Run]:
        """Take one page of the feed; return its finished runs not returned before, in ``runid`` order.

        ``runs`` are the feed's runs with ``runid > after``, oldest first, all of them up to the last one
        (a page of ``runs_after``). ``after`` is the runid the page was read after: the watermark (the
        default) for the first page, the last runid of the previous page for the next one. A run that ended
        at or before ``settled_before`` (the page's ``observed_at - SETTLE``) closes the runids below it;
        younger runs are remembered one by one until a later page closes them.
        """
        lower = self._watermark if after is None else max(int(after), self._watermark)
        newly: list[Run] = []
        unfinished: list[int] = []
        added: list[tuple[int, int]] = []
        closed_to: int | None = None  # the newest run that ended long enough ago
        previous = lower
        for run in runs:
            runid = run.runid
            if runid <= previous:
                raise PgCronError(
                    f"advance() takes the feed's runs after runid {lower}, oldest first; got runid {runid} "
                    f"after {previous}. Pass a page of runs_after(cursor.watermark, ...) and its after=."
                )
            previous = runid
            if not run.status.is_terminal:
                unfinished.append(runid)
                continue
            if not self.is_settled(runid):
                newly.append(run)
            ended = run.end_time or run.start_time
            if ended is not None and ended <= settled_before:
                closed_to = runid
            else:
                added.append((runid, runid))
        if closed_to is not None:
            start = lower + 1
            for runid in unfinished:
                if runid > closed_to:
                    break
                if start < runid:
                    added.append((start, runid - 1))
                start = runid + 1
            if start <= closed_to:
                added.append((start, closed_to))
        self._merge(added)
        return newly

    def _merge(self, added: list[tuple[int, int]]) -> None:
        ranges = sorted([*self._ranges, *added])
        merged: list[tuple[int, int]] = []
        for lo, hi in ranges:
            if hi < lo:
                raise PgCronError(f"a settled range runs from low to high, got {lo}-{hi}")
            if hi <= self._watermark:
                continue
            lo = max(lo, self._watermark + 1)
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        if merged and merged[0][0] == self._watermark + 1:
            self._watermark = merged.pop(0)[1]
        if len(merged) > MAX_RANGES:
            cut = len(merged) - MAX_RANGES
            passed = [(self._watermark + 1, merged[0][0] - 1)]
            passed += [(merged[i][1] + 1, merged[i + 1][0] - 1) for i in range(cut - 1)]
            self._watermark = merged[cut - 1][1]
            merged = merged[cut:]
            logger.warning(
                "run cursor: more than %d ranges of settled runids above the watermark; it moves to %d and "
                "passes runids %s, whose runs are not reported if they were still unfinished",
                MAX_RANGES,
                self._watermark,
                ", ".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in passed[:20])
                + (", ..." if len(passed) > 20 else ""),
            )
        self._ranges = merged

    # -- text ------------------------------------------------------------------------------------------------
    def serialize(self) -> str:
        """The cursor as a short string for ``parse``: ``"<watermark>[;<lo>-<hi>|<runid>,...]"``."""
        if not self._ranges:
            return str(self._watermark)
        parts = (f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in self._ranges)
        return f"{self._watermark};{','.join(parts)}"

    @classmethod
    def parse(cls, text: str) -> RunCursor:
        """The cursor ``serialize`` wrote; ``InvalidCursor`` for anything else.

        A bare runid (``"1234"``) is a cursor with that watermark, so a saved "last runid" reads as one.
        """
        match = _TEXT_RE.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise InvalidCursor(
                f"{str(text)[:80]!r} is not a run cursor: expected '<watermark>' or "
                "'<watermark>;<lo>-<hi>,...' (RunCursor.serialize). Start a new cursor with "
                "RunCursor(watermark=...)."
            )
        ranges: list[tuple[int, int]] = []
        if match["ranges"]:
            for part in match["ranges"].split(","):
                lo, _, hi = part.partition("-")
                ranges.append((int(lo), int(hi or lo)))
        try:
            return cls(int(match["w"]), ranges)
        except PgCronError as exc:
            raise InvalidCursor(f"{str(text)[:80]!r} is not a valid run cursor: {exc.message}") from exc

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunCursor):
            return NotImplemented
        return self._watermark == other._watermark and self._ranges == other._ranges

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"RunCursor({self.serialize()!r})"


def runs_after(
    client: Client,
    after_runid: int,
    *,
    jobids: Iterable[int] | None = None,
    limit: int = 500,
    also: Iterable[int] | None = None,
) -> FeedPage:
    """``client.runs_after(...)``: the feed's runs after ``after_runid`` (see ``Client.runs_after``)."""
    return client.runs_after(after_runid, jobids=jobids, limit=limit, also=also)


def start_runid(client: Client, before: datetime) -> int:
    """``client.start_runid(before)``: where a new observer begins (see ``Client.start_runid``)."""
    return client.start_runid(before)
