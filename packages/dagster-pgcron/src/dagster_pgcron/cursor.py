"""The run sensor's cursor string: the core's run cursor plus what only the sensor needs.

Which runs were already reported is the core's ``pgcron.runfeed.RunCursor`` (a watermark and the settled
runids above it, correct when runs end out of order). Next to it the sensor keeps ``jobs`` (jobid -> job
name: an unscheduled job loses its name in ``cron.job`` while its runs remain) and ``audited_until`` (the
end of the last audited window). The string is JSON, ``{"v": 2, "runs": "<RunCursor>", "jobs": ..., "audit":
...}``; version 1 strings (before the cursor moved into the core) and a bare run cursor such as ``"1234"``
(``dagster sensor cursor --set``: report the runs after runid 1234) are read too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pgcron.errors import PgCronError
from pgcron.runfeed import RunCursor

__all__ = ["SensorCursor"]

logger = logging.getLogger(__name__)

VERSION = 2


@dataclass
class SensorCursor:
    """See the module docstring."""

    runs: RunCursor = field(default_factory=RunCursor)
    jobs: dict[int, str] = field(default_factory=dict)
    audited_until: datetime | None = None

    def serialize(self) -> str:
        return json.dumps(
            {
                "v": VERSION,
                "runs": self.runs.serialize(),
                "jobs": {str(k): v for k, v in sorted(self.jobs.items())},
                "audit": self.audited_until.isoformat() if self.audited_until else None,
            },
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, text: str | None) -> SensorCursor | None:
        """The cursor in ``text``; None when there is none or it is unreadable (logged, then restarted)."""
        if not text:
            return None
        try:
            if not text.lstrip().startswith("{"):
                return cls(runs=RunCursor.parse(text))
            data = json.loads(text)
            if data.get("v") == 1:
                runs = _version_1(data)
            elif data.get("v") == VERSION:
                runs = RunCursor.parse(str(data["runs"]))
            else:
                raise ValueError(f"cursor version {data.get('v')!r}, expected {VERSION}")
            audit = data.get("audit")
            return cls(
                runs=runs,
                jobs={int(k): str(v) for k, v in (data.get("jobs") or {}).items()},
                audited_until=datetime.fromisoformat(audit) if audit else None,
            )
        except (PgCronError, ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.warning("unreadable pg_cron sensor cursor (%s); starting from the lookback window", exc)
            return None


def _version_1(data: dict[str, Any]) -> RunCursor:
    """A version 1 cursor: ``w`` and the reported runids above it as ``done`` ranges ``[[lo, hi], ...]``."""
    ranges = [(int(lo), int(hi)) for lo, hi in data.get("done") or []]
    return RunCursor(int(data["w"]), ranges)
