"""CLI: `pgcron schedule check | next | explain EXPR` — pg_cron schedules without a database.

Exit codes: 0 the schedule is valid, 1 it is not (for the chosen pg_cron version and mode),
2 usage errors (unknown option, version or timezone).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table

from pgcron.cli._common import make_console, safe
from pgcron.errors import PgCronError, ScheduleError, UnsupportedFeature
from pgcron.schedule import Schedule


def _options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)
    func = click.option(
        "--compat",
        is_flag=True,
        help="Accept exactly what that pg_cron version accepts, quirks included (default: strict).",
    )(func)
    func = click.option(
        "--timezone",
        default="GMT",
        show_default=True,
        help="The server's cron.timezone (pg_cron 1.4 has none and always uses GMT).",
    )(func)
    func = click.option(
        "--version",
        "pgcron_version",
        default="1.6",
        show_default=True,
        help="pg_cron version to check against: 1.4, 1.5, 1.6 or a patch release such as 1.6.5.",
    )(func)
    return click.argument("expr")(func)


def _usage_error(exc: PgCronError) -> None:
    make_console(stderr=True).print(f"[red]error:[/] {safe(exc.message)}")
    sys.exit(2)


def _parse(expr: str, pgcron_version: str, compat: bool, as_json: bool) -> Schedule:
    try:
        return Schedule.parse(expr, pgcron_version=pgcron_version, strict=not compat)
    except UnsupportedFeature as exc:
        _usage_error(exc)
    except ScheduleError as exc:
        exc.message = exc.message.replace("pass strict=False", "use --compat")
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "valid": False,
                        "schedule": expr,
                        "error": exc.message,
                        "position": exc.position,
                        "strict": not compat,
                    },
                    indent=2,
                )
            )
        else:
            console = make_console(stderr=True)
            console.print(f"[red]invalid:[/] {safe(exc.message)}")
            if exc.position is not None and "\n" not in expr and len(expr) < 200:
                console.print(f"  {safe(expr)}\n  {' ' * exc.position}[red]^[/]")
        sys.exit(1)
    raise AssertionError("unreachable")


def _times(schedule: Schedule, after: datetime | None, count: int, timezone: str) -> list[datetime]:
    try:
        return schedule.next_times(after, count, timezone=timezone)
    except (UnsupportedFeature, ScheduleError) as exc:
        _usage_error(exc)
    raise AssertionError("unreachable")


def _summary(schedule: Schedule) -> dict[str, Any]:
    return {
        "valid": True,
        "schedule": schedule.text,
        "pgcron_version": schedule.pgcron_version,
        "strict": schedule.strict,
        "kind": schedule.kind,
        "interval_seconds": schedule.interval.total_seconds() if schedule.interval else None,
        "description": schedule.describe(),
        "never_fires": schedule.never_fires,
        "quirks": [{"code": q.code, "position": q.position, "message": q.message} for q in schedule.quirks],
    }


@click.group("schedule")
def schedule_group() -> None:
    """Check, preview and explain pg_cron schedules (no database needed)."""


@schedule_group.command("check")
@_options
def check(expr: str, pgcron_version: str, timezone: str, compat: bool, as_json: bool) -> None:
    """Exit 0 if EXPR is a valid schedule, 1 if not."""
    schedule = _parse(expr, pgcron_version, compat, as_json)
    _times(schedule, None, 0, timezone)  # timezone problems are usage errors here too
    if as_json:
        click.echo(json.dumps(_summary(schedule), indent=2))
        return
    console = make_console()
    console.print(f"[green]valid[/] for pg_cron {schedule.pgcron_version}: {safe(schedule.describe())}")
    for quirk in schedule.quirks:
        console.print(f"[yellow]warning:[/] {safe(quirk.message)} (position {quirk.position})")


@schedule_group.command("next")
@_options
@click.option(
    "-n", "--count", default=10, show_default=True, type=click.IntRange(0, 10000), help="How many fire times."
)
@click.option(
    "--after",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]),
    help="Start after this UTC time (default: now).",
)
def next_(
    expr: str,
    pgcron_version: str,
    timezone: str,
    compat: bool,
    as_json: bool,
    count: int,
    after: datetime | None,
) -> None:
    """The next fire times of EXPR in the server's cron.timezone."""
    schedule = _parse(expr, pgcron_version, compat, as_json)
    start = after.replace(tzinfo=UTC) if after is not None else None
    times = _times(schedule, start, count, timezone)
    if as_json:
        data = _summary(schedule) | {
            "timezone": timezone,
            "next": [t.isoformat() for t in times],
            "next_utc": [t.astimezone(UTC).isoformat() for t in times],
        }
        click.echo(json.dumps(data, indent=2))
        return
    console = make_console()
    console.print(safe(schedule.describe()))
    if not times:
        console.print("[yellow]no fire times[/]")
        return
    table = Table()
    table.add_column("#", justify="right")
    table.add_column(f"{timezone}")
    table.add_column("UTC")
    for index, moment in enumerate(times, 1):
        table.add_row(
            str(index),
            moment.strftime("%Y-%m-%d %H:%M:%S %Z"),
            moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)


@schedule_group.command("explain")
@_options
def explain(expr: str, pgcron_version: str, timezone: str, compat: bool, as_json: bool) -> None:
    """Explain EXPR: kind, plain English, what pg_cron changes silently, the next 5 runs."""
    schedule = _parse(expr, pgcron_version, compat, as_json)
    times = _times(schedule, None, 5, timezone)
    fields: dict[str, list[int | str]] = {}
    if schedule.bits is not None and schedule.kind == "cron":
        b = schedule.bits
        fields = {
            "minute": [i for i in range(60) if b.minute >> i & 1],
            "hour": [i for i in range(24) if b.hour >> i & 1],
            "day_of_month": ["$"] if b.flags & 0x20 else [i + 1 for i in range(31) if b.dom >> i & 1],
            "month": [i + 1 for i in range(12) if b.month >> i & 1],
            "day_of_week": [i for i in range(7) if b.dow >> i & 1],
        }
    if as_json:
        data = _summary(schedule) | {
            "fields": fields,
            "timezone": timezone,
            "next": [t.isoformat() for t in times],
        }
        click.echo(json.dumps(data, indent=2))
        return
    console = make_console()
    table = Table(show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("schedule", safe(repr(schedule.text)))
    table.add_row("pg_cron", f"{schedule.pgcron_version} ({'strict' if schedule.strict else 'compat'})")
    table.add_row("kind", schedule.kind)
    table.add_row("meaning", safe(schedule.describe()))
    for name, values in fields.items():
        table.add_row(name.replace("_", "-"), _compact(values))
    for quirk in schedule.quirks:
        table.add_row("[yellow]quirk[/]", safe(quirk.message))
    for moment in times:
        table.add_row("next", moment.strftime("%Y-%m-%d %H:%M %Z"))
    console.print(table)


def _compact(values: list[Any]) -> str:
    if not values:
        return "(none: never matches)"
    if all(isinstance(v, int) for v in values) and len(values) > 12:
        return f"{values[0]}…{values[-1]} ({len(values)} values)"
    return ",".join(str(v) for v in values)


def register(group: click.Group) -> None:
    """Add this family's commands to the top-level group."""
    group.add_command(schedule_group)
