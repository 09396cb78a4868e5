"""CLI: `pgcron dev up | down | status | url | psql` — a local PostgreSQL with pg_cron (see pgcron.dev)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from pgcron.cli._common import make_console, safe
from pgcron.errors import DevServerError

_name_option = click.option(
    "--name",
    "-n",
    default="default",
    show_default=True,
    help="Instance name; several named servers can run side by side.",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _fail(exc: DevServerError) -> None:
    make_console(stderr=True).print(f"[red]error:[/] {safe(exc.message, multiline=True)}")
    sys.exit(2)


def _print_state(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    table = Table(show_header=False, box=None)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for key in (
        "name",
        "running",
        "route",
        "managed",
        "admin_role",
        "dsn",
        "server_version",
        "pg_cron_version",
        "mode",
        "timezone",
        "pid",
        "data_dir",
        "log_file",
        "started_by_pgcron",
    ):
        if data.get(key) not in (None, ""):
            table.add_row(f"[bold]{key}[/]", safe(data[key]))
    make_console().print(table)


@click.group("dev")
def dev() -> None:
    """A local PostgreSQL with pg_cron for development and tests."""


@dev.command("up")
@_name_option
@click.option(
    "--pg-cron",
    "flavour",
    type=click.Choice(["1.6", "1.4"]),
    default="1.6",
    show_default=True,
    help="1.6: newest pg_cron >= 1.5 the chain can get; 1.4: Debian bookworm's pg_cron 1.4.2.",
)
@click.option("--port", type=int, default=None, help="TCP port on 127.0.0.1 (default: a free one).")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data directory (default: under the pgcron cache dir).",
)
@click.option(
    "--mode",
    type=click.Choice(["bgw", "libpq"]),
    default="bgw",
    show_default=True,
    help="Execution mode: cron.use_background_workers on (bgw) or off (libpq).",
)
@click.option("--timezone", default=None, help="cron.timezone (pg_cron >= 1.5), e.g. Europe/Berlin.")
@click.option("--no-env", is_flag=True, help="Ignore PGCRON_DSN / PGCRON_14_DSN; always use a local server.")
@click.option(
    "--managed",
    type=click.Choice(["rds", "cloudsql", "azure", "supabase", "neon"]),
    default=None,
    help="Emulate a managed provider: its superuser owns pg_cron, you get its non-superuser admin role, "
    "its fixed settings (mode, slots, time zone). See docs/managed-postgres.md.",
)
@_json_option
def up_cmd(
    name: str,
    flavour: str,
    port: int | None,
    data_dir: Path | None,
    mode: str,
    timezone: str | None,
    no_env: bool,
    managed: str | None,
    as_json: bool,
) -> None:
    """Start the dev server (idempotent: a running one is reused) and print its DSN."""
    from pgcron import dev as devserver

    if managed is not None and mode != "bgw":
        make_console(stderr=True).print(
            f"[red]error:[/] --managed {managed} fixes the execution mode as the provider does; drop --mode"
        )
        sys.exit(2)
    try:
        state = devserver.up(
            name,
            flavour="1.4" if flavour == "1.4" else "1.6",
            port=port,
            data_dir=data_dir,
            background_workers=mode == "bgw",
            timezone=timezone,
            use_env=not no_env,
            managed=managed,
        )
    except DevServerError as exc:
        _fail(exc)
        return
    _print_state(state.to_json(), as_json)


@dev.command("down")
@_name_option
@click.option("--purge", is_flag=True, help="Also delete the instance's data directory and state.")
@_json_option
def down_cmd(name: str, purge: bool, as_json: bool) -> None:
    """Stop the dev server if `pgcron dev up` started it (never a server it did not start)."""
    from pgcron import dev as devserver

    try:
        state = devserver.down(name, purge=purge)
    except DevServerError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(
            json.dumps(
                {
                    "name": name,
                    "known": state is not None,
                    "stopped": bool(state and state.started_by_pgcron),
                    "purged": purge,
                }
            )
        )
    elif state is None:
        click.echo(f"no dev server named {name!r}")
    elif not state.started_by_pgcron:
        click.echo(f"{name}: {state.dsn} was not started by pgcron; left running")
    else:
        click.echo(f"{name}: stopped" + (" and purged" if purge else ""))


@dev.command("status")
@_name_option
@click.option("--all", "all_", is_flag=True, help="List every instance and every route.")
@_json_option
def status_cmd(name: str, all_: bool, as_json: bool) -> None:
    """Print route, versions, execution mode and DSN (exit 1 when the server is not running)."""
    from pgcron import dev as devserver

    try:
        if all_:
            states = [s.to_json() for s in devserver.list_states()]
            routes = devserver.route_report()
            if as_json:
                click.echo(json.dumps({"instances": states, "routes": dict(routes)}, indent=2))
                return
            table = Table("name", "running", "route", "pg_cron", "mode", "dsn")
            for s in states:
                table.add_row(
                    *(safe(s[k]) for k in ("name", "running", "route", "pg_cron_version", "mode", "dsn"))
                )
            console = make_console()
            console.print(table)
            for route, why in routes:
                console.print(f"route [bold]{safe(route)}[/]: {safe(why)}")
            return
        state = devserver.status(name)
    except DevServerError as exc:
        _fail(exc)
        return
    if state is None:
        if as_json:
            click.echo(json.dumps({"name": name, "running": False}))
        else:
            click.echo(f"no dev server named {name!r}; start one with `pgcron dev up --name {name}`")
        sys.exit(1)
    _print_state(state.to_json(), as_json)
    if not state.running:
        sys.exit(1)


@dev.command("url")
@_name_option
@click.option(
    "--superuser",
    is_flag=True,
    help="Managed flavours: the provider superuser's DSN (Unix socket; for test harnesses only).",
)
def url_cmd(name: str, superuser: bool) -> None:
    """Print the DSN of a running dev server (for `export PGCRON_DSN=$(pgcron dev url)`).

    On a managed flavour this is the customer admin role's DSN; --superuser gives the provider's.
    """
    from pgcron import dev as devserver

    try:
        state = devserver.status(name)
    except DevServerError as exc:
        _fail(exc)
        return
    if state is None or not state.running:
        make_console(stderr=True).print(
            f"[red]error:[/] dev server {safe(repr(name))} is not running; run "
            f"`pgcron dev up --name {safe(name)}`"
        )
        sys.exit(2)
    click.echo(state.superuser_dsn or state.dsn if superuser else state.dsn)


@dev.command("psql", context_settings={"ignore_unknown_options": True})
@_name_option
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def psql_cmd(name: str, psql_args: tuple[str, ...]) -> None:
    """Open psql on the dev server (extra arguments go to psql, e.g. -c 'select 1')."""
    from pgcron import dev as devserver

    try:
        state = devserver.status(name)
    except DevServerError as exc:
        _fail(exc)
        return
    if state is None or not state.running:
        make_console(stderr=True).print(f"[red]error:[/] dev server {safe(repr(name))} is not running")
        sys.exit(2)
    psql = shutil.which("psql")
    root = (state.toolchain or {}).get("root")
    if psql:
        argv = [psql, state.dsn, *psql_args]
    elif root and os.geteuid() == 0:
        argv = ["chroot", root, "/usr/bin/psql", state.dsn, *psql_args]  # the root's own client
    else:
        make_console(stderr=True).print(
            f"[red]error:[/] no psql on PATH; connect to {safe(state.dsn)} with your client"
        )
        sys.exit(2)
    sys.stdout.flush()
    os.execvp(argv[0], argv)


def register(group: click.Group) -> None:
    """Add this family's commands to the top-level group."""
    group.add_command(dev)
