"""Quickstart: a real pg_cron job in a local PostgreSQL, from nothing.

1. brings up the pgcron dev server (``pgcron dev up``: your PGCRON_DSN, Docker, local binaries or a
   provisioned Debian root — whatever this machine allows);
2. applies the example job: pg_cron runs ``INSERT INTO quickstart_ticks …`` inside the database every
   second (no app-tier scheduler involved);
3. waits for three recorded runs and prints the jobs and the runs, then unschedules the job.

Run it with ``bash scripts/demo`` (or ``hatch run demo``).
"""

from __future__ import annotations

import sys
import time

import psycopg
from pgcron import dev
from pgcron.errors import DevServerError
from rich.console import Console
from rich.table import Table

JOB = "quickstart-tick"
console = Console()


def main() -> int:
    try:
        server = dev.up("default")
    except DevServerError as exc:
        console.print(f"[red]no dev server:[/] {exc.message}")
        return 2
    console.print(
        f"[bold]dev server[/]: {server.dsn}  (route {server.route}, PostgreSQL {server.server_version}, "
        f"pg_cron {server.pg_cron_version}, {server.mode})",
        highlight=False,
    )
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS quickstart_ticks (at timestamptz DEFAULT clock_timestamp())")
        # pg_cron >= 1.5 takes second intervals; 1.4 only whole minutes.
        seconds = server.pg_cron_version not in ("", "?") and not server.pg_cron_version.startswith(
            ("1.0", "1.1", "1.2", "1.3", "1.4")
        )
        schedule = "1 seconds" if seconds else "* * * * *"
        row = conn.execute(
            "SELECT cron.schedule(%s, %s, 'INSERT INTO quickstart_ticks DEFAULT VALUES')", (JOB, schedule)
        ).fetchone()
        assert row is not None
        jobid = row[0]
        console.print(f"scheduled job {jobid} [bold]{JOB}[/] on '{schedule}'; waiting for 3 runs…")
        try:
            deadline = time.monotonic() + (20 if seconds else 200)
            with console.status("pg_cron is running the job inside PostgreSQL…"):
                while True:
                    done = conn.execute(
                        "SELECT count(*) FROM cron.job_run_details WHERE jobid = %s AND end_time IS NOT NULL",
                        (jobid,),
                    ).fetchone()
                    if (done and done[0] >= 3) or time.monotonic() > deadline:
                        break
                    time.sleep(0.25)
            jobs = Table("jobid", "jobname", "schedule", "command", "active", title="cron.job")
            for j in conn.execute(
                "SELECT jobid, jobname, schedule, command, active FROM cron.job ORDER BY jobid LIMIT 20"
            ):
                jobs.add_row(*(str(v) for v in j))
            console.print(jobs)
            runs = Table(
                "runid", "status", "return_message", "start_time", "duration", title=f"runs of {JOB}"
            )
            for r in conn.execute(
                "SELECT runid, status, return_message, start_time, end_time - start_time "
                "FROM cron.job_run_details WHERE jobid = %s ORDER BY runid DESC LIMIT 5",
                (jobid,),
            ):
                runs.add_row(*(str(v) for v in r))
            console.print(runs)
            ticks = conn.execute("SELECT count(*) FROM quickstart_ticks").fetchone()
            console.print(
                f"rows written by pg_cron into quickstart_ticks so far: [bold]{ticks[0] if ticks else 0}[/]"
            )
        finally:
            conn.execute("SELECT cron.unschedule(%s::bigint)", (jobid,))
    console.print("the server keeps running: [bold]pgcron dev psql[/] to look around, ", end="")
    console.print("[bold]pgcron dev down[/] to stop it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
