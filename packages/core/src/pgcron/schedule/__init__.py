"""pg_cron's schedule language: parse (compat per version, or strict), fire times, descriptions.

See docs/schedules.md. ``Schedule.parse("0 12 $ * *").describe()`` gives
"At 12:00 on the last day of every month".
"""

from __future__ import annotations

from pgcron.errors import ScheduleError
from pgcron.schedule._parse import Quirk
from pgcron.schedule._schedule import Schedule

__all__ = ["Quirk", "Schedule", "ScheduleError"]
