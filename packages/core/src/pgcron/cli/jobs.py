"""CLI: `pgcron jobs` and `pgcron runs` (read-only views of pg_cron's jobs and their runs).

Run status is the engine's decision (``pgcron.runstate``), not pg_cron's raw column: a background-worker run
that pg_cron already calls ``succeeded`` while later statements still execute shows as ``running``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from pgcron.cli._common import dsn_option, handle_errors, json_option, to_json
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


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _seconds(value: timedelta | None) -> str:
    return f"{value.total_seconds():.3f}s" if value is not None else ""


def _run_dict(run: Run) -> dict[str, Any]:
    data = dataclasses.asdict(run)
    data["duration"] = run.duration
    return data


def _parse_since(text: str | None) -> datetime | timedelta | None:
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


@click.command("jobs")
@dsn_option
@json_option
def jobs_command(dsn: str, as_json: bool) -> None:
    """List pg_cron jobs visible to the connected role."""
    with handle_errors(as_json), Client.connect(dsn) as client:
        jobs = client.jobs()
    if as_json:
        click.echo(to_json([dataclasses.asdict(j) for j in jobs]))
        return
    table = Table(title=f"{len(jobs)} pg_cron job(s)")
    for column in ("jobid", "name", "schedule", "command", "database", "username", "active"):
        table.add_column(column, overflow="fold", justify="right" if column == "jobid" else "left")
    for job in jobs:
        table.add_row(
            str(job.jobid),
            job.name or "",
            job.schedule,
            job.command,
            job.database,
            job.username,
            "yes" if job.active else "[dim]no[/]",
        )
    Console().print(table)


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
def runs_command(
    dsn: str, as_json: bool, job: str | None, statuses: tuple[str, ...], since: str | None, limit: int
) -> None:
    """List recent runs, newest first, with the engine's status and a normalized message."""
    since_value = _parse_since(since)
    job_ref: str | int | None = int(job) if job is not None and job.isdigit() else job
    with handle_errors(as_json), Client.connect(dsn) as client:
        runs = client.runs(job=job_ref, status=list(statuses) or None, since=since_value, limit=limit)
    if as_json:
        click.echo(to_json([_run_dict(r) for r in runs]))
        return
    table = Table(title=f"{len(runs)} run(s)")
    for column in ("runid", "jobid", "status", "start", "duration", "message"):
        table.add_column(column, overflow="fold", justify="right" if column in ("runid", "jobid") else "left")
    for run in runs:
        style = _STATUS_STYLE[run.status]
        table.add_row(
            str(run.runid),
            str(run.jobid or ""),
            f"[{style}]{run.status.value}[/]",
            _when(run.start_time),
            _seconds(run.duration),
            (run.message or "").splitlines()[0] if run.message else "",
        )
    Console().print(table)


def register(group: click.Group) -> None:
    """Add this family's commands to the top-level group."""
    group.add_command(jobs_command)
    group.add_command(runs_command)
