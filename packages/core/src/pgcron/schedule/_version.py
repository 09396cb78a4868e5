"""Which pg_cron release a schedule is parsed for, and what that release's parser can do.

The schedule parser changed between releases (read from pg_cron's tags, and checked against live
servers by the differential tests):

* 1.4.x: five-field cron and ``@`` macros only; ``@yearly`` means ``0 0 1 1 *``.
* 1.5.0: added ``N seconds``. Its parser tried the interval form *first* and accepted any text that
  starts with a number (``5 4 * * *`` became a 5-second job). 1.5.1 fixed that. We model 1.5.1+
  for every 1.5 version and say so in docs/schedules.md.
* 1.6.0: added ``$`` (last day of the month); a rewrite of the macro code made ``@yearly`` and
  ``@annually`` set no month at all, so they are accepted but never fire.
* 1.6.5: steps larger than the field's maximum (``*/60``) are rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pgcron.errors import UnsupportedFeature

_VERSION_RE = re.compile(r"^\s*v?(\d+)\.(\d+)(?:[.-](\d+))?\s*$")

# Newest patch release we know of per minor version: "1.6" means the current 1.6 line.
_LATEST_PATCH = {(1, 4): 2, (1, 5): 2, (1, 6): 8}


@dataclass(frozen=True, slots=True)
class PgCronVersion:
    """A pg_cron release and the schedule features its parser has."""

    major: int
    minor: int
    patch: int

    @property
    def label(self) -> str:
        return _label(self.major, self.minor, self.patch)

    @property
    def has_intervals(self) -> bool:
        """``N seconds`` schedules (1.5.0+)."""
        return (self.major, self.minor) >= (1, 5)

    @property
    def has_last_day(self) -> bool:
        """``$`` in the day-of-month field (1.6.0+)."""
        return (self.major, self.minor) >= (1, 6)

    @property
    def has_timezone(self) -> bool:
        """The ``cron.timezone`` setting (1.5.0+); before it every schedule is evaluated in GMT."""
        return (self.major, self.minor) >= (1, 5)

    @property
    def rejects_large_steps(self) -> bool:
        """Steps above the field's maximum are rejected (1.6.5+)."""
        return (self.major, self.minor, self.patch) >= (1, 6, 5)

    @property
    def yearly_never_fires(self) -> bool:
        """``@yearly``/``@annually`` set no month bit (1.6.0+)."""
        return (self.major, self.minor) >= (1, 6)


@lru_cache(maxsize=64)
def _label(major: int, minor: int, patch: int) -> str:
    return f"{major}.{minor}.{patch}"


@lru_cache(maxsize=64)
def parse_version(text: str | PgCronVersion) -> PgCronVersion:
    """Read ``"1.6"``, ``"1.6.5"``, ``"1.4-1"`` (an extversion) or ``"v1.5.2"``.

    A version without a patch number means the newest patch of that line, except ``1.4-1``, the
    extversion that release 1.4.2 installs.
    """
    if isinstance(text, PgCronVersion):
        return text
    match = _VERSION_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise UnsupportedFeature(
            f"pgcron_version {text!r} is not a pg_cron version: write it like '1.6', '1.6.5' or '1.4'"
        )
    major, minor = int(match.group(1)), int(match.group(2))
    if (major, minor) not in _LATEST_PATCH:
        raise UnsupportedFeature(
            f"pg_cron {major}.{minor} is not supported: Schedule models pg_cron 1.4, 1.5 and 1.6 "
            "(older releases lack named jobs and alter_job; upgrade pg_cron)"
        )
    raw_patch = match.group(3)
    if raw_patch is None:
        patch = _LATEST_PATCH[(major, minor)]
    elif "-" in text and (major, minor) == (1, 4):
        patch = 2  # extversion 1.4-1 is release 1.4.2
    else:
        patch = int(raw_patch)
    return PgCronVersion(major, minor, patch)
