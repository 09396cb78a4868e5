"""CLI: `pgcron schema install | status` (the engine's own schema, forward-only migrations)."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from pgcron import schema as engine_schema
from pgcron.cli._common import dsn_option, handle_errors, json_option, make_console, safe, to_json


def _print(status: engine_schema.SchemaStatus, as_json: bool) -> None:
    if as_json:
        click.echo(to_json(status.as_dict()))
        return
    table = Table(
        title=f"pgcron engine schema: version {status.current or 'not installed'} of {status.latest}"
    )
    for column in ("version", "migration", "state", "installed"):
        table.add_column(column)
    applied = {a.version: a for a in status.applied}
    for migration in status.available:
        done = applied.get(migration.version)
        table.add_row(
            str(migration.version),
            safe(migration.name),
            "[green]applied[/]" if done else "[yellow]pending[/]",
            f"{done.installed_at:%Y-%m-%d %H:%M} by {safe(done.installed_by)}" if done else "",
        )
    console = make_console()
    console.print(table)
    console.print(
        "run notifications: "
        + (
            "[green]trigger installed[/]"
            if status.notify_trigger
            else "[yellow]no trigger (waiters poll; install as the table owner)[/]"
        )
    )
    if status.maintenance_jobid is not None:
        console.print(f"engine job: [green]pgcron:maintenance[/] (jobid {status.maintenance_jobid})")


@click.group("schema")
def schema_group() -> None:
    """Install or inspect the pgcron engine schema (in the database named by cron.database_name)."""


@schema_group.command("install")
@dsn_option
@json_option
def install_command(dsn: str, as_json: bool) -> None:
    """Apply every pending migration; safe to re-run."""
    with handle_errors(as_json):
        status = engine_schema.install(dsn)
    _print(status, as_json)


@schema_group.command("status")
@dsn_option
@json_option
def status_command(dsn: str, as_json: bool) -> None:
    """Show applied and pending migrations; exit 1 when some are pending."""
    with handle_errors(as_json):
        status = engine_schema.status(dsn)
    _print(status, as_json)
    if not status.up_to_date:
        sys.exit(1)


@schema_group.command("grant")
@click.argument("role")
@dsn_option
@click.option("--dry-run", is_flag=True, help="Print the statements without running them.")
@json_option
def grant_command(role: str, dsn: str, dry_run: bool, as_json: bool) -> None:
    """Grant ROLE what it needs to push down and to apply its own namespace; print the statements.

    Run it as the engine's installer (a provider's admin role on managed PostgreSQL). Exit 1 when ROLE
    still lacks something it needs (e.g. Neon, where the cron schema's USAGE cannot be passed on).
    """
    from pgcron.cli.plan import open_client

    with handle_errors(as_json), open_client(dsn) as client:
        result = client.grant_role(role, dry_run=dry_run)
    if as_json:
        click.echo(to_json(result.as_dict()))
    else:
        console = make_console()
        for g in result.grants:
            mark = (
                "[green]ran[/]"
                if g.ran
                else ("[yellow]dry run[/]" if dry_run and not g.note else "[yellow]skipped[/]")
            )
            held = "" if dry_run else (" [green]held[/]" if g.held else " [red]not held[/]")
            console.print(f"{mark}{held}  {safe(g.statement)};  [dim]-- {safe(g.what)}[/]", soft_wrap=True)
            if g.note:
                console.print(f"    [yellow]{safe(g.note)}[/]", soft_wrap=True)
        if not dry_run:
            console.print(
                f"[green]{safe(role)} can push down and apply its own namespace[/]"
                if result.ok
                else f"[red]{safe(role)} still lacks a privilege pgcron needs (see above)[/]"
            )
    if not dry_run and not result.ok:
        sys.exit(1)


def register(group: click.Group) -> None:
    """Add this family's commands to the top-level group."""
    group.add_command(schema_group)
