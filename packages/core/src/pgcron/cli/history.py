"""CLI: `pgcron history purge` and `pgcron history index` (docs/history.md).

(`pgcron runs` lists and follows runs; it lives with the other run commands.)
Exit codes: 0 done, 1 error; `history index` without --create exits 3 when the index is missing, so
monitoring can check for it.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import click

from pgcron.cli._common import make_console
from pgcron.cli.plan import dsn_option, fail, json_option, open_client
from pgcron.errors import PgCronError
from pgcron.jobsfile import NAMESPACE_SEPARATOR, RESERVED_NAMESPACES, check_namespace, parse_duration

EXIT_INDEX_MISSING = 3


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> object:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _namespace(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # An empty or malformed namespace must never widen "only this namespace" to every job.
    if value is None:
        return None
    if value in RESERVED_NAMESPACES:
        raise click.BadParameter(
            f"{value!r} holds pgcron's own jobs, which purge their own runs; give a jobs-file namespace"
        )
    error = check_namespace(value)
    if error is not None:
        raise click.BadParameter(f"{error}; omit --namespace to purge the runs of every job")
    return value


@click.group("history")
def history_group() -> None:
    """Maintain pg_cron's run history (cron.job_run_details)."""


@history_group.command("purge")
@click.option(
    "--older-than", required=True, callback=_duration, help="Delete runs older than this, e.g. 7d, 36h, 1w."
)
@click.option(
    "--batch",
    default=10_000,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Runids per transaction (smaller: shorter locks).",
)
@click.option(
    "--namespace",
    default=None,
    callback=_namespace,
    help="Only runs of jobs in this jobs-file namespace (omit for every job).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@dsn_option
@json_option
def purge_cmd(
    older_than: object, batch: int, namespace: str | None, dry_run: bool, dsn: str, as_json: bool
) -> None:
    """Delete old run history in short batches (finished runs and stuck unfinished rows)."""
    assert isinstance(older_than, timedelta)
    err = make_console(stderr=True)
    prefix = None if namespace is None else namespace + NAMESPACE_SEPARATOR
    try:
        with open_client(dsn) as client:
            if as_json or not err.is_terminal:
                result = client.purge_history(older_than, batch=batch, job_prefix=prefix, dry_run=dry_run)
            else:
                with err.status("purging…") as status:
                    result = client.purge_history(
                        older_than,
                        batch=batch,
                        job_prefix=prefix,
                        dry_run=dry_run,
                        on_batch=lambda n, b: status.update(f"purging… {n:,} rows deleted in {b:,} batches"),
                    )
    except PgCronError as exc:
        fail(exc, as_json)
        return
    if as_json:
        click.echo(
            json.dumps(
                {
                    "cutoff": result.cutoff.isoformat(),
                    "deleted": result.deleted,
                    "batches": result.batches,
                    "seconds": round(result.seconds, 3),
                    "dry_run": result.dry_run,
                }
            )
        )
    elif dry_run:
        click.echo(
            f"would delete {result.deleted:,} run rows older than {result.cutoff:%Y-%m-%d %H:%M:%S %Z}"
        )
    else:
        click.echo(
            f"deleted {result.deleted:,} run rows older than {result.cutoff:%Y-%m-%d %H:%M:%S %Z} in "
            f"{result.batches:,} batches ({result.seconds:.1f} s, {result.rows_per_second:,.0f} rows/s)"
        )


@history_group.command("index")
@click.option("--create", is_flag=True, help="Create the (jobid, runid) index CONCURRENTLY if missing.")
@dsn_option
@json_option
def index_cmd(create: bool, dsn: str, as_json: bool) -> None:
    """Report (or create) the index that makes one job's run lookups fast."""
    try:
        with open_client(dsn) as client:
            status = client.ensure_index() if create else client.index_status()
    except PgCronError as exc:
        fail(exc, as_json)
        return
    if as_json:
        click.echo(
            json.dumps(
                {
                    "present": status.present,
                    "indexes": list(status.indexes),
                    "can_create": status.can_create,
                    "owner": status.owner,
                    "rows_estimate": status.rows_estimate,
                    "total_bytes": status.total_bytes,
                    "hint": status.hint,
                }
            )
        )
    else:
        word = "present" if status.present else "missing"
        click.echo(
            f"cron.job_run_details (~{status.rows_estimate:,} rows, {status.total_bytes / 1e6:,.1f} MB): "
            f"jobid index {word}; {status.hint}"
        )
    sys.exit(0 if status.present else EXIT_INDEX_MISSING)


def register(group: click.Group) -> None:
    """Add the `history` group to the top-level group."""
    group.add_command(history_group)
