"""CLI: `pgcron doctor` — preflight checks with fix hints (docs/doctor.md).

Exit codes: 0 no FAIL (WARN allowed unless --strict), 1 a FAIL (or with --strict a WARN), or an error.
"""

from __future__ import annotations

import json
import sys

import click
from rich.table import Table

from pgcron.cli._common import make_console, safe
from pgcron.cli.plan import dsn_option, json_option, open_client
from pgcron.doctor import Check, Status
from pgcron.errors import PgCronError

_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIP: "dim"}


@click.command("doctor")
@click.option("--strict", is_flag=True, help="Exit 1 on WARN too.")
@dsn_option
@json_option
def doctor_cmd(strict: bool, dsn: str, as_json: bool) -> None:
    """Check the pg_cron installation: preload, database, mode, limits, roles, commands, history."""
    try:
        with open_client(dsn) as client:
            checks = client.doctor()
    except PgCronError as exc:  # doctor reports database errors as checks: this is the connection
        checks = [
            Check(
                "connection",
                Status.FAIL,
                exc.message,
                "check the DSN (host, port, user, dbname), that the server runs, and pg_hba.conf",
            )
        ]
    bad = {Status.FAIL, Status.WARN} if strict else {Status.FAIL}
    if as_json:
        click.echo(json.dumps({"checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        out = make_console()
        table = Table("status", "check", "detail", "fix", show_lines=False)
        for c in checks:
            # details name jobs, roles and commands any role may have written: terminal-safe
            detail = safe(c.detail, multiline=True) + "".join(f"\n  • {safe(i)}" for i in c.items)
            table.add_row(f"[{_STYLE[c.status]}]{c.status.value}[/]", safe(c.name), detail, safe(c.hint))
        out.print(table)
    sys.exit(1 if any(c.status in bad for c in checks) else 0)


def register(group: click.Group) -> None:
    """Add `doctor` to the top-level group."""
    group.add_command(doctor_cmd)
