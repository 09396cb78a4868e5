"""The public :class:`Schedule`: one pg_cron schedule, parsed for one pg_cron version."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pgcron.errors import ScheduleError, UnsupportedFeature
from pgcron.schedule._describe import describe_cron
from pgcron.schedule._fire import CronMatcher, _is_utc, next_fire_times
from pgcron.schedule._parse import CronBits, Quirk, _fast_cron, parse
from pgcron.schedule._version import PgCronVersion, parse_version

logger = logging.getLogger(__name__)

Kind = Literal["cron", "interval", "reboot"]


@dataclass(frozen=True, slots=True)
class Schedule:
    """A pg_cron schedule: five-field cron, ``N seconds`` or an ``@`` macro.

    Build one with :meth:`Schedule.parse`. Instances are immutable and cached per
    ``(text, pgcron_version, strict)``.
    """

    text: str
    """The schedule exactly as given (what is sent to ``cron.schedule``)."""
    pgcron_version: str
    """The pg_cron release it was parsed for, e.g. ``"1.6.8"``."""
    strict: bool
    kind: Kind
    """``"cron"``, ``"interval"`` (``N seconds``) or ``"reboot"`` (``@reboot``/``@restart``)."""
    interval: timedelta | None
    """For interval schedules, the time from one run's start to the next; otherwise None."""
    quirks: tuple[Quirk, ...]
    """What pg_cron silently reinterprets in this text (always empty in strict mode)."""
    bits: CronBits | None = field(repr=False, compare=False)
    _version: PgCronVersion = field(repr=False, compare=False)
    _matcher: CronMatcher | None = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str, *, pgcron_version: str = "1.6", strict: bool = True) -> Schedule:
        """Parse ``text`` as pg_cron ``pgcron_version`` would.

        ``strict=False`` (compat) accepts exactly what that pg_cron version accepts. ``strict=True``
        (the default) also refuses what pg_cron would silently mangle: fields after the fifth,
        ``1#2``, ``1.5``, reversed ranges, ``@yearly``, steps above the field maximum.

        Raises :class:`~pgcron.errors.ScheduleError` (with ``position``) when refused.
        """
        if not isinstance(text, str):
            raise ScheduleError(f"a schedule must be a string, not {type(text).__name__}")
        return _parse_cached(text, str(pgcron_version), bool(strict))

    # -- fire times -------------------------------------------------------------------------
    def next_times(
        self, after: datetime | None = None, n: int = 10, *, timezone: str | tzinfo = "GMT"
    ) -> list[datetime]:
        """The next ``n`` times pg_cron starts this job, strictly after ``after`` (default: now).

        ``timezone`` is the server's ``cron.timezone`` (pg_cron's default is GMT; 1.4 has no such
        setting and always uses GMT). Results are aware datetimes in that zone.

        * cron: start minutes, following the launcher's rules (Vixie day rule, ``$``, DST: a
          skipped wall-clock minute never fires, a repeated one fires twice).
        * interval: ``after + k * interval``; ``after`` is taken to be the start of the previous
          run (or the moment the launcher picked the job up, which delays the first run by one
          interval). pg_cron measures start to start, so real runs drift by a few ms each.
        * reboot: an empty list; such jobs run only when the launcher starts.
        """
        zone = _zone(timezone)
        if not self._version.has_timezone and not _is_utc(zone):
            raise UnsupportedFeature(
                f"pg_cron {self._version.label} has no cron.timezone setting and evaluates every "
                f"schedule in GMT, so timezone={timezone!r} cannot apply: pass timezone='GMT' "
                "(and convert the results), or upgrade to pg_cron 1.5+ and set cron.timezone"
            )
        if after is None:
            after = datetime.now(UTC)
        elif after.tzinfo is None or after.utcoffset() is None:
            raise ScheduleError(
                "after must be a timezone-aware datetime, e.g. datetime.now(UTC) or "
                "datetime(2026, 1, 1, tzinfo=ZoneInfo('Europe/Berlin'))"
            )
        if n < 0:
            raise ScheduleError(f"n must be 0 or more, not {n}")
        if self.kind == "reboot":
            return []
        if self.kind == "interval":
            assert self.interval is not None
            return [(after + self.interval * k).astimezone(zone) for k in range(1, n + 1)]
        return next_fire_times(self._cron_matcher(), after, n, zone)

    @property
    def never_fires(self) -> bool:
        """True for cron schedules that match no minute at all (``0 0 31 2 *``, ``@yearly`` on 1.6)."""
        if self.kind != "cron":
            return False
        return not next_fire_times(self._cron_matcher(), datetime(2000, 1, 1, tzinfo=UTC), 1, UTC)

    def describe(self) -> str:
        """What pg_cron will do, in plain English, e.g. "At 12:00 on the last day of every month"."""
        if self.kind == "reboot":
            return (
                "Once each time the pg_cron launcher starts (server start, promotion or a launcher "
                "restart); it has no clock-based fire times"
            )
        if self.kind == "interval":
            assert self.interval is not None
            seconds = int(self.interval.total_seconds())
            every = "Every second" if seconds == 1 else f"Every {seconds} seconds"
            return f"{every}, measured from the start of one run to the start of the next"
        if self.never_fires:
            if self.bits is not None and self.bits.month == 0 and self.text.lstrip().startswith("@"):
                return (
                    f"Never: pg_cron {self._version.label} accepts @yearly/@annually but sets no "
                    "month, so the job never runs"
                )
            return "Never: no date matches this schedule"
        return describe_cron(self._cron_matcher())

    def __str__(self) -> str:
        return self.text

    def _cron_matcher(self) -> CronMatcher:
        """Precomputed minute/hour lists and day rule, built on first use (parsing stays cheap)."""
        matcher = self._matcher
        if matcher is None:
            assert self.bits is not None
            matcher = CronMatcher(self.bits)
            object.__setattr__(self, "_matcher", matcher)  # a cache on an immutable value
        return matcher


@lru_cache(maxsize=65536)
def _parse_cached(text: str, version_text: str, strict: bool) -> Schedule:
    version = parse_version(version_text)
    fast = _fast_cron(text, version)
    if fast is not None:  # a clean five-field line: no quirks, nothing to refuse
        return Schedule(text, version.label, strict, "cron", None, (), fast, version, None)
    result = parse(text, version)
    if not result.kind:
        position = result.error_position
        raise ScheduleError(
            f"invalid schedule {_shown(text)} for pg_cron {version.label}: {result.error}"
            + (f" (at position {position})" if position is not None else ""),
            text=text,
            position=position,
            pgcron_version=version.label,
        )
    if strict and result.quirks:
        quirk = result.quirks[0]
        raise ScheduleError(
            f"schedule {_shown(text)} refused in strict mode: {quirk.message} (at position "
            f"{quirk.position}); pass strict=False to accept what pg_cron {version.label} accepts",
            text=text,
            position=quirk.position,
            pgcron_version=version.label,
            quirk=quirk.code,
            quirks=tuple(q.code for q in result.quirks),
        )
    interval = timedelta(seconds=result.seconds) if result.kind == "interval" else None
    return Schedule(
        text=text,
        pgcron_version=version.label,
        strict=strict,
        kind=result.kind,  # type: ignore[arg-type]
        interval=interval,
        quirks=tuple(result.quirks),
        bits=result.bits,
        _version=version,
        _matcher=None,
    )


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 80 else repr(text[:60]) + f"… ({len(text)} characters)"


@lru_cache(maxsize=512)
def _zone_by_name(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"unknown timezone {name!r}: use an IANA name such as 'Europe/Berlin' or 'GMT' "
            "(cron.timezone takes the same names; note that pg_cron silently falls back to GMT "
            "when cron.timezone is invalid)"
        ) from exc


def _zone(timezone: str | tzinfo) -> tzinfo:
    if isinstance(timezone, str):
        return _zone_by_name(timezone)
    return timezone
