"""Options and helpers shared by the CLI command families.

``dsn_option`` gives every command the same ``--dsn`` (default: the ``PGCRON_DSN`` environment variable);
``json_option`` the same ``--json``; ``handle_errors`` turns a ``PgCronError`` into one red line (or a JSON
object with ``--json``) and exit code 2 for usage/connection problems, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from pgcron.errors import ConnectionFailed, ExtensionNotInstalled, PgCronError, WrongDatabase

__all__ = ["EXIT_ERROR", "EXIT_USAGE", "dsn_option", "handle_errors", "json_option", "to_json"]

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
            Console(stderr=True, highlight=False).print(f"[red]error:[/] {escape(err.message)}")
        sys.exit(code)
