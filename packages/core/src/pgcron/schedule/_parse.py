"""pg_cron's schedule grammar, reproduced character by character.

pg_cron parses a schedule with a cut-down copy of Paul Vixie's crontab reader and, when that fails
(1.5+), with ``sscanf(" %u secon%c%c %c")``. Both are lenient in ways a user rarely expects: text is
silently dropped after a number followed by punctuation, fields after the fifth are ignored,
reversed ranges set odd bits. This module mirrors that behaviour exactly (it is what *compat* mode
accepts) and records every such leniency as a :class:`Quirk` with its position, so that *strict*
mode can refuse it with a message that names the fix.

The result of a successful cron parse is the set of bits pg_cron stores, so fire times computed
from it are the ones pg_cron will really use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pgcron.schedule._version import PgCronVersion

# Flags, as pg_cron keeps them per entry.
DOM_STAR = 0x01  # day-of-month field starts with '*'
DOW_STAR = 0x02  # day-of-week field starts with '*'
WHEN_REBOOT = 0x04
MIN_STAR = 0x08
HR_STAR = 0x10
DOM_LAST = 0x20  # '$'

MAX_LENGTH = 1000  # pg_cron's buffer: schedules of 1000 bytes or more are not cron schedules

_ALNUM = re.compile(r"[A-Za-z0-9]*")
_NONBLANK = re.compile(r"[^ \t\n\x00]*")
_BLANKS = re.compile(r"[ \t]*")
_MACRO_WORD = re.compile(r"[^ \t\n\x00]*")

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES: tuple[tuple[str, ...] | None, ...] = (None, None, None, MONTH_NAMES, DOW_NAMES)

_INT_MAX_LONG = (1 << 63) - 1
_ULONG_MAX = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Quirk:
    """Something pg_cron accepts but silently reinterprets; strict mode refuses it."""

    code: str
    position: int
    message: str


@dataclass(frozen=True, slots=True)
class CronBits:
    """The bit sets pg_cron stores for a cron schedule (bit i = value low+i)."""

    minute: int
    hour: int
    dom: int
    month: int
    dow: int
    flags: int


@dataclass(slots=True)
class ParseResult:
    kind: str  # "cron", "interval", "reboot", or "" when invalid
    bits: CronBits | None
    seconds: int
    quirks: list[Quirk]
    error: str
    error_position: int | None
    macro: str


class _Failure(Exception):
    """Internal: the cron reader returned EOF (pg_cron's failure signal)."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(reason)
        self.position = position
        self.reason = reason


def c_atoi(digits: str) -> int:
    """glibc atoi: strtol saturating at LONG_MAX, then truncated to a 32-bit int."""
    value = int(digits)
    value = min(value, _INT_MAX_LONG)
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= (1 << 31) else value


def _nset(bits: int, start: int, stop: int) -> int:
    """Vixie's bit_nset, including what it does when start > stop (a reversed range)."""
    start_byte, stop_byte = start >> 3, stop >> 3
    if start_byte == stop_byte:
        mask = (0xFF << (start & 7)) & (0xFF >> (7 - (stop & 7))) & 0xFF
        return bits | (mask << (8 * start_byte))
    bits |= ((0xFF << (start & 7)) & 0xFF) << (8 * start_byte)
    for byte in range(start_byte + 1, stop_byte):
        bits |= 0xFF << (8 * byte)
    return bits | ((0xFF >> (7 - (stop & 7))) << (8 * stop_byte))


class _CronReader:
    """One pass of pg_cron's crontab reader over ``text`` (with its end-of-buffer NUL)."""

    __slots__ = ("_field_start", "field", "quirks", "s", "size", "version")

    def __init__(self, text: str, version: PgCronVersion, quirks: list[Quirk]) -> None:
        # pg_cron's buffer yields one NUL at the end before EOF; NUL is a terminator that is not
        # blank, so e.g. '$' at the very end is not "followed by a blank".
        self.s = text + "\x00"
        self.size = len(self.s)
        self.version = version
        self.quirks = quirks
        self.field = 0
        self._field_start = 0

    def char(self, i: int) -> str:
        return self.s[i] if i < self.size else ""

    # -- one field: list = range {"," range}, then skip to the next blank, then skip blanks --
    def get_list(self, i: int) -> tuple[int, int]:
        bits = 0
        while True:
            i, bits = self.get_range(i, bits)
            if self.char(i) == ",":
                i += 1
            else:
                break
        ch = self.char(i)
        if ch and ch not in " \t\n\x00":
            end = _NONBLANK.match(self.s, i).end()  # type: ignore[union-attr]
            self._truncated(i, end)
            i = end
        i = _BLANKS.match(self.s, i).end()  # type: ignore[union-attr]
        return i, bits

    def _truncated(self, start: int, end: int) -> None:
        dropped = self.s[start:end]
        name = FIELD_NAMES[self.field]
        kept = self.s[self._field_start : start]
        self.quirks.append(
            Quirk(
                "truncated",
                start,
                f"pg_cron reads the {name} field as {kept!r} and silently drops {dropped!r} "
                f"(anything after a value that is not ',', '-', '/' or a letter/digit ends the field); "
                f"write only {kept!r}, or the list/range you meant with ',' '-' '/'",
            )
        )

    def get_range(self, i: int, bits: int) -> tuple[int, int]:
        low, high = _BOUNDS[self.field]
        names = _NAMES[self.field]
        ch = self.char(i)
        range_start = i
        if ch == "*":
            num1, num2 = low, high
            i += 1
            if i >= self.size:
                raise _Failure(i, "unexpected end")
        else:
            i, num1 = self.get_number(i, low, names)
            ch = self.char(i)
            if ch != "-":
                if ch == "/":
                    raise _Failure(
                        i,
                        f"a step needs a range: '{self.s[range_start:i]}/…' is not allowed; "
                        f"write '*/N' or 'a-b/N'",
                    )
                if num1 < low or num1 > high:
                    raise _Failure(range_start, self._out_of_range(num1))
                return i, bits | (1 << (num1 - low))
            i += 1
            if i >= self.size:
                raise _Failure(i, "unexpected end after '-'")
            i, num2 = self.get_number(i, low, names)
        if self.char(i) == "/":
            i += 1
            if i >= self.size:
                raise _Failure(i, "unexpected end after '/'")
            step_at = i
            i, num3 = self.get_number(i, 0, None)
            if num3 <= 0:
                raise _Failure(step_at, f"the step must be at least 1, not {num3}")
        else:
            step_at = -1
            num3 = 1
        if num1 < low or num1 > high:
            raise _Failure(range_start, self._out_of_range(num1))
        if num2 < low or num2 > high:
            raise _Failure(range_start, self._out_of_range(num2))
        if num3 > high:
            if self.version.rejects_large_steps:
                raise _Failure(
                    step_at,
                    f"step {num3} is larger than the {FIELD_NAMES[self.field]} maximum {high} "
                    f"(pg_cron {self.version.label} rejects it)",
                )
            self.quirks.append(
                Quirk(
                    "step_above_max",
                    step_at,
                    f"step {num3} is larger than the {FIELD_NAMES[self.field]} maximum {high}: "
                    f"pg_cron {self.version.label} accepts it but it only matches {num1}, and "
                    f"pg_cron 1.6.5+ rejects it; write {num1} instead",
                )
            )
        if num1 > num2:
            self.quirks.append(
                Quirk(
                    "reversed_range",
                    range_start,
                    f"reversed range {self.s[range_start:i]!r} in the {FIELD_NAMES[self.field]} "
                    f"field: pg_cron accepts it but sets a meaningless set of values (it does not "
                    f"wrap around); write the two parts, e.g. '{num1}-{high},{low}-{num2}'",
                )
            )
        start, stop = num1 - low, num2 - low
        if num3 == 1:
            bits = _nset(bits, start, stop)
        else:
            for value in range(start, stop + 1, num3):
                bits |= 1 << value
        return i, bits

    def _out_of_range(self, value: int) -> str:
        low, high = _BOUNDS[self.field]
        return f"{value} is outside the {FIELD_NAMES[self.field]} range {low}-{high}"

    def get_number(self, i: int, low: int, names: tuple[str, ...] | None) -> tuple[int, int]:
        end = _ALNUM.match(self.s, i).end()  # type: ignore[union-attr]
        token = self.s[i:end]
        if not token:
            ch = self.char(i)
            if ch in ("\x00", ""):
                found = self.field
                raise _Failure(
                    i,
                    f"expected 5 fields (minute hour day-of-month month day-of-week), found {found}"
                    if self.field and self._at_field_start(i)
                    else "unexpected end of the schedule",
                )
            raise _Failure(i, f"expected a number, a name or '*' but found {ch!r}")
        if names is not None:
            lowered = token.lower()
            for index, name in enumerate(names):
                if lowered == name:
                    return end, index + low
        if token.isdigit():
            value = c_atoi(token)
            if value != int(token):
                self.quirks.append(
                    Quirk(
                        "number_overflow",
                        i,
                        f"{token} overflows pg_cron's 32-bit integer and is read as {value}; "
                        f"write {value} if that is what you mean",
                    )
                )
            return end, value
        if names is None:
            hint = (
                " (3-letter names are allowed only in the month and day-of-week fields)"
                if token.isalpha() and self.field < 3
                else ""
            )
            raise _Failure(i, f"{token!r} is not a number{hint}")
        kind = "month" if names is MONTH_NAMES else "day"
        raise _Failure(
            i,
            f"{token!r} is not a number or a 3-letter {kind} name "
            f"({'jan-dec' if kind == 'month' else 'sun-sat'})",
        )

    def _at_field_start(self, i: int) -> bool:
        return i == self._field_start


def read_cron(text: str, version: PgCronVersion, quirks: list[Quirk]) -> tuple[str, CronBits | None, str]:
    """Run pg_cron's crontab reader. Returns (kind, bits, macro) or raises _Failure."""
    if len(text.encode("utf-8", "surrogatepass")) >= MAX_LENGTH:
        raise _Failure(MAX_LENGTH, f"the schedule is {len(text)} characters; pg_cron allows at most 999")
    reader = _CronReader(text, version, quirks)
    s = reader.s
    # Leading blank lines and '#' comment lines are skipped, like in a crontab.
    i = 0
    skipped_lines = False
    while True:
        i = _BLANKS.match(s, i).end()  # type: ignore[union-attr]
        ch = s[i]
        if ch not in "\n#":
            break
        nl = s.find("\n", i)
        skipped_lines = True
        if nl < 0:
            raise _Failure(i, "the schedule is only a comment" if ch == "#" else "empty schedule")
        i = nl + 1
    if skipped_lines:
        quirks.append(
            Quirk(
                "comment_lines",
                0,
                "pg_cron skips leading blank and '#' lines, reading only the first real line; "
                "write the schedule on one line without comments",
            )
        )
    if s[i] == "\x00":
        raise _Failure(i, "empty schedule")
    if s[i] == "@":
        end = _MACRO_WORD.match(s, i + 1).end()  # type: ignore[union-attr]
        word = s[i + 1 : end]
        rest = s[end:-1]
        bits = _macro_bits(word, version)
        if bits is None:
            raise _Failure(
                i,
                f"unknown macro '@{word}': pg_cron knows @reboot, @restart, @hourly, @daily, "
                "@midnight, @weekly, @monthly, @yearly and @annually, in lower case",
            )
        if rest.strip(" \t\n"):
            quirks.append(
                Quirk(
                    "macro_trailing_text",
                    end,
                    f"pg_cron ignores {rest.strip()!r} after '@{word}'; remove it",
                )
            )
        if word in ("yearly", "annually"):
            if version.yearly_never_fires:
                message = (
                    f"'@{word}' is accepted by pg_cron {version.label} but never fires (it sets no "
                    "month); write '0 0 1 1 *'"
                )
            else:
                message = (
                    f"'@{word}' works on pg_cron {version.label} but never fires on 1.6+ (it sets no "
                    "month there); write '0 0 1 1 *'"
                )
            quirks.append(Quirk("yearly", i, message))
        return ("reboot" if word in ("reboot", "restart") else "cron"), bits, word

    flags = 0
    fields: list[int] = []
    for field in range(5):
        reader.field = field
        reader._field_start = i
        ch = reader.char(i)
        if field == 2 and ch == "$" and version.has_last_day:
            i += 1
            if reader.char(i) not in (" ", "\t"):
                raise _Failure(i - 1, "'$' (last day of the month) must be the whole day-of-month field")
            i = _BLANKS.match(s, i).end()  # type: ignore[union-attr]
            flags |= DOM_LAST
            fields.append(0)
            continue
        if field == 2 and ch == "$":
            raise _Failure(
                i, f"'$' (last day of the month) needs pg_cron 1.6 or later (this is {version.label})"
            )
        if ch == "*":
            flags |= (MIN_STAR, HR_STAR, DOM_STAR, 0, DOW_STAR)[field]
        i, field_bits = reader.get_list(i)
        low, high = _BOUNDS[field]
        fields.append(field_bits & ((1 << (high - low + 1)) - 1))
    tail = s[i:-1]
    if tail.strip(_SSCANF_SPACE):
        if tail[0] == "#":
            message = (
                f"pg_cron ignores the comment {tail.rstrip()!r} after the fifth field; remove it "
                "(keep notes in the job name or in your jobs file)"
            )
        elif tail[0] == "\n":
            message = "pg_cron ignores everything after the line break; write the schedule on one line"
        elif len(tail.split()) == 1 and _looks_like_field(tail.split()[0]):
            message = (
                f"pg_cron reads only five fields and ignores {tail.strip()!r}: a 6-field cron "
                "(with seconds or years) is not supported, and if the first field was meant as "
                "seconds every field is shifted; use five fields, or 'N seconds' for sub-minute jobs"
            )
        else:
            message = f"pg_cron reads only five fields and silently ignores {tail.strip()!r}; remove it"
        quirks.append(Quirk("extra_fields", i, message))
    dow = fields[4]
    if dow & 0x81:
        dow |= 0x81  # 0 and 7 are both Sunday
    return "cron", CronBits(fields[0], fields[1], fields[2], fields[3], dow, flags), ""


def _looks_like_field(token: str) -> bool:
    return bool(re.fullmatch(r"[0-9A-Za-z*,/\-?#LW$]+", token))


_ALL = {0: (1 << 60) - 1, 1: (1 << 24) - 1, 2: (1 << 31) - 1, 3: (1 << 12) - 1, 4: 0xFF}


def _macro_bits(word: str, version: PgCronVersion) -> CronBits | None:
    if word in ("reboot", "restart"):
        return CronBits(0, 0, 0, 0, 0, WHEN_REBOOT)
    if word in ("yearly", "annually"):
        month = 0 if version.yearly_never_fires else 1
        return CronBits(1, 1, 1, month, _ALL[4], DOW_STAR)
    if word == "monthly":
        return CronBits(1, 1, 1, _ALL[3], _ALL[4], DOW_STAR)
    if word == "weekly":
        return CronBits(1, 1, _ALL[2], _ALL[3], 0x81, DOW_STAR)
    if word in ("daily", "midnight"):
        return CronBits(1, 1, _ALL[2], _ALL[3], _ALL[4], 0)
    if word == "hourly":
        return CronBits(1, _ALL[1], _ALL[2], _ALL[3], _ALL[4], HR_STAR)
    return None


_SSCANF_SPACE = " \t\n\v\f\r"


def read_interval(text: str, quirks: list[Quirk]) -> tuple[int, str, int]:
    """pg_cron 1.5.1+'s ``sscanf(lower(text), " %u secon%c%c %c")`` check.

    Returns (seconds, error, error_position); seconds is 0 when the text is not an interval.
    """
    s = "".join(c.lower() if "A" <= c <= "Z" else c for c in text)
    n = len(s)
    i = 0
    while i < n and s[i] in _SSCANF_SPACE:
        i += 1
    number_at = i
    sign = ""
    if i < n and s[i] in "+-":
        sign = s[i]
        i += 1
    digits_at = i
    while i < n and "0" <= s[i] <= "9":
        i += 1
    if i == digits_at:
        return 0, "not an interval", number_at
    magnitude = int(s[digits_at:i])
    # %u goes through strtoul (wraps negative values, saturates on overflow) and is then stored
    # in a 32-bit unsigned int.
    if magnitude > _ULONG_MAX:
        wide = _ULONG_MAX
    elif sign == "-":
        wide = (-magnitude) & _ULONG_MAX
    else:
        wide = magnitude
    value = wide & 0xFFFFFFFF
    while i < n and s[i] in _SSCANF_SPACE:
        i += 1
    if not s.startswith("secon", i) or i + 5 >= n or s[i + 5] != "d":
        return 0, "not an interval", i
    i += 6
    if i == n:
        plural = False
    else:
        if s[i] != "s":
            return 0, f"unexpected {text[i]!r} after 'second'", i
        plural = True
        i += 1
        while i < n and s[i] in _SSCANF_SPACE:
            i += 1
        if i < n:
            return 0, f"unexpected {text[i:].strip()!r} after 'seconds'", i
    del plural
    if not 0 < value < 60:
        return 0, f"an interval must be 1-59 seconds, not {s[number_at:digits_at]}{magnitude}", number_at
    if value != magnitude or sign == "-":
        quirks.append(
            Quirk(
                "number_overflow",
                number_at,
                f"{text.strip().split()[0] if text.strip() else text!r} wraps around in pg_cron's "
                f"unsigned 32-bit integer and is read as {value}; write '{value} seconds'",
            )
        )
    if any(c in "\n\v\f\r" for c in text):
        quirks.append(
            Quirk(
                "control_characters",
                0,
                "the interval contains line breaks or control characters; "
                "write it on one line, e.g. '30 seconds'",
            )
        )
    return value, "", -1


_INTERVAL_LIKE = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+[ \t\n\v\f\r]*sec", re.IGNORECASE)
_OTHER_UNIT = re.compile(r"\s*[0-9]+\s*(min|minutes?|mins|hours?|hrs?|days?)\s*$", re.IGNORECASE)


# Fast path: a clean five-field line of printable ASCII whose elements are '*', numbers of at most
# 9 digits or 3-letter names, each with an optional range and step. Anything else, and anything the
# fast path would have to reject or flag, goes to the character-by-character reader, so both paths
# agree by construction (and a test compares them on every generated string).
_FAST_LINE = re.compile(r"[ \t]*([!-~]+)[ \t]+([!-~]+)[ \t]+([!-~]+)[ \t]+([!-~]+)[ \t]+([!-~]+)[ \t]*\Z")
_FAST_ELEMENT = re.compile(r"(\*|[0-9]{1,9}|[A-Za-z]{3})(?:-([0-9]{1,9}|[A-Za-z]{3}))?(?:/([0-9]{1,9}))?\Z")
_STAR_FLAGS = (MIN_STAR, HR_STAR, DOM_STAR, 0, DOW_STAR)


def _fast_value(token: str, field: int) -> int:
    if "0" <= token[0] <= "9":
        return int(token)
    names = _NAMES[field]
    if names is None:
        return -1
    lowered = token.lower()
    for index, name in enumerate(names):
        if lowered == name:
            return index + _BOUNDS[field][0]
    return -1


def _fast_cron(text: str, version: PgCronVersion) -> CronBits | None:
    """The bits of a clean schedule, or None to let the full reader decide."""
    if len(text) >= MAX_LENGTH:
        return None
    line = _FAST_LINE.match(text)
    if line is None:
        return None
    has_last_day = version.has_last_day
    flags = 0
    values = [0, 0, 0, 0, 0]
    for field, spec in enumerate(line.groups()):
        parsed = _fast_field(spec, field, has_last_day)
        if parsed is None:
            return None
        values[field], field_flags = parsed
        flags |= field_flags
    dow = values[4]
    if dow & 0x81:
        dow |= 0x81
    return CronBits(values[0], values[1], values[2], values[3], dow, flags)


@lru_cache(maxsize=32768)
def _fast_field(spec: str, field: int, has_last_day: bool) -> tuple[int, int] | None:
    """(bits, flags) of one clean field, cached: real schedules reuse a few thousand field texts."""
    if field == 2 and spec == "$":
        return (0, DOM_LAST) if has_last_day else None
    low, high = _BOUNDS[field]
    flags = _STAR_FLAGS[field] if spec[0] == "*" else 0
    bits = 0
    for element in spec.split(","):
        match = _FAST_ELEMENT.match(element)
        if match is None:
            return None
        first, last, step_text = match.groups()
        if first == "*":
            if last is not None:
                return None
            start, stop = low, high
        else:
            start = _fast_value(first, field)
            if last is None:
                if step_text is not None or not low <= start <= high:
                    return None
                bits |= 1 << (start - low)
                continue
            stop = _fast_value(last, field)
            if not (low <= start <= stop <= high):
                return None
        if step_text is None:
            bits |= ((1 << (stop - start + 1)) - 1) << (start - low)
            continue
        step = int(step_text)
        if step <= 0 or step > high:
            return None  # rejected (1.6.5+) or a quirk: the full reader says which
        for value in range(start - low, stop - low + 1, step):
            bits |= 1 << value
    return bits, flags


def parse(text: str, version: PgCronVersion) -> ParseResult:
    """Decide as pg_cron ``version`` does, and collect the quirks of an accepted schedule."""
    fast = _fast_cron(text, version)
    if fast is not None:
        return ParseResult("cron", fast, 0, [], "", None, "")
    return parse_slow(text, version)


def parse_slow(text: str, version: PgCronVersion) -> ParseResult:
    """The character-by-character reader alone (what :func:`parse` falls back to)."""
    quirks: list[Quirk] = []
    if "\x00" in text:
        return ParseResult(
            "", None, 0, quirks, "PostgreSQL text cannot contain NUL characters", text.index("\x00"), ""
        )
    try:
        kind, bits, macro = read_cron(text, version, quirks)
    except _Failure as failure:
        cron_error, cron_position = failure.reason, failure.position
    else:
        _strict_characters(text, kind, quirks)
        return ParseResult(kind, bits, 0, quirks, "", None, macro)
    quirks.clear()
    if _OTHER_UNIT.match(text):
        cron_error = (
            "pg_cron intervals exist only in seconds ('1 seconds' to '59 seconds'); for minutes, "
            "hours or days use cron, e.g. '*/5 * * * *' (every 5 minutes) or '0 */2 * * *'"
        )
        cron_position = 0
    looks_like_interval = _INTERVAL_LIKE.match(text)
    if not version.has_intervals:
        if looks_like_interval:
            return ParseResult(
                "",
                None,
                0,
                quirks,
                f"'N seconds' schedules need pg_cron 1.5 or later (this is {version.label}); "
                "use a cron schedule such as '* * * * *' (every minute)",
                0,
                "",
            )
        return ParseResult("", None, 0, quirks, cron_error, cron_position, "")
    seconds, interval_error, interval_position = read_interval(text, quirks)
    if seconds:
        return ParseResult("interval", None, seconds, quirks, "", None, "")
    quirks.clear()
    if looks_like_interval:
        return ParseResult("", None, 0, quirks, interval_error, interval_position, "")
    return ParseResult("", None, 0, quirks, cron_error, cron_position, "")


def _strict_characters(text: str, kind: str, quirks: list[Quirk]) -> None:
    """Characters that pg_cron tolerates but that are never part of a clean schedule."""
    for index, char in enumerate(text):
        if char in " \t":
            continue
        if not (" " < char <= "~"):
            if any(
                q.position <= index
                and q.code in ("truncated", "extra_fields", "comment_lines", "macro_trailing_text")
                for q in quirks
            ):
                return  # already reported by a more specific quirk
            what = "a non-ASCII character" if ord(char) > 127 else "a control character or line break"
            quirks.append(
                Quirk(
                    "control_characters",
                    index,
                    f"{what} {char!r} at position {index}; pg_cron treats it as the end of a "
                    "field or line; write the schedule on one line in plain ASCII",
                )
            )
            return
