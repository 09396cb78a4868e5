"""When pg_cron starts a cron job: the launcher's minute test, computed with skip-ahead.

The launcher looks at every absolute (UTC) minute once, converts it to wall-clock time in
``cron.timezone`` and starts the job if minute, hour, month and the day rule match. So:

* a wall-clock minute skipped by a DST spring-forward never matches (the job is skipped);
* the repeated hour of a fall-back matches twice (the job runs twice);
* the day rule is Vixie's: AND when the day-of-month or day-of-week field starts with ``*``,
  otherwise OR;
* ``$`` asks whether the instant 24 hours later falls on the 1st (in ``cron.timezone``), which on
  days next to a DST change is not always "the calendar's last day".

Walking minute by minute would take years of CPU for rare schedules, so this module walks
matching *days* (cached per month and day-rule), then matching hours and minutes, and only falls
back to per-instant checks on days where the UTC offset changes.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache

from pgcron.schedule._parse import DOM_LAST, DOM_STAR, DOW_STAR, CronBits

_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
_SEARCH_YEARS = 400  # the Gregorian calendar repeats every 400 years


@lru_cache(maxsize=8192)
def _bit_list(bits: int, count: int, low: int = 0) -> tuple[int, ...]:
    return tuple(low + i for i in range(count) if bits >> i & 1)


class CronMatcher:
    """Precomputed lists and day rule of one cron schedule."""

    __slots__ = ("and_mode", "dom", "dom_last", "dow", "hours", "minutes", "months")

    def __init__(self, bits: CronBits) -> None:
        self.minutes = _bit_list(bits.minute, 60)
        self.hours = _bit_list(bits.hour, 24)
        self.months = bits.month & 0xFFF
        self.dom = bits.dom & 0x7FFFFFFF
        self.dow = (bits.dow & 0x7F) | (1 if bits.dow & 0x80 else 0)
        self.dom_last = bool(bits.flags & DOM_LAST)
        self.and_mode = bool(bits.flags & (DOM_STAR | DOW_STAR))

    @property
    def can_fire(self) -> bool:
        return bool(self.minutes and self.hours and self.months)

    def days(self, year: int, month: int, loose: bool) -> tuple[tuple[int, ...], frozenset[int]]:
        """Matching days of a month, and the subset whose ``$`` test must be done per instant."""
        return _month_days(self.dom, self.dow, self.dom_last, self.and_mode, year, month, loose)

    def exact_day(self, day_of_month: int, weekday: int, is_last: bool) -> bool:
        this_dom = bool(self.dom >> (day_of_month - 1) & 1) or (is_last and self.dom_last)
        this_dow = bool(self.dow >> weekday & 1)
        return (this_dom and this_dow) if self.and_mode else (this_dom or this_dow)


@lru_cache(maxsize=16384)
def _month_days(
    dom: int, dow: int, dom_last: bool, and_mode: bool, year: int, month: int, loose: bool
) -> tuple[tuple[int, ...], frozenset[int]]:
    first_weekday, ndays = calendar.monthrange(year, month)  # Monday = 0
    cron_weekday = (first_weekday + 1) % 7  # Sunday = 0
    days: list[int] = []
    uncertain: set[int] = set()
    for day in range(1, ndays + 1):
        weekday = (cron_weekday + day - 1) % 7
        this_dow = bool(dow >> weekday & 1)
        this_dom = bool(dom >> (day - 1) & 1)
        if dom_last:
            if not loose:
                this_dom = day == ndays
            elif day in (1, ndays - 1, ndays):
                # '$' asks "is 24 hours later the 1st?"; next to a DST change that can hold on
                # the day before the last or on the 1st, and fail early on a 25-hour last day, so
                # these days are decided per instant when the answer matters.
                if_last = this_dow if and_mode else True
                without_last = False if and_mode else this_dow
                if if_last and not without_last:
                    uncertain.add(day)
                    days.append(day)
                    continue
        if (this_dom and this_dow) if and_mode else (this_dom or this_dow):
            days.append(day)
    return tuple(days), frozenset(uncertain)


def _is_utc(zone: tzinfo) -> bool:
    if zone is UTC:
        return True
    key = getattr(zone, "key", None)
    return key in _UTC_KEYS


_UTC_KEYS = frozenset(
    {
        "UTC",
        "GMT",
        "Etc/UTC",
        "Etc/GMT",
        "Etc/Universal",
        "Universal",
        "Zulu",
        "Etc/Zulu",
        "GMT0",
        "Greenwich",
        "Etc/Greenwich",
        "UCT",
        "Etc/UCT",
        "GMT+0",
        "GMT-0",
        "Etc/GMT+0",
        "Etc/GMT-0",
        "Etc/GMT0",
    }
)


def _iter_days(matcher: CronMatcher, start: date, loose: bool) -> Iterator[tuple[date, bool]]:
    """Matching days from ``start`` on, each with 'needs a per-instant $ check'."""
    year, month, day = start.year, start.month, start.day
    last_year = year + _SEARCH_YEARS
    while year <= min(last_year, 9998):
        if matcher.months >> (month - 1) & 1:
            days, uncertain = matcher.days(year, month, loose)
            for d in days[bisect_left(days, day) :]:
                yield date(year, month, d), d in uncertain
        day = 1
        month += 1
        if month == 13:
            month = 1
            year += 1


@lru_cache(maxsize=65536)
def _midnight_offset(zone: tzinfo, day: date) -> timedelta:
    """UTC offset at the wall-clock start of ``day`` (cached: many schedules share days)."""
    off = datetime(day.year, day.month, day.day, tzinfo=zone).utcoffset()
    assert off is not None
    return off


def _ceil_minute(instant: datetime) -> datetime:
    if instant.second or instant.microsecond:
        return instant.replace(second=0, microsecond=0) + _MINUTE
    return instant


def next_fire_times(matcher: CronMatcher, after: datetime, count: int, zone: tzinfo) -> list[datetime]:
    """The first ``count`` start minutes strictly after ``after``, as datetimes in ``zone``."""
    if count <= 0 or not matcher.can_fire:
        return []
    after_utc = after.astimezone(UTC)
    first = after_utc.replace(second=0, microsecond=0) + _MINUTE  # earliest instant to report
    results: list[datetime] = []
    if _is_utc(zone):
        _collect_fixed_utc(matcher, first, count, zone, results)
        return results
    start_day = first.astimezone(zone).date() - _DAY  # the day before may hold a repeated hour
    loose = matcher.dom_last
    for day, uncertain in _iter_days(matcher, start_day, loose):
        off_start = _midnight_offset(zone, day)
        off_end = _midnight_offset(zone, day + _DAY)
        if uncertain and off_start == off_end == _midnight_offset(zone, day + 2 * _DAY):
            # no offset change within 48 hours: "24 hours later is the 1st" is the calendar's rule
            is_last = (day + _DAY).day == 1
            if not matcher.exact_day(day.day, (day.weekday() + 1) % 7, is_last):
                continue
            uncertain = False
        if off_start == off_end and not uncertain:
            _collect_fixed_day(matcher, day, off_start, first, count, zone, results)
        else:
            _collect_changing_day(matcher, day, first, count, zone, results, uncertain)
        if len(results) >= count:
            break
    return results[:count]


def _collect_fixed_utc(
    matcher: CronMatcher, first: datetime, count: int, zone: tzinfo, out: list[datetime]
) -> None:
    hours, minutes = matcher.hours, matcher.minutes
    start_day = first.date()
    h0, m0 = first.hour, first.minute
    for day, _ in _iter_days(matcher, start_day, False):
        same_day = day == start_day
        for hour in hours[bisect_left(hours, h0) :] if same_day else hours:
            mins = minutes[bisect_left(minutes, m0) :] if same_day and hour == h0 else minutes
            for minute in mins:
                out.append(datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone))
                if len(out) >= count:
                    return


def _collect_fixed_day(
    matcher: CronMatcher,
    day: date,
    offset: timedelta,
    first: datetime,
    count: int,
    zone: tzinfo,
    out: list[datetime],
) -> None:
    """A day without an offset change: wall time and instants map one to one."""
    hours, minutes = matcher.hours, matcher.minutes
    start_wall = (first + offset).replace(tzinfo=None)
    if start_wall.date() > day:
        return
    if start_wall.date() < day:
        h0, m0 = -1, -1
    else:
        h0, m0 = start_wall.hour, start_wall.minute
        # a whole-minute instant can map to a wall time with seconds (old LMT offsets)
        if start_wall.second:
            m0 += 1
    seconds = offset.seconds % 60 != 0 or offset.microseconds != 0
    for hour in hours[bisect_left(hours, h0) :] if h0 >= 0 else hours:
        mins = minutes[bisect_left(minutes, m0) :] if hour == h0 else minutes
        for minute in mins:
            wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
            if seconds:
                instant = _ceil_minute((wall.replace(tzinfo=None) - offset).replace(tzinfo=UTC))
                if instant < first:
                    continue
                out.append(instant.astimezone(zone))
            else:
                out.append(wall)
            if len(out) >= count:
                return


def _collect_changing_day(
    matcher: CronMatcher,
    day: date,
    first: datetime,
    count: int,
    zone: tzinfo,
    out: list[datetime],
    uncertain: bool,
) -> None:
    """A day with a UTC offset change (or a '$' check near one): test every candidate instant."""
    instants: set[datetime] = set()
    weekday = (day.weekday() + 1) % 7
    for hour in matcher.hours:
        for minute in matcher.minutes:
            wall = datetime(day.year, day.month, day.day, hour, minute)
            for fold in (0, 1):
                instant = _ceil_minute(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC))
                local = instant.astimezone(zone)
                if (local.year, local.month, local.day, local.hour, local.minute) != (
                    day.year,
                    day.month,
                    day.day,
                    hour,
                    minute,
                ):
                    continue  # this wall-clock minute does not exist today (spring forward)
                if instant < first or instant in instants:
                    continue
                if uncertain:
                    tomorrow = (instant + _DAY).astimezone(zone)
                    if not matcher.exact_day(day.day, weekday, tomorrow.day == 1):
                        continue
                instants.add(instant)
    for instant in sorted(instants):
        out.append(instant.astimezone(zone))
        if len(out) >= count:
            return
