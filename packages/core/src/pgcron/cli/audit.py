"""CLI: `pgcron audit` — expected fire times versus the runs that happened (docs/audit.md).

Exit codes, for monitoring: 0 no findings, 1 findings (or an error, with a message on stderr).
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import click
from rich.table import Table

from pgcron.audit import FindingKind
from pgcron.cli._common import make_console, safe
from pgcron.cli.plan import dsn_option, fail, json_option, open_client
from pgcron.errors import PgCronError
from pgcron.jobsfile import NAMESPACE_SEPARATOR, parse_duration

EXIT_FINDINGS = 1


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("audit")
@click.option("--since", default="24h", show_default=True, callback=_duration, help="How far back to look.")
@click.option(
    "--late",
    "late_after",
    default="60s",
    show_default=True,
    callback=_duration,
    help="A run that starts later than this after its fire time is late.",
)
@click.option(
    "--stuck",
    "stuck_after",
    default="1h",
    show_default=True,
    callback=_duration,
    help="A run not over after this long is stuck.",
)
@click.option("--namespace", default=None, help="Only jobs of this jobs-file namespace.")
@click.option("--job", default=None, help="Only the job with this name.")
@click.option("--timezone", default=None, help="Override cron.timezone (when this role cannot read it).")
@click.option(
    "--ignore",
    multiple=True,
    type=click.Choice([k.value for k in FindingKind]),
    help="Finding kinds that do not make the exit code non-zero (repeatable).",
)
@dsn_option
@json_option
def audit_cmd(
    since: timedelta,
    late_after: timedelta,
    stuck_after: timedelta,
    namespace: str | None,
    job: str | None,
    timezone: str | None,
    ignore: tuple[str, ...],
    dsn: str,
    as_json: bool,
) -> None:
    """Compare the runs each schedule should have produced with the runs that happened."""
    prefix = namespace + NAMESPACE_SEPARATOR if namespace else None
    try:
        with open_client(dsn) as client:
            report = client.audit(
                since,
                job_prefix=prefix,
                job=job,
                late_after=late_after,
                stuck_after=stuck_after,
                timezone=timezone,
            )
    except PgCronError as exc:
        fail(exc, as_json)
        return
    counted = [f for f in report.findings if f.kind.value not in ignore]
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        out = make_console()
        out.print(
            f"audit of {report.jobs} jobs from {report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M}"
            f" UTC (cron.timezone {report.timezone}): {report.expected_runs:,} fire times expected"
        )
        if report.findings:
            table = Table("kind", "job", "expected", "run", "count", "detail")
            for f in report.findings:
                table.add_row(
                    f.kind.value,
                    safe(f.job or str(f.jobid)),
                    f"{f.expected:%Y-%m-%d %H:%M}" if f.expected else "",
                    str(f.runid or ""),
                    str(f.count),
                    safe(f.message.splitlines()[0] if f.message else ""),
                )
            out.print(table)
        summary = ", ".join(f"{n} {k}" for k, n in report.by_kind().items() if n) or "no findings"
        out.print(f"findings: {summary}")
        for note in report.notes:
            out.print(f"[dim]note: {safe(note)}[/]")
    sys.exit(EXIT_FINDINGS if counted else 0)


def register(group: click.Group) -> None:
    """Add `audit` to the top-level group."""
    group.add_command(audit_cmd)
