"""CLI: `pgcron run "SQL"` — run SQL inside PostgreSQL now through pg_cron, exactly once per --key.

Exit codes: 0 the run succeeded (or was submitted, with --no-wait); 1 the run failed, was canceled, was lost
or the wait gave up (--wait-timeout); 2 usage, connection or setup errors (nothing ran).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

import click
from rich.console import Console

from pgcron.cli._common import EXIT_ERROR, EXIT_USAGE, dsn_option, json_option, make_console, safe, to_json
from pgcron.errors import PgCronError, RunTimeout
from pgcron.models import Run, RunHandle, RunStatus
from pgcron.pushdown import Pushdown

STATUS_EVERY_S = 0.5  # how often the live status line refreshes (one query each)


def _handle_dict(handle: RunHandle) -> dict[str, Any]:
    data = dataclasses.asdict(handle)
    data["duration"] = handle.duration
    return data


def _run_dict(run: Run, handle: RunHandle) -> dict[str, Any]:
    data = dataclasses.asdict(run)
    data["duration"] = run.duration
    data["key"] = handle.key
    data["submission_id"] = handle.submission_id
    return data


def _fail(err: PgCronError, as_json: bool, code: int) -> None:
    if as_json:
        click.echo(to_json({"error": type(err).__name__, "message": err.message}))
    else:
        make_console(stderr=True).print(f"[red]error:[/] {safe(err.message, multiline=True)}")
    sys.exit(code)


def _wait_with_status(p: Pushdown, handle: RunHandle, limit: float | None, console: Console | None) -> Run:
    started = time.monotonic()
    if console is None:
        return p.wait(handle, timeout=limit)
    with console.status(f"pending: submission {handle.submission_id}, job {handle.jobid} — 0.0s") as line:
        while True:
            remaining = None if limit is None else limit - (time.monotonic() - started)
            if remaining is not None and remaining <= 0:
                raise RunTimeout(
                    f"stopped waiting after {limit:g} s; the run goes on in the database "
                    f"(attach with --key {handle.key})"
                )
            step = STATUS_EVERY_S if remaining is None else min(STATUS_EVERY_S, remaining)
            try:
                return p.wait(handle, timeout=step)
            except RunTimeout:
                now = p.status(handle)
                line.update(
                    f"{now.status.value}: submission {handle.submission_id}, job {handle.jobid}"
                    + (f", run {now.runid}" if now.runid else "")
                    + f" — {time.monotonic() - started:.1f}s"
                )


@click.command("run")
@click.argument("sql")
@dsn_option
@click.option("--database", help="Database the SQL runs in (default: pg_cron's own database).")
@click.option(
    "--username", help="Role the SQL runs as (default: the connected role; others need a superuser)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds the run may take; the database cancels it after that (even if nobody waits).",
)
@click.option("--key", help="Idempotency key: the same key again re-attaches to the same run, never re-runs.")
@click.option("--no-wait", is_flag=True, help="Submit and print the handle; do not wait for the end.")
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Give up waiting after this many seconds (exit 1); the run itself goes on.",
)
@json_option
def run_command(
    sql: str,
    dsn: str,
    database: str | None,
    username: str | None,
    timeout: float | None,
    key: str | None,
    no_wait: bool,
    wait_timeout: float | None,
    as_json: bool,
) -> None:
    """Run SQL inside PostgreSQL now, exactly once (per --key), and wait for the result.

    \b
      pgcron run "REFRESH MATERIALIZED VIEW CONCURRENTLY daily_sales" --timeout 600
      pgcron run "VACUUM (ANALYZE) orders"         # top-level: starts at the next minute
      pgcron run "CALL load_day('2026-11-23')" --key load-2026-11-23 --no-wait
    """
    p = Pushdown(dsn)
    try:
        try:
            handle = p.submit(sql, database=database, username=username, key=key, timeout=timeout)
        except PgCronError as err:
            _fail(err, as_json, EXIT_USAGE)
            return
        if no_wait:
            click.echo(
                to_json(_handle_dict(handle))
                if as_json
                else f"submitted: key {handle.key}, submission {handle.submission_id}, job {handle.jobid}"
            )
            return
        # A live status only for a person watching: never in --json, never when output goes to a pipe or file.
        interactive = not as_json and sys.stdout.isatty() and sys.stderr.isatty()
        try:
            run = _wait_with_status(
                p, handle, wait_timeout, make_console(stderr=True) if interactive else None
            )
        except RunTimeout as err:
            _fail(err, as_json, EXIT_ERROR)
            return
        except PgCronError as err:
            _fail(err, as_json, EXIT_USAGE)
            return
    finally:
        p.close()
    if as_json:
        click.echo(to_json(_run_dict(run, handle)))
    else:
        took = f" in {run.duration.total_seconds():.3f}s" if run.duration is not None else ""
        style = "green" if run.status is RunStatus.SUCCEEDED else "red"
        make_console().print(
            f"[{style}]{run.status.value}[/]{took}: {safe(run.message or '')} "
            f"(run {run.runid}, job {run.jobid}, key {safe(handle.key)})"
        )
    if run.status is not RunStatus.SUCCEEDED:
        sys.exit(EXIT_ERROR)


def register(group: click.Group) -> None:
    """Add this family's commands to the top-level group."""
    group.add_command(run_command)
