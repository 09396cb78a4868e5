"""Unit tests (no database): fire times follow pg_cron's launcher rules.

The strongest check is ``launcher_reference``: a literal, minute-by-minute port of the launcher's
test (every UTC minute, converted to wall-clock time in cron.timezone; '$' = "24 hours later is the
1st"), compared with the skip-ahead engine on many schedules and DST windows. croniter is the
oracle where its semantics equal pg_cron's; each known delta is pinned below.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from pgcron import Schedule, ScheduleError, UnsupportedFeature
from pgcron.schedule._parse import DOM_LAST, DOM_STAR, DOW_STAR
from schedule_generator import schedule_strings

NY = ZoneInfo("America/New_York")


def launcher_reference(schedule: Schedule, after: datetime, minutes: int, zone: ZoneInfo) -> list[datetime]:
    """Walk every absolute minute like pg_cron's launcher and return the matching ones."""
    b = schedule.bits
    assert b is not None
    found = []
    t = after.astimezone(UTC).replace(second=0, microsecond=0)
    for _ in range(minutes):
        t += timedelta(minutes=1)
        local = t.astimezone(zone)
        tomorrow = (t + timedelta(days=1)).astimezone(zone)
        this_dom = bool(b.dom >> (local.day - 1) & 1) or (tomorrow.day == 1 and bool(b.flags & DOM_LAST))
        this_dow = bool(b.dow >> ((local.weekday() + 1) % 7) & 1)
        day_ok = (this_dom and this_dow) if b.flags & (DOM_STAR | DOW_STAR) else (this_dom or this_dow)
        if (
            b.minute >> local.minute & 1
            and b.hour >> local.hour & 1
            and b.month >> (local.month - 1) & 1
            and day_ok
        ):
            found.append(t)
    return found


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def times(text: str, after: datetime, n: int, timezone: str = "GMT", **kw: object) -> list[str]:
    schedule = Schedule.parse(text, strict=False, **kw)  # type: ignore[arg-type]
    return [t.isoformat() for t in schedule.next_times(after, n, timezone=timezone)]


# -- basics ------------------------------------------------------------------------------------


def test_every_minute_is_strictly_after() -> None:
    assert times("* * * * *", utc(2026, 1, 1, 12, 0, 0), 2) == [
        "2026-01-01T12:01:00+00:00",
        "2026-01-01T12:02:00+00:00",
    ]
    assert times("* * * * *", utc(2026, 1, 1, 12, 0, 30), 1) == ["2026-01-01T12:01:00+00:00"]


def test_results_are_aware_and_in_the_requested_zone() -> None:
    result = Schedule.parse("0 9 * * *").next_times(utc(2026, 1, 1), 1, timezone="Asia/Kathmandu")
    assert result[0].isoformat() == "2026-01-01T09:00:00+05:45"
    assert result[0].tzinfo is not None


def test_skip_ahead_finds_rare_dates_quickly() -> None:
    assert times("0 0 29 2 *", utc(2026, 1, 1), 2) == [
        "2028-02-29T00:00:00+00:00",
        "2032-02-29T00:00:00+00:00",
    ]
    assert Schedule.parse("0 0 31 2 *").next_times(utc(2026, 1, 1), 3) == []  # Appendix B: never


# -- §4.5 the Vixie day rule -------------------------------------------------------------------


def test_both_day_fields_restricted_means_or() -> None:
    got = times("0 5 1-7 * 0", utc(2026, 3, 1), 9)  # days 1-7 OR Sundays (Mar 1 2026 is a Sunday)
    assert [g[:10] for g in got] == [
        "2026-03-01",
        "2026-03-02",
        "2026-03-03",
        "2026-03-04",
        "2026-03-05",
        "2026-03-06",
        "2026-03-07",
        "2026-03-08",
        "2026-03-15",
    ]


def test_a_field_starting_with_star_means_and() -> None:
    # odd days that are Mondays: '*/2' starts with '*', so AND (croniter would use OR here)
    got = times("0 0 */2 * 1", utc(2026, 3, 1), 3)
    assert [g[:10] for g in got] == ["2026-03-09", "2026-03-23", "2026-04-13"]
    for g in got:
        day = datetime.fromisoformat(g)
        assert day.day % 2 == 1 and day.weekday() == 0


def test_last_day_or_monday() -> None:
    got = times("0 0 $ * 1", utc(2026, 3, 24), 4)
    assert [g[:10] for g in got] == ["2026-03-30", "2026-03-31", "2026-04-06", "2026-04-13"]


# -- §4.4 '$' ----------------------------------------------------------------------------------


def test_last_day_of_month_including_february() -> None:
    got = times("0 12 $ * *", utc(2027, 12, 31, 13), 4)
    assert got == [
        "2028-01-31T12:00:00+00:00",
        "2028-02-29T12:00:00+00:00",
        "2028-03-31T12:00:00+00:00",
        "2028-04-30T12:00:00+00:00",
    ]


def test_last_day_next_to_dst_follows_the_24_hour_rule() -> None:
    # London, 2024-03-31 is the last day and only 23 hours long: at 23:30 on the 30th, 24 hours
    # later is already April 1st, so pg_cron also fires then.
    assert times("30 23 $ * *", utc(2024, 3, 29), 2, "Europe/London") == [
        "2024-03-30T23:30:00+00:00",
        "2024-03-31T23:30:00+01:00",
    ]
    # Havana 2026-11-01 is a 25-hour 1st: at 00:30, 24 hours later is still the 1st.
    assert times("30 0 $ * *", utc(2026, 10, 30), 2, "America/Havana") == [
        "2026-10-31T00:30:00-04:00",
        "2026-11-01T00:30:00-04:00",
    ]
    # Havana 2010-10-31 is a 25-hour last day whose 00:00-01:00 repeats: 24 hours after the first
    # 00:30 (EDT) is still the 31st, so only the second 00:30 (EST) runs.
    assert times("30 0 $ * *", utc(2010, 10, 1), 2, "America/Havana") == [
        "2010-10-31T00:30:00-05:00",
        "2010-11-30T00:30:00-05:00",
    ]


# -- §4.6 DST ----------------------------------------------------------------------------------


def test_spring_forward_skips_the_missing_hour() -> None:
    got = times("30 2 * * *", datetime(2026, 3, 7, 12, tzinfo=NY), 2, "America/New_York")
    assert got == ["2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"]  # no run on 2026-03-08
    got = times("* * * * *", datetime(2026, 3, 8, 1, 58, tzinfo=NY), 3, "America/New_York")
    assert got == ["2026-03-08T01:59:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:01:00-04:00"]


def test_fall_back_runs_the_repeated_hour_twice() -> None:
    got = times("30 1 * * *", datetime(2026, 10, 31, 12, tzinfo=NY), 3, "America/New_York")
    assert got == ["2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-02T01:30:00-05:00"]


def test_after_inside_the_repeated_hour() -> None:
    first_pass = datetime(2026, 11, 1, 1, 30, tzinfo=NY)  # EDT
    second_pass = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY)  # EST
    assert times("*/20 1 * * *", first_pass, 3, "America/New_York") == [
        "2026-11-01T01:40:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T01:20:00-05:00",
    ]
    assert times("*/20 1 * * *", second_pass, 2, "America/New_York") == [
        "2026-11-01T01:40:00-05:00",
        "2026-11-02T01:00:00-05:00",
    ]


def test_non_whole_hour_offset() -> None:
    assert times("45 5 * * *", utc(2025, 12, 31, 23), 1, "Asia/Kathmandu") == ["2026-01-01T05:45:00+05:45"]
    got = Schedule.parse("45 5 * * *").next_times(utc(2025, 12, 31, 23), 1, timezone="Asia/Kathmandu")
    assert got[0] == utc(2026, 1, 1, 0, 0)


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        ("America/New_York", utc(2026, 3, 7, 20)),
        ("America/New_York", utc(2026, 10, 31, 20)),
        ("Europe/London", utc(2024, 3, 30, 12)),
        ("Australia/Lord_Howe", utc(2026, 4, 4)),
        ("America/Havana", utc(2026, 10, 30, 12)),
        ("Asia/Kathmandu", utc(2026, 6, 29)),
        ("GMT", utc(2028, 2, 27)),
    ],
)
def test_engine_equals_the_minute_by_minute_launcher(zone: str, start: datetime) -> None:
    tz = ZoneInfo(zone)
    rng = random.Random(zone + start.isoformat())
    candidates = [s for s in schedule_strings() if _cron_or_none(s) is not None]
    picks = [
        *rng.sample(candidates, 12),
        "* * * * *",
        "*/7 1-3 * * *",
        "30 0,1,2 $ * *",
        "0 * $ * 1",
        "15 1 * * *",
    ]
    window = 2 * 24 * 60
    for text in picks:
        schedule = Schedule.parse(text, strict=False)
        expected = launcher_reference(schedule, start, window, tz)
        got = schedule.next_times(start, len(expected) + 1, timezone=tz)
        assert [t.astimezone(UTC) for t in got[: len(expected)]] == expected, text
        if len(got) > len(expected):
            assert got[len(expected)] > start + timedelta(minutes=window), text


def _cron_or_none(text: str) -> Schedule | None:
    try:
        schedule = Schedule.parse(text, strict=False)
    except ScheduleError:
        return None
    return schedule if schedule.kind == "cron" else None


# -- croniter where it agrees, and the pinned deltas -------------------------------------------


def _croniter_agrees(text: str) -> bool:
    fields = text.split()
    plain = len(fields) == 5 and all(set(f) <= set("0123456789,-*/") for f in fields)
    # delta 2: croniter mishandles '*' inside a list ('*,5'); keep '*' to whole fields
    # delta 3: croniter misreads a one-value range with a step ('6-6/4')
    if (
        not plain
        or "$" in text
        or any("*" in f and "," in f for f in fields)
        or re.search(r"\b(\d+)-\1/", text)
    ):
        return False
    schedule = Schedule.parse(text)
    dom, dow = fields[2], fields[4]
    # delta 1: croniter ORs a '*/n' day field with a restricted other one; pg_cron ANDs
    if (dom.startswith("*") and dom != "*" and dow != "*") or (
        dow.startswith("*") and dow != "*" and dom != "*"
    ):
        return False
    return schedule.kind == "cron" and not schedule.never_fires


def _plain_crons(count: int) -> list[str]:
    rng = random.Random(7)
    bounds = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))

    def field(low: int, high: int) -> str:
        roll = rng.random()
        if roll < 0.35:
            return "*"
        if roll < 0.5:
            return f"*/{rng.randint(2, max(2, high // 2))}"
        a = rng.randint(low, high - 1)
        b = rng.randint(a + 1, high)
        return rng.choice((str(a), f"{a}-{b}", f"{a},{b}", f"{a}-{b}/{rng.randint(1, 4)}"))

    return [" ".join(field(lo, hi) for lo, hi in bounds) for _ in range(count)]


def test_matches_croniter_where_semantics_are_equal() -> None:
    compared = 0
    for text in schedule_strings() + _plain_crons(300):
        try:
            if not _croniter_agrees(text):
                continue
        except ScheduleError:
            continue
        start = utc(2026, 5, 17, 8, 3)
        ours = Schedule.parse(text).next_times(start, 10)
        it = croniter(text, start)
        theirs = [it.get_next(datetime) for _ in range(10)]
        assert [t.astimezone(UTC) for t in ours] == [t.astimezone(UTC) for t in theirs], text
        compared += 1
    assert compared >= 200


def test_delta_star_step_day_field_is_and_not_or() -> None:
    start = utc(2026, 3, 1)
    ours = Schedule.parse("0 0 */2 * 1").next_times(start, 3)
    it = croniter("0 0 */2 * 1", start)
    theirs = [it.get_next(datetime) for _ in range(3)]
    assert ours != theirs  # croniter: odd days OR Mondays
    assert all(t.weekday() == 0 for t in ours)


def test_delta_dst_spring_forward_is_skipped_not_shifted() -> None:
    start = datetime(2026, 3, 7, 12, tzinfo=NY)
    ours = Schedule.parse("30 2 * * *").next_times(start, 1, timezone="America/New_York")
    it = croniter("30 2 * * *", start)
    theirs = it.get_next(datetime)
    assert ours[0].date().isoformat() == "2026-03-09"  # pg_cron: 02:30 does not exist on Mar 8
    assert theirs.date().isoformat() == "2026-03-08"  # croniter: shifts to 03:00 that day


# -- intervals, reboot, arguments --------------------------------------------------------------


def test_interval_times_are_start_to_start_from_after() -> None:
    after = utc(2026, 1, 1, 0, 0, 0) + timedelta(milliseconds=250)
    got = Schedule.parse("30 seconds").next_times(after, 3, timezone="Asia/Kathmandu")
    assert [t - after for t in got] == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=90)]
    assert got[0].utcoffset() == timedelta(hours=5, minutes=45)


def test_reboot_has_no_fire_times() -> None:
    assert Schedule.parse("@reboot").next_times(utc(2026, 1, 1), 5) == []


def test_14_has_no_timezone_setting() -> None:
    schedule = Schedule.parse("0 9 * * *", pgcron_version="1.4")
    assert schedule.next_times(utc(2026, 1, 1), 1, timezone="GMT")[0] == utc(2026, 1, 1, 9)
    assert schedule.next_times(utc(2026, 1, 1), 1, timezone="UTC")[0] == utc(2026, 1, 1, 9)
    with pytest.raises(UnsupportedFeature, match=re.escape("no cron.timezone")):
        schedule.next_times(utc(2026, 1, 1), 1, timezone="Asia/Tokyo")


def test_bad_arguments() -> None:
    schedule = Schedule.parse("* * * * *")
    with pytest.raises(ScheduleError, match="timezone-aware"):
        schedule.next_times(datetime(2026, 1, 1), 1)
    with pytest.raises(ScheduleError, match="unknown timezone"):
        schedule.next_times(utc(2026, 1, 1), 1, timezone="Mars/Olympus")
    assert schedule.next_times(utc(2026, 1, 1), 0) == []


def test_default_after_is_now() -> None:
    before = datetime.now(UTC)
    first = Schedule.parse("* * * * *").next_times(n=1)[0]
    assert before < first <= before + timedelta(minutes=1)
