"""Unit tests (no database): pg_cron's schedule grammar per version, and strict mode's refusals.

Each case names the rule of shared/reference/pg_cron-facts.md §4 it pins; the differential tests
prove the same verdicts against real servers.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pgcron import PgCronError, Schedule, ScheduleError, UnsupportedFeature


def accepts(text: str, version: str = "1.6") -> bool:
    try:
        Schedule.parse(text, pgcron_version=version, strict=False)
    except ScheduleError:
        return False
    return True


def bits(text: str, version: str = "1.6") -> tuple[set[int], set[int], set[int], set[int], set[int]]:
    schedule = Schedule.parse(text, pgcron_version=version, strict=False)
    assert schedule.bits is not None
    b = schedule.bits
    return (
        {i for i in range(60) if b.minute >> i & 1},
        {i for i in range(24) if b.hour >> i & 1},
        {i + 1 for i in range(31) if b.dom >> i & 1},
        {i + 1 for i in range(12) if b.month >> i & 1},
        {i for i in range(8) if b.dow >> i & 1},
    )


# -- §4.1 five-field cron ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "* * * * *",
        "0 0 * * * ",
        "  * * * * *",
        "\t0\t0\t*\t*\t*",
        "0,15,30,45 * * * *",
        "1-5,10 * * * *",
        "*/15 * * * *",
        "0-30/10 * * * *",
        "59 23 31 12 7",
    ],
)
def test_valid_cron_is_accepted_everywhere(text: str) -> None:
    for version in ("1.4", "1.5", "1.6"):
        assert accepts(text, version)
        Schedule.parse(text, pgcron_version=version)  # strict too


@pytest.mark.parametrize(
    "text",
    [
        "* * * *",
        "* * * 13 *",
        "* * * 0 *",
        "0 0 * * 8",
        "-1 * * * *",
        "5-64/30 * * * *",
        "*/0 * * * *",
        "*/-1 * * * *",
        "1/20 * * * *",
        "0 0 * * monday",
        "0 0 * january *",
        "L * * * *",
        "5L * * * *",
        "H * * * *",
        "? * * * *",
        "",
        " ",
        "# comment",
        "jan * * * *",
        "0 0 mon * *",
    ],
)
def test_invalid_cron_is_rejected_everywhere(text: str) -> None:
    for version in ("1.4", "1.5", "1.6"):
        assert not accepts(text, version)


def test_names_are_case_insensitive_three_letters_in_month_and_dow_only() -> None:
    assert bits("0 0 * * mon-fri")[4] == {1, 2, 3, 4, 5}
    assert bits("0 0 * * MON,wed,Fri")[4] == {1, 3, 5}
    assert bits("0 0 * JAN-MAR *")[3] == {1, 2, 3}
    assert bits("0 0 * * mon-fri/2")[4] == {1, 3, 5}
    assert bits("0 0 * * sun-sat")[4] == {0, 1, 2, 3, 4, 5, 6, 7}  # Sunday is 0 and 7


def test_sunday_is_both_zero_and_seven() -> None:
    assert bits("0 0 * * 7")[4] == {0, 7}
    assert bits("0 0 * * 0")[4] == {0, 7}


def test_steps_above_the_maximum_rejected_since_165_accepted_before() -> None:
    for text, only in [("*/60 * * * *", 0), ("0 */24 * * *", 0)]:
        assert not accepts(text, "1.6")
        assert not accepts(text, "1.6.5")
        assert accepts(text, "1.6.4")
        assert accepts(text, "1.4")
        schedule = Schedule.parse(text, pgcron_version="1.4", strict=False)
        assert [q.code for q in schedule.quirks] == ["step_above_max"]
        field = 0 if text.startswith("*") else 1
        assert bits(text, "1.4")[field] == {only}
    assert not accepts("0 0 */32 * *", "1.6") and accepts("0 0 */32 * *", "1.4")
    assert not accepts("0 0 * */13 *", "1.6") and accepts("0 0 * */13 *", "1.4")
    assert not accepts("0 0 * * */8", "1.6") and accepts("0 0 * * */8", "1.4")
    assert accepts("*/59 * * * *", "1.6") and accepts("0 0 * * */7", "1.6")  # max itself is fine


def test_reversed_ranges_are_accepted_with_vixies_odd_bits() -> None:
    # bit_nset on a reversed range sets the tail of the start byte and the head of the stop byte
    assert bits("50-10 * * * *")[0] == {8, 9, 10, 50, 51, 52, 53, 54, 55}
    assert bits("0 0 * * 7-1")[4] == set()  # same byte: nothing
    assert bits("0 0 31-1 * *")[2] == {1, 31}
    assert bits("5-1/2 * * * *")[0] == set()  # with a step: nothing


def test_extra_fields_and_comments_are_ignored() -> None:
    for text in ["* * * * * *", "0 0 * * * 2026", "* * * * * extra words here", "0 0 * * * # comment"]:
        assert accepts(text, "1.4") and accepts(text, "1.6")
        assert [q.code for q in Schedule.parse(text, strict=False).quirks] == ["extra_fields"]


def test_text_after_a_number_and_punctuation_is_silently_dropped() -> None:
    assert bits("0 0 * * 1#2")[4] == {1}
    assert bits("0 0 1.5 * *")[2] == {1}
    assert bits("*x * * * *")[0] == set(range(60))  # after '*' even letters end the field
    assert bits("1-5-7 * * * *")[0] == {1, 2, 3, 4, 5}
    assert not accepts("1-5x * * * *")  # letters after a digit are part of the token


def test_comment_lines_before_the_schedule_are_skipped() -> None:
    assert accepts("#x\n* * * * *") and accepts("\n\n  # c\n0 0 * * *")
    assert not accepts("# comment") and not accepts("*\n* * * *")


def test_integer_overflow_wraps_like_atoi() -> None:
    assert bits("4294967301 * * * *")[0] == {5}
    assert not accepts("99999999999999999999 * * * *")  # saturates to LONG_MAX -> -1


def test_length_limit_is_1000_bytes_for_cron() -> None:
    assert accepts("* * * * *" + " " * 990)  # 999 bytes
    assert not accepts("* * * * *" + " " * 991)  # 1000 bytes
    assert not accepts("a" * 1000)


# -- §4.2 macros -------------------------------------------------------------------------------


def test_macros() -> None:
    expectations = {
        "@hourly": "0 * * * *",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@weekly": "0 0 * * 0",
        "@monthly": "0 0 1 * *",
    }
    for macro, cron in expectations.items():
        assert bits(macro) == bits(cron), macro
        assert Schedule.parse(macro).kind == "cron"
    assert Schedule.parse("@reboot").kind == "reboot"
    assert Schedule.parse("@restart").kind == "reboot"
    assert not accepts("@Daily") and not accepts("@DAILY") and not accepts("@every") and not accepts("@")
    assert accepts("@daily extra")


def test_yearly_never_fires_on_16_but_works_before() -> None:
    assert bits("@yearly", "1.6")[3] == set()
    assert Schedule.parse("@yearly", strict=False).never_fires
    assert bits("@annually", "1.4") == bits("0 0 1 1 *", "1.4")
    assert not Schedule.parse("@annually", pgcron_version="1.5", strict=False).never_fires


# -- §4.3 intervals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1 second", 1),
        ("1 seconds", 1),
        ("2 second", 2),
        ("30 seconds", 30),
        (" 30 sEcOnDs ", 30),
        ("30seconds", 30),
        ("05 seconds", 5),
        ("+5 seconds", 5),
        ("59 seconds", 59),
        ("5\tseconds", 5),
        ("5 seconds\n", 5),
    ],
)
def test_interval_forms_accepted(text: str, seconds: int) -> None:
    schedule = Schedule.parse(text, strict=False)
    assert schedule.kind == "interval"
    assert schedule.interval == timedelta(seconds=seconds)
    assert not accepts(text, "1.4")


@pytest.mark.parametrize(
    "text",
    [
        "0 seconds",
        "60 seconds",
        "-1 seconds",
        "10000000000 seconds",
        "1 sec",
        "1 s",
        "10 secs",
        "1 minute",
        "5 minutes",
        "1-5 seconds",
        "30 seconds *",
        "5 secondc",
        "50 seconds c",
        "2 second ",
        "+ 5 seconds",
    ],
)
def test_interval_forms_rejected(text: str) -> None:
    assert not accepts(text, "1.6") and not accepts(text, "1.5")


def test_interval_number_wraps_like_strtoul() -> None:
    assert Schedule.parse("4294967297 seconds", strict=False).interval == timedelta(seconds=1)
    assert Schedule.parse("-4294967295 seconds", strict=False).interval == timedelta(seconds=1)
    with pytest.raises(ScheduleError, match="read as 1"):
        Schedule.parse("4294967297 seconds")


def test_interval_is_not_length_limited() -> None:
    # only the cron reader has the 1000-byte buffer; the sscanf fallback sees the whole text
    assert accepts("5 seconds" + " " * 1000)


# -- §4.4 '$' ----------------------------------------------------------------------------------


def test_last_day_of_month() -> None:
    assert accepts("0 12 $ * *") and accepts("0 0 $ * 1") and accepts("0 0 $\t* *")
    for text in ["0 0 1,$ * *", "0 0 $foo * *", "0 0 $", "$ * * * *", "0 0 * * $"]:
        assert not accepts(text), text
    assert not accepts("0 12 $ * *", "1.5") and not accepts("0 12 $ * *", "1.4")
    with pytest.raises(ScheduleError, match=re.escape("needs pg_cron 1.6")):
        Schedule.parse("0 12 $ * *", pgcron_version="1.5")


# -- strict mode -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "position", "hint"),
    [
        ("0 0 * * * 2026", "extra_fields", 10, "only five fields"),
        ("*/2 * * * * *", "extra_fields", 12, "seconds"),
        ("0 0 * * * # note", "extra_fields", 10, "comment"),
        ("0 0 * * 1#2", "truncated", 9, "drops '#2'"),
        ("0 0 1.5 * *", "truncated", 5, "drops '.5'"),
        ("50-10 * * * *", "reversed_range", 0, "50-59,0-10"),
        ("@yearly", "yearly", 0, "0 0 1 1 *"),
        ("@annually", "yearly", 0, "never fires"),
        ("@daily please", "macro_trailing_text", 6, "ignores 'please'"),
        ("#x\n* * * * *", "comment_lines", 0, "one line"),
        ("4294967301 * * * *", "number_overflow", 0, "read as 5"),
        ("* * * * *é", "truncated", 9, "drops"),
    ],
)
def test_strict_refuses_what_pg_cron_mangles(text: str, code: str, position: int, hint: str) -> None:
    Schedule.parse(text, strict=False)  # pg_cron accepts it...
    with pytest.raises(ScheduleError) as info:
        Schedule.parse(text)  # ...strict does not
    error = info.value
    assert error.position == position
    assert error.context["quirk"] == code
    assert hint in str(error)
    assert "strict=False" in str(error)


def test_strict_refuses_large_steps_even_where_pg_cron_accepts_them() -> None:
    with pytest.raises(ScheduleError, match=r"1.6.5\+ rejects it; write 0"):
        Schedule.parse("*/60 * * * *", pgcron_version="1.4")


def test_errors_name_the_problem_and_position() -> None:
    cases = {
        "* * * *": (7, "expected 5 fields"),
        "61 * * * *": (0, "61 is outside the minute range 0-59"),
        "1/20 * * * *": (1, "a step needs a range"),
        "0 0 * * monday": (8, "3-letter day name"),
        "@Daily": (0, "in lower case"),
        "5 minutes": (0, "only in seconds"),
        "60 seconds": (0, "1-59 seconds"),
    }
    for text, (position, words) in cases.items():
        with pytest.raises(ScheduleError) as info:
            Schedule.parse(text)
        assert info.value.position == position, text
        assert words in str(info.value), text
        assert info.value.text == text


def test_schedule_error_is_a_pgcron_error_and_a_value_error() -> None:
    with pytest.raises(ScheduleError) as info:
        Schedule.parse("nope")
    assert isinstance(info.value, PgCronError) and isinstance(info.value, ValueError)


def test_seconds_need_15() -> None:
    with pytest.raises(ScheduleError, match=re.escape("need pg_cron 1.5")):
        Schedule.parse("30 seconds", pgcron_version="1.4")


# -- versions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "label"),
    [
        ("1.6", "1.6.8"),
        ("1.6.5", "1.6.5"),
        ("1.4-1", "1.4.2"),
        ("1.4", "1.4.2"),
        ("v1.5.2", "1.5.2"),
        ("1.5", "1.5.2"),
    ],
)
def test_version_spellings(given: str, label: str) -> None:
    assert Schedule.parse("* * * * *", pgcron_version=given).pgcron_version == label


@pytest.mark.parametrize("given", ["1.3", "2.0", "latest", ""])
def test_unknown_versions_are_refused(given: str) -> None:
    with pytest.raises(UnsupportedFeature):
        Schedule.parse("* * * * *", pgcron_version=given)


def test_parse_is_cached_and_immutable() -> None:
    first = Schedule.parse("*/7 * * * *")
    assert Schedule.parse("*/7 * * * *") is first
    with pytest.raises(AttributeError):
        first.text = "x"  # type: ignore[misc]
    assert str(first) == "*/7 * * * *"


# -- the fast path agrees with the character-by-character reader -------------------------------


def test_fast_path_equals_the_full_reader() -> None:
    import random

    from pgcron.schedule._parse import _fast_cron, parse_slow
    from pgcron.schedule._version import parse_version
    from schedule_generator import schedule_strings

    rng = random.Random(3)
    extra = [
        " ".join(
            rng.choice(
                [
                    "*",
                    "*/5",
                    "1-5",
                    "5-1",
                    "0,30",
                    "jan",
                    "mon-fri",
                    "$",
                    "7",
                    "*/8",
                    "1-31/2",
                    "sun",
                    "0-59/61",
                    "12",
                ]
            )
            for _ in range(5)
        )
        for _ in range(3000)
    ]
    used = 0
    for version in ("1.4", "1.5", "1.6.4", "1.6"):
        parsed_version = parse_version(version)
        for text in schedule_strings() + extra:
            fast = _fast_cron(text, parsed_version)
            if fast is None:
                continue
            used += 1
            slow = parse_slow(text, parsed_version)
            assert slow.kind == "cron" and not slow.quirks, (version, text)
            assert slow.bits == fast, (version, text)
    assert used > 500
