"""CLI: `pgcron lane start [--workers N] | stop | status` — the connected role's warm lane (ADR 0006).

A lane is a set of long-running pg_cron jobs owned by the connected role that run its pushdown submissions at
once; each worker holds one of ``cron.max_running_jobs``' slots while it runs. Exit codes: 0 done, 1 the lane
did not come up or stop in time (or pg_cron is too old), 2 usage or connection errors.
"""

from __future__ import annotations

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
)
from pgcron.client import Client
from pgcron.lanes import MAX_WORKERS, LaneStatus


def _show(status: LaneStatus, as_json: bool) -> None:
    if as_json:
        click.echo(to_json(status.to_dict()))
        return
    console = make_console()
    title = (
        f"lane of {status.role} in {status.database}: {status.live} of {status.wanted} worker(s) live"
        if status.wanted or status.workers
        else None
    )
    if not status.workers:
        console.print(
            Text(f"no lane for role {status.role} in {status.database} (pushdown uses a job per submission)")
        )
        return
    columns = [
        Col("worker", right=True),
        Col("jobid", right=True),
        Col("state"),
        Col("pid", right=True),
        Col("served", right=True),
        Col("runs", right=True),
        Col("heartbeat", right=True),
        Col("running"),
    ]
    rows: list[list[str | Text]] = [
        [
            str(w.worker),
            str(w.jobid) if w.jobid is not None else "-",
            Text(w.state, style="green" if w.live else "dim"),
            str(w.pid) if w.pid is not None else "-",
            str(w.served),
            str(w.runs),
            f"{w.heartbeat_age:.1f}s ago" if w.heartbeat_age is not None else "-",
            f"submission {w.submission_id}" if w.submission_id is not None else "",
        ]
        for w in status.workers
    ]
    console.print(fit_table(columns, rows, title=title, width=terminal_width()))


@click.group("lane")
def lane_group() -> None:
    """The connected role's warm lane: pushdown runs that start in milliseconds."""


@lane_group.command("start")
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_WORKERS),
    default=1,
    show_default=True,
    help="Lane workers (each holds one of cron.max_running_jobs' slots while it runs).",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=15.0,
    show_default=True,
    help="Seconds to wait for the workers to report (0: do not wait).",
)
@dsn_option
@json_option
def start_command(workers: int, wait_s: float, dsn: str, as_json: bool) -> None:
    """Start (or resize) the lane: jobs pgcron:lane:1..N owned by the connected role."""
    with handle_errors(as_json), Client.connect(dsn) as client:
        status = client.lane_start(workers, wait=wait_s or None)
    _show(status, as_json)


@lane_group.command("stop")
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for busy workers to finish their statement (0: only ask).",
)
@dsn_option
@json_option
def stop_command(wait_s: float, dsn: str, as_json: bool) -> None:
    """Stop the lane: workers end after their current statement; their jobs are removed."""
    with handle_errors(as_json), Client.connect(dsn) as client:
        status = client.lane_stop(wait=wait_s or None)
    _show(status, as_json)


@lane_group.command("status")
@dsn_option
@json_option
def status_command(dsn: str, as_json: bool) -> None:
    """Show the lane's workers: state, backend, submissions served, last report."""
    with handle_errors(as_json), Client.connect(dsn) as client:
        status = client.lane_status()
    _show(status, as_json)


def register(group: click.Group) -> None:
    """Add this family's commands to the top-level group."""
    group.add_command(lane_group)
