"""CLI: `pgcron plan FILE` and `pgcron apply FILE` (jobs as code, docs/jobs-file.md).

Exit codes of `plan` follow Terraform's ``-detailed-exitcode``, so CI can gate on them: 0 the server matches
the file, 2 changes are pending, 1 an error (invalid file, connection, privileges). `apply` exits 0 when
the server matches the file afterwards and 1 on errors.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
import psycopg
from psycopg.conninfo import make_conninfo
from rich.console import Console

from pgcron.cli._common import make_console, one_line, safe, wide_option
from pgcron.client import Client
from pgcron.errors import ConnectionFailed, PgCronError
from pgcron.jobsfile import load_jobs_file
from pgcron.plan import Action, Change, LaneChange, Plan, desired_specs

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_PENDING = 2

dsn_option = click.option(
    "--dsn",
    envvar="PGCRON_DSN",
    required=True,
    show_envvar=True,
    help="libpq connection string of the database named by cron.database_name.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


@contextmanager
def open_client(dsn: str) -> Iterator[Client]:
    """A ``Client`` for one CLI command; connection errors become ``ConnectionFailed``."""
    try:
        conninfo = make_conninfo(dsn, application_name="pgcron-cli")
    except psycopg.Error as exc:
        raise ConnectionFailed(f"could not connect: {exc}".strip()) from exc
    with Client.connect(conninfo) as client:
        yield client


def fail(err: PgCronError | psycopg.Error, as_json: bool) -> None:
    """Print an error (text or JSON) and exit 1."""
    message = err.message if isinstance(err, PgCronError) else f"database error: {err}".strip()
    if as_json:
        click.echo(json.dumps({"error": type(err).__name__, "message": message}))
    else:
        make_console(stderr=True).print(f"[red]error:[/] {safe(message, multiline=True)}")
    sys.exit(EXIT_ERROR)


def _fmt(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}s"
    return repr(value) if isinstance(value, str) else str(value)


def _line(out: Console, markup: str, wide: bool) -> None:
    """One line of the plan; without ``wide`` it ends in an ellipsis rather than wrapping."""
    if wide:
        out.print(markup)
    else:
        out.print(markup, no_wrap=True, overflow="ellipsis", crop=True)


def _print_change(out: Console, change: Change, wide: bool = False) -> None:
    styles = {
        Action.CREATE: ("+", "green", "create"),
        Action.UPDATE: ("~", "yellow", "update"),
        Action.DELETE: ("-", "red", "delete"),
        Action.ORPHAN: ("?", "magenta", "orphan"),
    }
    mark, colour, word = styles[change.action]
    jobid = f" (jobid {change.jobid})" if change.jobid is not None else ""
    _line(out, f"[{colour}]{mark} {word:<9}[/] [bold]{safe(change.name)}[/]{jobid}", wide)
    if change.action is Action.ORPHAN:
        out.print("    not in the file; kept (apply --prune deletes it)")
    for fc in change.changes:
        if fc.field == "command" and change.action is Action.UPDATE:
            out.print("    command:")
            diff = difflib.unified_diff(
                str(fc.before).splitlines(), str(fc.after).splitlines(), lineterm="", n=2
            )
            for line in list(diff)[2:]:
                style = "red" if line.startswith("-") else "green" if line.startswith("+") else "dim"
                _line(out, f"      [{style}]{safe(line)}[/]", wide)
        elif change.action is Action.CREATE and fc.field == "command" and "\n" in str(fc.after) and wide:
            out.print("    command:")
            for line in str(fc.after).splitlines():
                out.print(f"      {safe(line)}")
        elif change.action is Action.CREATE:
            after = fc.after if wide or fc.field != "command" else one_line(fc.after)
            _line(out, f"    {fc.field}: {safe(_fmt(after))}", wide)
        else:
            _line(out, f"    {fc.field}: {safe(_fmt(fc.before))} [dim]→[/] {safe(_fmt(fc.after))}", wide)
    for fc in change.drift:
        _line(
            out,
            f"    [bold magenta]drift[/]: {fc.field} was changed outside the file "
            f"(applied {safe(_fmt(fc.before))}, live {safe(_fmt(fc.after))})",
            wide,
        )


def _print_lane(out: Console, lane: LaneChange, wide: bool) -> None:
    """The lane block, like a job's: headed by the role and database whose lane it is (the applier's)."""
    mark, colour = {"start": ("+", "green"), "resize": ("~", "yellow"), "stop": ("-", "red")}[lane.action]
    _line(out, f"[{colour}]{mark} {'lane':<9}[/] [bold]{safe(lane.role)}[/] in {safe(lane.database)}", wide)
    if lane.before != lane.after:
        stops = " (stops the lane)" if lane.after == 0 else ""
        out.print(f"    workers: {lane.before} [dim]→[/] {lane.after}{stops}")
    elif lane.after:
        missing = ", ".join(str(n) for n in lane.missing)
        which = f"workers {missing} have" if len(lane.missing) > 1 else f"worker {missing} has"
        out.print(f"    workers: {lane.after} ({which} no active job: apply starts them again)")
    else:
        out.print(f"    workers: 0 ({lane.leftover} lane job(s) still finishing: apply removes them)")
    if lane.warning is not None:
        out.print(f"    [bold yellow]warning[/]: {safe(lane.warning)}")  # wrapped, never cut short


def _lane_summary(lane: LaneChange | None) -> str:
    if lane is None:
        return ""
    if lane.pending:
        return f", lane {lane.before} → {lane.after} worker(s)"
    return f", lane unchanged ({lane.after} worker(s))"


def print_plan(out: Console, plan: Plan, *, wide: bool = False) -> None:
    """The human-readable plan: one block per job that is not unchanged, then a summary line.

    Every field is one line, shortened with an ellipsis to the console's width (a command on one line);
    ``wide`` prints commands whole, multi-line ones line by line."""
    out.print(
        f"namespace [bold]{safe(plan.namespace)}[/] in database {safe(plan.current_database)} "
        f"as {safe(plan.current_user)}"
    )
    for change in plan.changes:
        if change.action is not Action.UNCHANGED:
            _print_change(out, change, wide)
    for change in plan.by_action(Action.UNCHANGED):
        if change.drift:
            _print_change_drift_only(out, change)
    if plan.lane is not None and plan.lane.pending:
        _print_lane(out, plan.lane, wide)
    s = plan.summary()
    drift = f", {len(plan.drifted)} drifted" if plan.drifted else ""
    orphans = f", {s['orphan']} not in the file (kept)" if s["orphan"] else ""
    verdict = "changes pending" if plan.pending else "no changes"
    out.print(
        f"Plan: {s['create']} to create, {s['update']} to update, {s['delete']} to delete, "
        f"{s['unchanged']} unchanged{orphans}{drift}{_lane_summary(plan.lane)} — {verdict}."
    )
    for note in plan.notes:
        # Jobs of the namespace that this plan leaves alone (another role's, or the old role of a job whose
        # declared role changed): never adopted, changed or deleted.
        _line(out, f"[dim]note: {safe(note)}[/]", wide)
    if not plan.has_record:
        out.print(
            "[dim]note: the pgcron engine schema is not installed, so drift cannot be told apart from "
            "changes and timeout/description/tags are not kept (pgcron schema install)[/]"
        )


def _print_change_drift_only(out: Console, change: Change) -> None:
    out.print(
        f"[magenta]! drift    [/] [bold]{safe(change.name)}[/] (jobid {change.jobid}): the live job "
        "was changed outside the file and changed back to it since the last apply"
    )


def _run(func: Callable[[], int], as_json: bool) -> None:
    try:
        code = func()
    except (PgCronError, psycopg.Error) as exc:
        fail(exc, as_json)
    else:
        sys.exit(code)


@click.command("plan")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--prune", is_flag=True, help="Show jobs of the namespace missing from the file as deletions.")
@dsn_option
@json_option
@wide_option
def plan_cmd(file: str, prune: bool, dsn: str, as_json: bool, wide: bool) -> None:
    """Show what `pgcron apply FILE` would change. Exit 0: nothing; 2: changes pending; 1: error."""

    def go() -> int:
        jobs_file = load_jobs_file(file)
        with open_client(dsn) as client:
            plan = client.plan(
                desired_specs(jobs_file),
                namespace=jobs_file.namespace,
                prune=prune,
                lane_workers=jobs_file.lane_workers,
            )
        if as_json:
            click.echo(json.dumps(plan.to_dict(), indent=2, default=str))
        else:
            print_plan(make_console(wide=wide), plan, wide=wide)
        return EXIT_PENDING if plan.pending else EXIT_OK

    _run(go, as_json)


@click.command("apply")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--prune", is_flag=True, help="Also delete jobs of the namespace that are not in the file.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
@dsn_option
@json_option
@wide_option
def apply_cmd(file: str, prune: bool, yes: bool, dsn: str, as_json: bool, wide: bool) -> None:
    """Make pg_cron's jobs in FILE's namespace match FILE, in one transaction."""

    def go() -> int:
        jobs_file = load_jobs_file(file)
        out = make_console(stderr=as_json, wide=wide)
        with open_client(dsn) as client:
            plan = client.plan(
                desired_specs(jobs_file),
                namespace=jobs_file.namespace,
                prune=prune,
                lane_workers=jobs_file.lane_workers,
            )
            if not as_json:
                print_plan(out, plan, wide=wide)
            if not plan.pending:
                if as_json:
                    click.echo(json.dumps({"applied": False, "plan": plan.to_dict()}, default=str))
                return EXIT_OK
            if not yes:
                if not sys.stdin.isatty():
                    raise PgCronError("changes are pending and stdin is not a terminal: pass --yes to apply")
                if not click.confirm("Apply these changes?", default=False):
                    out.print("nothing applied")
                    return EXIT_PENDING
            result = client.apply(plan)
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "applied": True,
                        "created": result.created,
                        "updated": result.updated,
                        "deleted": result.deleted,
                        "unchanged": result.unchanged,
                        "jobids": dict(result.jobids),
                        "round_trips": result.round_trips,
                        "lane": result.lane.to_dict() if result.lane is not None else None,
                    },
                    default=str,
                )
            )
        else:
            lane, lane_text = result.lane, ""
            if lane is not None and lane.wanted:
                lane_text = f"; lane of {safe(lane.role)}: {lane.live} of {lane.wanted} worker(s) live"
            elif lane is not None:
                lane_text = f"; lane of {safe(lane.role)} stopped"
            out.print(
                f"[green]applied[/]: {len(result.created)} created, {len(result.updated)} updated, "
                f"{len(result.deleted)} deleted, {result.unchanged} unchanged{lane_text}"
            )
        return EXIT_OK

    _run(go, as_json)


def register(group: click.Group) -> None:
    """Add `plan` and `apply` to the top-level group."""
    group.add_command(plan_cmd)
    group.add_command(apply_cmd)
