"""Quickstart: real pg_cron work inside a local PostgreSQL, from nothing.

1. brings up the pgcron dev server (``pgcron dev up``: your PGCRON_DSN, Docker, local binaries or a
   provisioned Debian root — whatever this machine allows) and installs the engine schema;
2. creates the example tables (``examples/setup.sql``) and applies the example jobs file
   (``examples/jobs.toml``) with plan/apply — the same as ``pgcron plan`` / ``pgcron apply``;
3. runs SQL inside the database *now* through pg_cron (the exactly-once pushdown, ``pgcron run``):
   expire the stale seat reservations, no app-tier scheduler involved;
4. prints the jobs and the runs pg_cron recorded.

Run it with ``bash scripts/demo`` (or ``hatch run demo``). Re-running it is harmless: the second plan is
empty and the pushdown uses a fresh key each time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from pgcron import Client, dev, schema
from pgcron.errors import PgCronError
from pgcron.jobsfile import load_jobs_file
from pgcron.plan import desired_specs

EXAMPLES = Path(__file__).resolve().parent
console = Console()

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
        console.print(f"[red]no dev server:[/] {exc.message}")
        return 2
    console.print(
        f"[bold]dev server[/] {server.dsn}  (route {server.route}, PostgreSQL {server.server_version}, "
        f"pg_cron {server.pg_cron_version}, {server.mode})",
        highlight=False,
    )
    schema.install(server.dsn)

    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute((EXAMPLES / "setup.sql").read_text(encoding="utf-8"))
        conn.execute(SEED_RESERVATIONS)

    jobs_file = load_jobs_file(EXAMPLES / "jobs.toml")
    with Client.connect(server.dsn) as client:
        plan = client.plan(desired_specs(jobs_file), namespace=jobs_file.namespace)
        console.print(f"[bold]plan[/] for namespace {jobs_file.namespace!r}: {plan.summary()}")
        if plan.pending:
            client.apply(plan)
            console.print("[bold]applied[/]: pg_cron now runs these jobs on their schedules")

        console.print("running [bold]SELECT shop.expire_reservations()[/] inside PostgreSQL through pg_cron…")
        with console.status("waiting for pg_cron's run to finish…"):
            run = client.run_now("SELECT shop.expire_reservations()", timeout=60)
        took = f" in {run.duration.total_seconds() * 1000:.0f} ms" if run.duration else ""
        console.print(
            f"run {run.runid} of job {run.jobid}: [bold]{run.status.value}[/] — {run.message}{took}",
            highlight=False,
        )

        jobs = Table("jobid", "name", "schedule", "active", title="pg_cron jobs")
        for job in client.jobs():
            jobs.add_row(str(job.jobid), job.name or "", job.schedule, str(job.active))
        console.print(jobs)

        runs = Table("runid", "jobid", "status", "message", "start", title="latest runs (cron.job_run_details)")
        for r in client.runs(limit=8):
            start = r.start_time.strftime("%H:%M:%S.%f")[:-3] if r.start_time else ""
            runs.add_row(str(r.runid), str(r.jobid), r.status.value, r.message or "", start)
        console.print(runs)

    console.print("the server keeps running: [bold]pgcron dev psql[/] to look around, ", end="")
    console.print("[bold]pgcron dev down[/] to stop it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
