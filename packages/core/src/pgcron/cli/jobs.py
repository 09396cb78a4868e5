"""CLI: `pgcron jobs` and `pgcron runs` (read-only views of pg_cron's jobs and their runs).

Run status is the engine's decision (``pgcron.runstate``), not pg_cron's raw column: a background-worker run
that pg_cron already calls ``succeeded`` while later statements still execute shows as ``running``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import click
from rich.text import Text

from pgcron.cli._common import (
    Col,
    dsn_option,
    fit_table,
    handle_errors,
    json_option,
    make_console,
    terminal_width,
    to_json,
    wide_option,
)
from pgcron.client import Client
from pgcron.models import Run, RunStatus

_STATUS_STYLE = {
    RunStatus.SUCCEEDED: "green",
    RunStatus.FAILED: "red",
    RunStatus.CANCELED: "yellow",
    RunStatus.LOST: "magenta",
    RunStatus.RUNNING: "cyan",
    RunStatus.PENDING: "blue",
}


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def seconds(value: timedelta | None) -> str:
    return f"{value.total_seconds():.3f}s" if value is not None else ""


def run_dict(run: Run) -> dict[str, Any]:
    data = dataclasses.asdict(run)
    data["duration"] = run.duration
    return data


def parse_since(text: str | None) -> datetime | timedelta | None:
    """``30m``, ``2h``, ``7d`` (back from now) or an ISO 8601 timestamp."""
    if text is None:
        return None
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if text[-1:] in units and text[:-1].isdigit():
        return timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: use 30m, 2h, 7d or an ISO timestamp", param_hint="--since"
        ) from None


def status_text(status: RunStatus) -> Text:
    """A run status, coloured."""
    return Text(status.value, style=_STATUS_STYLE[status])


def first_line(message: str | None) -> str:
    """The first line of a run message (the rest is context: ``--wide`` or ``--json`` show it)."""
    return message.splitlines()[0] if message else ""


def print_runs(runs: list[Run], *, wide: bool, title: str | None = None) -> None:
    """The runs table: one line per run (``wide``: messages whole)."""
    columns = [
        Col("runid", right=True),
        Col("jobid", right=True),
        Col("status"),
        Col("start"),
        Col("duration", right=True),
        Col("message", flex=True),
    ]
    rows: list[list[str | Text]] = [
        [
            str(run.runid),
            str(run.jobid or ""),
            status_text(run.status),
            when(run.start_time),
            seconds(run.duration),
            (run.message or "") if wide else first_line(run.message),
        ]
        for run in runs
    ]
    width = None if wide else terminal_width()
    make_console(wide=wide).print(fit_table(columns, rows, title=title, width=width, wide=wide))


@click.command("jobs")
@dsn_option
@json_option
@wide_option
def jobs_command(dsn: str, as_json: bool, wide: bool) -> None:
    """List pg_cron jobs visible to the connected role (one line each; --wide: commands whole)."""
    with handle_errors(as_json), Client.connect(dsn) as client:
        jobs = client.jobs()
    if as_json:
        click.echo(to_json([dataclasses.asdict(j) for j in jobs]))
        return
    columns = [
        Col("jobid", right=True),
        Col("name", flex=True, shrink=3),
        Col("schedule"),
        Col("command", flex=True),
        Col("database", flex=True, shrink=2),
        Col("username", flex=True, shrink=2),
        Col("active"),
    ]
    rows: list[list[str | Text]] = [
        [
            str(job.jobid),
            job.name or "",
            job.schedule,
            job.command,
            job.database,
            job.username,
            Text("yes") if job.active else Text("no", style="dim"),
        ]
        for job in jobs
    ]
    width = None if wide else terminal_width()
    make_console(wide=wide).print(
        fit_table(columns, rows, title=f"{len(jobs)} pg_cron job(s)", width=width, wide=wide)
    )


@click.command("runs")
@dsn_option
@json_option
@click.option("--job", "job", default=None, help="Only runs of this job (name or jobid).")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in RunStatus]),
    help="Only runs with this engine status (repeatable).",
)
@click.option("--since", default=None, help="Only runs started since: 30m, 2h, 7d or an ISO timestamp.")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(min=1), help="At most this many runs."
)
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Keep watching: print runs as they start and end, until Ctrl-C (--json: one object per line).",
)
@wide_option
def runs_command(
    dsn: str,
    as_json: bool,
    job: str | None,
    statuses: tuple[str, ...],
    since: str | None,
    limit: int,
    follow: bool,
    wide: bool,
) -> None:
    """List recent runs, newest first, with the engine's status and a normalized message."""
    since_value = parse_since(since)
    job_ref: str | int | None = int(job) if job is not None and job.isdigit() else job
    if follow:
        from pgcron.cli.follow import follow_runs

        follow_runs(dsn, job=job_ref, statuses=statuses, since=since_value, as_json=as_json, wide=wide)
        return
    with handle_errors(as_json), Client.connect(dsn) as client:
        runs = client.runs(job=job_ref, status=list(statuses) or None, since=since_value, limit=limit)
    if as_json:
        click.echo(to_json([run_dict(r) for r in runs]))
        return
    print_runs(runs, wide=wide, title=f"{len(runs)} run(s)")


def register(group: click.Group) -> None:
    """Add this family's commands to the top-level group."""
    group.add_command(jobs_command)
    group.add_command(runs_command)
