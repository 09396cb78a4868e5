"""Options and helpers shared by the CLI command families.

``dsn_option`` gives every command the same ``--dsn`` (default: the ``PGCRON_DSN`` environment variable);
``json_option`` the same ``--json``; ``handle_errors`` turns a ``PgCronError`` into one red line (or a JSON
object with ``--json``) and exit code 2 for usage/connection problems, 1 otherwise.

Terminal safety: job names, commands, run messages, role and database names come from any role on the
server, so they are untrusted. ``safe`` makes such text inert for a terminal (Rich markup escaped, control
characters and bidi overrides shown as ``\x1b``-style escapes); ``make_console`` gives a Console with emoji
substitution and highlighting off (``shop:a:b`` must print as written) and a width that fits the terminal
(``COLUMNS``, else the real terminal, else no limit: piped output is never hard-wrapped); ``fit_table``
builds the one-line-per-row tables of ``jobs``/``runs``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TextIO, TypeVar

import click
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pgcron.errors import ConnectionFailed, ExtensionNotInstalled, PgCronError, WrongDatabase

__all__ = [
    "EXIT_ERROR",
    "EXIT_USAGE",
    "Col",
    "dsn_option",
    "fit_table",
    "handle_errors",
    "json_line",
    "json_option",
    "make_console",
    "one_line",
    "plain",
    "safe",
    "terminal_width",
    "to_json",
    "wide_option",
]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_USAGE = 2

dsn_option: Callable[[F], F] = click.option(
    "--dsn",
    envvar="PGCRON_DSN",
    required=True,
    show_envvar=True,
    help="libpq connection string of the database named by cron.database_name.",
)
json_option: Callable[[F], F] = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON instead of a table."
)
wide_option: Callable[[F], F] = click.option(
    "--wide", is_flag=True, help="Print long commands and messages whole (default: one line per row)."
)

# --------------------------------------------------------------------------- terminal safety

# C0 (but \n and \t, handled below), DEL, C1; the Unicode bidi embeddings/overrides/isolates and marks,
# which reorder what the operator sees (Trojan Source); line/paragraph separators, which some terminals
# break lines on.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_ONE_LINE = re.compile(_UNSAFE.pattern[:-1] + "\n\t]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0A:
        return "\\n"
    if code == 0x09:
        return "\\t"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def plain(value: object, *, multiline: bool = False) -> str:
    """Untrusted text with every control character shown as an escape (``ESC`` → ``\\x1b``); no markup
    escaping, for ``Text`` objects and ``click.echo``. ``multiline`` keeps newlines and tabs."""
    text = "" if value is None else str(value)
    return (_UNSAFE if multiline else _UNSAFE_ONE_LINE).sub(_visible, text)


def safe(value: object, *, multiline: bool = False) -> str:
    """Untrusted text for a Rich markup string: control characters escaped (``plain``), markup escaped.

    Print it with a ``make_console()`` Console, which does no emoji substitution (``:a:`` stays as is)."""
    return escape(plain(value, multiline=multiline))


def one_line(value: object) -> str:
    """Whitespace runs (newlines included) as one space: a multi-line command fits one table row."""
    return " ".join(("" if value is None else str(value)).split())


_NO_LIMIT = 1_000_000  # piped output: never wrap (Rich would otherwise assume 80 columns)


def terminal_width(stream: TextIO | None = None) -> int | None:
    """``COLUMNS`` when set, else the terminal's width when ``stream`` (stdout) is one, else None."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    stream = stream if stream is not None else sys.stdout
    try:
        is_tty = stream.isatty()
    except (AttributeError, ValueError):
        is_tty = False
    return shutil.get_terminal_size().columns if is_tty else None


def make_console(*, stderr: bool = False, wide: bool = False) -> Console:
    """A Console for user data: no emoji substitution, no highlighting, the terminal's width (unlimited
    when piped, or with ``wide``)."""
    width = None if wide else terminal_width(sys.stderr if stderr else sys.stdout)
    return Console(
        stderr=stderr,
        emoji=False,
        highlight=False,
        width=width if width is not None else _NO_LIMIT,
    )


class Col:
    """A column of ``fit_table``. A ``flex`` column gives up width (its cells end in an ellipsis) so that a
    row stays on one line; columns with a lower ``shrink`` give up theirs first (a command before a name)."""

    def __init__(self, header: str, *, flex: bool = False, right: bool = False, shrink: int = 1) -> None:
        self.header = header
        self.flex = flex
        self.right = right
        self.shrink = shrink


_MIN_FLEX = 8  # a flexible column keeps this many cells (padding included) before the next one gives way


def _flex_widths(natural: list[int], columns: list[Col], available: int) -> list[int]:
    """Column widths that fit ``available``: flexible columns capped, lowest ``shrink`` first (water-fill)."""
    widths = list(natural)
    for level in sorted({c.shrink for c in columns if c.flex}):
        group = [i for i, c in enumerate(columns) if c.flex and c.shrink == level]
        if sum(widths) <= available:
            break
        cap = max(widths[i] for i in group)
        while cap > _MIN_FLEX and sum(widths) > available:
            cap -= 1
            for i in group:
                floor = max(_MIN_FLEX, cell_len(columns[i].header) + 2)
                widths[i] = min(natural[i], max(cap, floor))
    return widths


def fit_table(
    columns: list[Col],
    rows: list[list[str | Text]],
    *,
    title: str | None = None,
    width: int | None,
    wide: bool = False,
) -> Table:
    """A table of untrusted values with one line per row at ``width``.

    ``str`` cells are untrusted text (control characters escaped; never markup); ``Text`` cells are the
    caller's own styled text. Without ``wide``, flexible cells are put on one line and, when the table is
    wider than ``width``, shortened with an ellipsis; with ``wide`` they are printed whole.
    """
    cells: list[list[Text]] = []
    for row in rows:
        out: list[Text] = []
        for col, cell in zip(columns, row, strict=True):
            if isinstance(cell, Text):
                out.append(cell)
            elif wide:
                out.append(Text(plain(cell, multiline=True)))
            else:
                out.append(Text(plain(one_line(cell) if col.flex else cell)))
        cells.append(out)
    natural = [
        max([cell_len(c.header)] + [r[i].cell_len for r in cells]) + 2  # padding 1 + 1
        for i, c in enumerate(columns)
    ]
    widths = natural
    if width is not None and not wide:
        widths = _flex_widths(natural, columns, width - (len(columns) - 1))  # one separator between columns
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False)
    for col, nat, fitted in zip(columns, natural, widths, strict=True):
        limit = fitted - 2 if fitted < nat else None
        table.add_column(
            col.header,
            justify="right" if col.right else "left",
            no_wrap=not wide or not col.flex,
            overflow="ellipsis" if not wide else "fold",
            max_width=limit,
        )
    for row_cells in cells:
        table.add_row(*row_cells)
    return table


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json(value: Any) -> str:
    """JSON for CLI output: datetimes as ISO 8601, durations in seconds, enums by value."""
    return json.dumps(value, default=_default, indent=2, sort_keys=False)


def json_line(value: Any) -> str:
    """``to_json`` on one line (JSON Lines: one object per event)."""
    return json.dumps(value, default=_default, sort_keys=False)


@contextmanager
def handle_errors(as_json: bool = False) -> Iterator[None]:
    """Report a ``PgCronError`` the way scripts expect, and exit with its code."""
    try:
        yield
    except PgCronError as err:
        code = (
            EXIT_USAGE
            if isinstance(err, ConnectionFailed | WrongDatabase | ExtensionNotInstalled)
            else EXIT_ERROR
        )
        if as_json:
            click.echo(json.dumps({"error": type(err).__name__, "message": err.message}))
        else:
            make_console(stderr=True).print(f"[red]error:[/] {safe(err.message, multiline=True)}")
        sys.exit(code)
