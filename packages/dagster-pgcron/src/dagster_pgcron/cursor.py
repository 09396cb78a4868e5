"""The run sensor's cursor: which pg_cron runs were already reported, correct when runs finish out of order.

``runid`` comes from a sequence when pg_cron *starts* a run, but runs end in any order (a long job started
first ends last). The cursor is therefore

* ``w``: the watermark, a runid at or below which every watched run has been reported, and
* ``done``: the runids above ``w`` already reported, stored as ranges ``[[lo, hi], ...]`` (a long run
  holding the watermark back while thousands of short runs finish above it stays a few ranges).

A tick reads runs ``> w`` in runid order, reports each terminal run not in ``done``, then moves ``w`` over
the leading runs that are reported *and settled* (ended a little while ago, so a row committed late
with a smaller runid cannot be skipped). ``jobs`` remembers jobid -> job name, because an unscheduled job
loses its name in ``cron.job`` while its runs remain. ``audit`` is the end of the last audited window.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["RunCursor", "compress", "expand"]

logger = logging.getLogger(__name__)

VERSION = 1


def compress(runids: Iterable[int]) -> list[list[int]]:
    """Sorted, merged ``[lo, hi]`` ranges of a set of runids."""
    ranges: list[list[int]] = []
    for rid in sorted(set(runids)):
        if ranges and rid == ranges[-1][1] + 1:
            ranges[-1][1] = rid
        else:
            ranges.append([rid, rid])
    return ranges


def expand(ranges: Iterable[Iterable[int]]) -> set[int]:
    out: set[int] = set()
    for pair in ranges:
        lo, hi = (int(x) for x in pair)
        if hi < lo or hi - lo > 10_000_000:
            raise ValueError(f"bad range {lo}-{hi}")
        out.update(range(lo, hi + 1))
    return out


@dataclass
class RunCursor:
    """See the module docstring."""

    watermark: int
    done: set[int] = field(default_factory=set)
    jobs: dict[int, str] = field(default_factory=dict)
    audited_until: datetime | None = None

    def seen(self, runid: int) -> bool:
        return runid <= self.watermark or runid in self.done

    def mark(self, runid: int) -> None:
        if runid > self.watermark:
            self.done.add(runid)

    def advance(self, runid: int) -> None:
        """Move the watermark to ``runid`` (every watched run up to it is reported)."""
        if runid > self.watermark:
            self.watermark = runid
            self.done = {r for r in self.done if r > runid}

    def serialize(self) -> str:
        return json.dumps(
            {
                "v": VERSION,
                "w": self.watermark,
                "done": compress(self.done),
                "jobs": {str(k): v for k, v in sorted(self.jobs.items())},
                "audit": self.audited_until.isoformat() if self.audited_until else None,
            },
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, text: str | None) -> RunCursor | None:
        """The cursor in ``text``; None when there is none or it is unreadable (logged, then restarted)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            if data.get("v") != VERSION:
                raise ValueError(f"cursor version {data.get('v')!r}, expected {VERSION}")
            audit = data.get("audit")
            return cls(
                watermark=int(data["w"]),
                done=expand(data.get("done") or []),
                jobs={int(k): str(v) for k, v in (data.get("jobs") or {}).items()},
                audited_until=datetime.fromisoformat(audit) if audit else None,
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.warning("unreadable pg_cron sensor cursor (%s); starting from the lookback window", exc)
            return None
