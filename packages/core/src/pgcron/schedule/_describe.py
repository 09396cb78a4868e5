"""Plain-English descriptions of what pg_cron will actually do with a schedule.

Descriptions are built from the stored bit sets, not from the text, so a quirk such as a reversed
range is described by the values pg_cron really uses.
"""

from __future__ import annotations

from collections.abc import Callable

from pgcron.schedule._fire import CronMatcher

_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _runs(values: tuple[int, ...]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and runs[-1][1] == value - 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def _step(values: tuple[int, ...], low: int, high: int) -> int:
    """k if values are low, low+k, … up to high (a '*/k' field), else 0."""
    if len(values) < 3 or values[0] != low:
        return 0
    k = values[1] - values[0]
    if k < 2 or values != tuple(range(low, high + 1, k)):
        return 0
    return k


def _list(values: tuple[int, ...], name: Callable[[int], str] = str, *, through: str = "-") -> str:
    parts = []
    for start, stop in _runs(values):
        if stop - start >= 2:
            parts.append(f"{name(start)}{through}{name(stop)}")
        else:
            parts.extend(name(v) for v in range(start, stop + 1))
    return _join(parts)


def _time_phrase(m: CronMatcher) -> tuple[str, bool]:
    """The time-of-day part, and whether it already reads like a repeating rule."""
    minutes, hours = m.minutes, m.hours
    all_minutes, all_hours = len(minutes) == 60, len(hours) == 24
    minute_step, hour_step = _step(minutes, 0, 59), _step(hours, 0, 23)
    if all_hours:
        if all_minutes:
            return "Every minute", True
        if minute_step:
            return f"Every {minute_step} minutes", True
        label = "minute" if len(minutes) == 1 else "minutes"
        return f"At {label} {_list(minutes)} of every hour", True
    if len(minutes) * len(hours) <= 6 and not all_minutes:
        times = [f"{h:02d}:{mi:02d}" for h in hours for mi in minutes]
        return f"At {_join(times)}", False
    if hour_step:
        hour_text = f"every {_ordinal(hour_step)} hour ({', '.join(map(str, hours[:3]))}, …)"
    else:
        hour_text = f"hour{'s' if len(hours) > 1 else ''} {_list(hours)}"
    if all_minutes:
        return f"Every minute of {hour_text}", True
    if minute_step:
        return f"Every {minute_step} minutes of {hour_text}", True
    label = "minute" if len(minutes) == 1 else "minutes"
    return f"At {label} {_list(minutes)} of {hour_text}", True


def _dom_phrase(m: CronMatcher) -> str:
    if m.dom_last:
        return "the last day of the month"
    days = tuple(d for d in range(1, 32) if m.dom >> (d - 1) & 1)
    step = _step(days, 1, 31)
    if step:
        return f"every {_ordinal(step)} day of the month ({', '.join(map(str, days[:3]))}, …)"
    if len(days) == 1:
        return f"day {days[0]} of the month"
    return f"days {_list(days)} of the month"


def _dow_phrase(m: CronMatcher) -> str:
    days = tuple(d for d in range(7) if m.dow >> d & 1)
    return _list(days, lambda d: _DAY_NAMES[d], through=" through ")


def _month_phrase(months: tuple[int, ...]) -> str:
    return _list(months, lambda mo: _MONTH_NAMES[mo - 1], through=" through ")


def describe_cron(m: CronMatcher) -> str:
    time_text, _ = _time_phrase(m)
    months = tuple(mo for mo in range(1, 13) if m.months >> (mo - 1) & 1)
    all_months = len(months) == 12
    dom_all = (m.dom & 0x7FFFFFFF) == 0x7FFFFFFF and not m.dom_last
    dow_all = (m.dow & 0x7F) == 0x7F
    if m.and_mode:
        dom_restricted, dow_restricted = not dom_all, not dow_all
    else:
        # OR of two restricted fields; if either covers every day, every day matches
        dom_restricted = dow_restricted = not (dom_all or dow_all)
    month_of = "every month" if all_months else _month_phrase(months)
    if dom_restricted and dow_restricted:
        dom_text = _dom_phrase(m).replace("of the month", f"of {month_of}")
        if m.and_mode:
            day_text = f"on {dom_text} if it is a {_dow_phrase(m)}"
        else:
            day_text = f"on {dom_text} or on {_dow_phrase(m)}"
    elif dom_restricted:
        day_text = "on " + _dom_phrase(m).replace("of the month", f"of {month_of}")
    elif dow_restricted:
        day_text = f"on {_dow_phrase(m)}" + ("" if all_months else f" in {month_of}")
    else:
        day_text = "every day" if all_months else f"every day in {month_of}"
    if day_text == "every day" and time_text.startswith("Every"):
        return time_text
    return f"{time_text} {day_text}"
