"""Quickstart: real pg_cron work inside a local PostgreSQL, from nothing.

1. brings up the pgcron dev server (``pgcron dev up``: your PGCRON_DSN, Docker, local binaries or a
   provisioned Debian root — whatever this machine allows) and installs the engine schema;
2. creates the example tables (``examples/setup.sql``) and applies the example jobs file
   (``examples/jobs.toml``) with plan/apply — the same as ``pgcron plan`` / ``pgcron apply``;
3. runs SQL inside the database *now* through pg_cron (the exactly-once pushdown, ``pgcron run``):
   expire the stale seat reservations, no app-tier scheduler involved;
4. prints the jobs and the runs pg_cron recorded, and what to try next.

Run it with ``bash scripts/demo`` (or ``hatch run demo``). Re-running it is harmless: the second plan is
empty and the pushdown uses a fresh key each time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
from pgcron import Client, dev, schema
from pgcron.cli._common import Col, fit_table, make_console, safe, terminal_width
from pgcron.errors import PgCronError
from pgcron.jobsfile import load_jobs_file
from pgcron.plan import desired_specs
from rich.console import Console
from rich.text import Text

EXAMPLES = Path(__file__).resolve().parent
console: Console = make_console()  # job names and messages printed safely, no emoji, fits the terminal

# Seats held in carts; a third of them were held more than 15 minutes ago and never paid.
SEED_RESERVATIONS = """
INSERT INTO shop.reservations (seat, held_until)
SELECT 'seat-' || g, now() + CASE WHEN g % 3 = 0 THEN interval '-5 minutes' ELSE interval '15 minutes' END
  FROM generate_series(1, 3000) AS g
"""


def main() -> int:
    try:
        server = dev.up("default")
    except PgCronError as exc:
        console.print(f"[red]no dev server:[/] {safe(exc.message, multiline=True)}")
        return 2
    console.print(
        f"[bold]dev server[/] {safe(server.dsn)}  (route {server.route}, PostgreSQL {server.server_version}, "
        f"pg_cron {server.pg_cron_version}, {server.mode})"
    )
    schema.install(server.dsn)

    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute((EXAMPLES / "setup.sql").read_text(encoding="utf-8"))
        conn.execute(SEED_RESERVATIONS)

    jobs_file = load_jobs_file(EXAMPLES / "jobs.toml")
    with Client.connect(server.dsn) as client:
        plan = client.plan(desired_specs(jobs_file), namespace=jobs_file.namespace)
        console.print(f"[bold]plan[/] for namespace {safe(repr(jobs_file.namespace))}: {plan.summary()}")
        if plan.pending:
            client.apply(plan)
            console.print("[bold]applied[/]: pg_cron now runs these jobs on their schedules")

        console.print("running [bold]SELECT shop.expire_reservations()[/] inside PostgreSQL through pg_cron…")
        with console.status("waiting for pg_cron's run to finish…"):
            run = client.run_now("SELECT shop.expire_reservations()", timeout=60)
        took = f" in {run.duration.total_seconds() * 1000:.0f} ms" if run.duration else ""
        console.print(
            f"run {run.runid} of job {run.jobid}: [bold]{run.status.value}[/] — {safe(run.message)}{took}"
        )

        width = terminal_width()
        jobs = [
            [str(job.jobid), job.name or "", job.schedule, Text(str(job.active))] for job in client.jobs()
        ]
        columns = [Col("jobid", right=True), Col("name", flex=True), Col("schedule"), Col("active")]
        console.print(fit_table(columns, jobs, title="pg_cron jobs", width=width))

        runs = [
            [
                str(r.runid),
                str(r.jobid),
                r.status.value,
                (r.message or "").splitlines()[0] if r.message else "",
                r.start_time.strftime("%H:%M:%S.%f")[:-3] if r.start_time else "",
            ]
            for r in client.runs(limit=8)
        ]
        columns = [
            Col("runid", right=True),
            Col("jobid", right=True),
            Col("status"),
            Col("message", flex=True),
            Col("start"),
        ]
        console.print(fit_table(columns, runs, title="latest runs (cron.job_run_details)", width=width))

    console.print(
        "try next (the server keeps running; [bold]pgcron dev down[/] stops it):\n"
        "  [bold]pgcron runs --follow[/]             watch runs as they start and end\n"
        "  [bold]pgcron plan examples/jobs.toml[/]   what the jobs file would change\n"
        "  [bold]pgcron dev psql[/]                  look around in the database"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
