"""A seeded generator of schedule strings for the differential tests against real pg_cron.

It yields every case named in the facts document (shared/reference/pg_cron-facts.md §4 and
Appendix B), edge cases read from pg_cron's parser (integer wrap-around, NUL/EOF handling, comment
lines, non-ASCII), then grammar-built schedules and random mutations of them.
"""

from __future__ import annotations

import random

FACT_CASES: tuple[str, ...] = (
    # §4.1 five-field cron, separators, whitespace
    "* * * * *",
    "0 0 * * * ",
    "  * * * * *",
    "\t*\t*\t*\t*\t*",
    "0,15,30,45 * * * *",
    "1-5,10 * * * *",
    "*/15 * * * *",
    "0-30/10 * * * *",
    "1/20 * * * *",
    # names
    "0 0 * * mon-fri",
    "0 0 * * MON,wed,Fri",
    "0 0 * JAN-MAR *",
    "0 0 * * mon-fri/2",
    "0 0 * * sun-sat",
    "0 0 * * monday",
    "0 0 * january *",
    "0 0 * * Sun",
    "0 0 * jan-dec/3 *",
    "jan * * * *",
    "0 mon * * *",
    "0 0 mon * *",
    # bounds
    "* * * 13 *",
    "* * * 0 *",
    "0 0 * * 8",
    "-1 * * * *",
    "5-64/30 * * * *",
    "*/0 * * * *",
    "*/-1 * * * *",
    "60 * * * *",
    "59 23 31 12 7",
    "0 24 * * *",
    "0 0 32 * *",
    "0 0 0 * *",
    # steps above the field maximum (1.6.5+ rejects, 1.4 accepts)
    "*/60 * * * *",
    "0 0 */32 * *",
    "0 0 * */13 *",
    "0 0 * * */8",
    "0 */24 * * *",
    "*/59 * * * *",
    "0 */23 * * *",
    "0 0 */31 * *",
    "0 0 * */12 *",
    "0 0 * * */7",
    # reversed ranges
    "50-10 * * * *",
    "0 0 * * 7-1",
    "0 0 * * fri-mon",
    "0 20-4 * * *",
    "0 0 31-1 * *",
    "58-2 * * * *",
    # quirks: fields, comments, truncation
    "* * * *",
    "* * * * * *",
    "0 0 * * * 2026",
    "* * * * * extra words here",
    "0 0 * * * # comment",
    "# comment",
    "0 0 * * 1#2",
    "0 0 1.5 * *",
    "L * * * *",
    "5L * * * *",
    "H * * * *",
    "? * * * *",
    "0 0 L * *",
    "0 0 ? * *",
    "0 0 * * 5L",
    "0 0 15W * *",
    "*/2 * * * * *",
    "[1 minute]",
    "",
    " ",
    "\t",
    "a" * 1000,
    "*" + " *" * 498,
    "* * * * *" + " " * 990,
    "* * * * *" + " " * 991,
    # §4.2 macros
    "@reboot",
    "@restart",
    "@hourly",
    "@daily",
    "@midnight",
    "@weekly",
    "@monthly",
    "@yearly",
    "@annually",
    "@Daily",
    "@DAILY",
    "@daily extra",
    "@",
    "@ daily",
    "\t@daily",
    "@daily\textra",
    "@daily#x",
    "@every 5m",
    # §4.3 intervals
    "1 second",
    "1 seconds",
    "2 second",
    "30 seconds",
    " 30 sEcOnDs ",
    "30seconds",
    "05 seconds",
    "+5 seconds",
    "59 seconds",
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
    "2 secs",
    "5 SECONDS",
    "5\tseconds",
    "\n5 seconds",
    "5 seconds\n",
    "5 seconds\r\n",
    "5 second\n",
    "+ 5 seconds",
    "5 5 seconds",
    "5 seconds" + " " * 1000,
    # §4.4 last day of month
    "0 12 $ * *",
    "0 0 $ * 1",
    "0 0 1,$ * *",
    "0 0 $foo * *",
    "0 0 $",
    "0 0 $\t* *",
    "0 0 $  * *",
    "0 0 $,1 * *",
    "$ * * * *",
    "0 $ * * *",
    "0 0 * $ *",
    "0 0 * * $",
    # §4.5 day rule and Appendix B
    "0 5 1-7 * 0",
    "0 0 */2 * 1",
    "0 0 31 2 *",
    "30 6 * * *",
    # from pg_cron's parser: integer wrap-around, NUL/EOF, lines, stray characters
    "4294967301 * * * *",
    "4294967296 * * * *",
    "99999999999999999999 * * * *",
    "*/4294967297 * * * *",
    "4294967297 seconds",
    "-4294967295 seconds",
    "18446744073709551617 seconds",
    "4294967296 seconds",
    "#x\n* * * * *",
    "\n* * * * *",
    "* * * * *\n",
    "*\n* * * *",
    "\n\n  # c\n0 0 * * *",
    "*x * * * *",
    "*-5 * * * *",
    "1-5-7 * * * *",
    "1-5/2-3 * * * *",
    "1-5/2x * * * *",
    "1-5x * * * *",
    "*,5 * * * *",
    "5, * * * *",
    ",5 * * * *",
    "1-,5 * * * *",
    "1- * * * *",
    "1-5/ * * * *",
    "*/ * * * *",
    "* * * * *é",
    "*é * * * *",
    "0 0 * * 1é",
    "5 seconds\u00a0",
    "*\r* * * *",
    "* * * * *\r",
)

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NOISE = ",-/#.$L?W*@ \t\nx05sS" + "9"


def _value(rng: random.Random, field: int) -> str:
    low, high = _BOUNDS[field]
    roll = rng.random()
    if field == 3 and roll < 0.2:
        name = rng.choice(_MONTHS)
        return name.upper() if rng.random() < 0.2 else name
    if field == 4 and roll < 0.2:
        name = rng.choice(_DAYS)
        return name.capitalize() if rng.random() < 0.2 else name
    if roll < 0.85:
        return str(rng.randint(low, high))
    if roll < 0.92:
        return str(rng.choice((low - 1, high + 1, high + 10, 100)) if low or roll < 0.9 else high + 1)
    return "0" + str(rng.randint(low, high))


def _element(rng: random.Random, field: int) -> str:
    roll = rng.random()
    high = _BOUNDS[field][1]
    if roll < 0.3:
        return "*"
    if roll < 0.5:
        return _value(rng, field)
    if roll < 0.7:
        return f"{_value(rng, field)}-{_value(rng, field)}"
    step = rng.choice((1, 2, 3, 5, 7, 10, 15, high, high + 1, 0, 61))
    if roll < 0.85:
        return f"*/{step}"
    return f"{_value(rng, field)}-{_value(rng, field)}/{step}"


def _field(rng: random.Random, field: int) -> str:
    if field == 2 and rng.random() < 0.05:
        return "$"
    count = 1 if rng.random() < 0.75 else rng.randint(2, 4)
    return ",".join(_element(rng, field) for _ in range(count))


def _cron(rng: random.Random) -> str:
    fields = [_field(rng, f) for f in range(5)]
    seps = [rng.choice((" ", " ", " ", "  ", "\t")) for _ in range(4)]
    text = fields[0] + "".join(sep + f for sep, f in zip(seps, fields[1:], strict=True))
    if rng.random() < 0.1:
        text = rng.choice((" ", "\t", "  ")) + text
    if rng.random() < 0.1:
        text += rng.choice((" ", "\t", " x", " 2026", " # note", " *"))
    return text


def _interval(rng: random.Random) -> str:
    number = rng.choice(("1", "5", "30", "59", "60", "0", "00", "007", "+3", "-3", "99", "4294967306"))
    unit = rng.choice(("second", "seconds", "SECONDS", "Second", "secs", "sec", "secondss", "minutes"))
    pad = rng.choice(("", " ", "  ", "\t"))
    tail = rng.choice(("", "", " ", "\t", " x", "s"))
    lead = rng.choice(("", "", " ", "\t"))
    return f"{lead}{number}{pad}{unit}{tail}"


def _mutate(rng: random.Random, text: str) -> str:
    kind = rng.randrange(5)
    position = rng.randint(0, len(text))
    if kind == 0:
        return text[:position] + rng.choice(_NOISE) + text[position:]
    if kind == 1 and text:
        position = min(position, len(text) - 1)
        return text[:position] + text[position + 1 :]
    if kind == 2:
        parts = text.split(" ")
        if len(parts) > 1:
            parts.pop(rng.randrange(len(parts)))
        return " ".join(parts)
    if kind == 3:
        return text + " " + rng.choice(("*", "0", "#", "x", "*/5"))
    return text.swapcase()


def schedule_strings(seed: int = 20261123, count: int = 700) -> list[str]:
    """FACT_CASES followed by ``count`` generated strings (deterministic for a seed), no duplicates."""
    rng = random.Random(seed)
    seen: dict[str, None] = dict.fromkeys(FACT_CASES)
    macros = ("@reboot", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight")
    while len(seen) < len(FACT_CASES) + count:
        roll = rng.random()
        if roll < 0.55:
            text = _cron(rng)
        elif roll < 0.75:
            text = _interval(rng)
        elif roll < 0.8:
            text = rng.choice(macros) + rng.choice(("", "", " x", "\t", "s", " * * * *"))
        else:
            text = _mutate(rng, rng.choice((_cron(rng), _interval(rng), rng.choice(macros))))
        seen.setdefault(text, None)
    return list(seen)
