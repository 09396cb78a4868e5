"""`pgcron runs --follow`: print runs as they start and end, until Ctrl-C.

One cheap query per tick (``pgcron.runfeed``): the runs after a runid watermark plus the runs seen unfinished
so far, by primary key, so a tick costs the same whatever the history size. Ticks come every
``POLL_S``; where the engine names a notification channel for the caller's role (``pgcron.run_channel()``,
engine schema 0004) the follower LISTENs on it and ticks as soon as a run changes (and every
``LISTEN_POLL_S`` regardless, notifications being a hint, not the record). A lost connection (a server
restart) is retried with backoff; the watermark survives it, so no run is skipped or printed twice.
Ctrl-C ends it with exit code 0.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import click
import psycopg
from psycopg import sql

from pgcron import _client_base as base
from pgcron import runfeed
from pgcron.cli._common import handle_errors, json_line, make_console, safe
from pgcron.client import Client
from pgcron.errors import ConnectionFailed, PgCronError
from pgcron.models import Run, RunStatus

__all__ = ["Follower", "follow_runs"]

logger = logging.getLogger(__name__)

POLL_S = 0.5  # between ticks without notifications
LISTEN_POLL_S = 2.0  # between ticks when notifications wake the follower
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 5.0)  # reconnect delays; the last one repeats
_PAGE = 500

_STYLE = {
    RunStatus.SUCCEEDED: "green",
    RunStatus.FAILED: "red",
    RunStatus.CANCELED: "yellow",
    RunStatus.LOST: "magenta",
    RunStatus.RUNNING: "cyan",
    RunStatus.PENDING: "blue",
}


class Follower:
    """The follow loop's state: the watermark, the runs seen unfinished, the event printer."""

    def __init__(
        self,
        dsn: str,
        *,
        job: str | int | None,
        statuses: Iterable[str],
        since: datetime | timedelta | None,
        as_json: bool,
        wide: bool,
    ) -> None:
        self.dsn = dsn
        self.job = job
        self.wanted = base.coerce_statuses(list(statuses) or None)
        self.since = since
        self.as_json = as_json
        self.wide = wide
        self.client: Client | None = None
        self.listener: psycopg.Connection[Any] | None = None
        self.jobids: list[int] | None = None
        self.names: dict[int, str | None] = {}
        self.watermark: int | None = None
        self.open: dict[int, RunStatus] = {}  # unfinished runs seen so far → the status last shown
        self.out = make_console(wide=wide)
        self.err = make_console(stderr=True)

    # ----------------------------------------------------------------- connection

    def connect(self) -> Client:
        client = Client.connect(self.dsn)
        try:
            caps = client.capabilities()
            if self.jobids is None and self.job is not None:
                self.jobids = [client.job(self.job).jobid if isinstance(self.job, str) else self.job]
            if self.watermark is None:
                since_at = base.since_value(self.since, datetime.now().astimezone())
                if since_at is None:
                    row = client.database.fetch_one("runfeed_start", {"before": None})
                    since_at = row["now"] if row else None
                self.watermark = runfeed.start_runid(client, since_at) if since_at else 0
            self.listener = self._listen(client) if caps.schema_version is not None else None
        except BaseException:
            client.close()
            raise
        self.client = client
        return client

    def _listen(self, client: Client) -> psycopg.Connection[Any] | None:
        """LISTEN on the role's run channel when the engine has one (else None: the follower polls)."""
        row = client.database.fetch_one("run_channel_exists")
        if not row or not row["present"]:
            return None
        channel_row = client.database.fetch_one("run_channel")
        channel = channel_row["channel"] if channel_row else None
        if not channel:
            return None
        try:
            conn = psycopg.Connection.connect(self.dsn, autocommit=True, application_name="pgcron-follow")
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        except psycopg.Error as exc:
            logger.debug("cannot LISTEN on %s, polling instead: %s", channel, exc)
            return None
        logger.debug("listening on %s", channel)
        return conn

    def disconnect(self) -> None:
        for closer in (self.listener, self.client):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer.close()
        self.listener = None
        self.client = None

    # ----------------------------------------------------------------- loop

    def run(self) -> None:
        with handle_errors(self.as_json):
            self.connect()
        attempt = 0
        while True:
            try:
                if self.client is None:
                    self.connect()
                    self.note("reconnected")
                    attempt = 0
                full = self.tick()
                if not full:
                    self.pause()
            except (ConnectionFailed, psycopg.OperationalError) as exc:
                self.disconnect()
                delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                attempt += 1
                message = exc.message if isinstance(exc, PgCronError) else str(exc)
                self.note(f"connection lost ({message.splitlines()[0]}); retrying in {delay:g} s")
                time.sleep(delay)

    def pause(self) -> None:
        if self.listener is None:
            time.sleep(POLL_S)
            return
        for _ in self.listener.notifies(timeout=LISTEN_POLL_S, stop_after=1):
            pass

    def tick(self) -> bool:
        """Read and print what changed; True when a full page came back (more to read at once)."""
        assert self.client is not None and self.watermark is not None
        page = runfeed.runs_after(
            self.client, self.watermark, jobids=self.jobids, limit=_PAGE, also=self.open
        )
        returned = {run.runid for run in page.runs}
        for runid in [r for r in self.open if r not in returned]:
            del self.open[runid]  # its row was purged
        unknown = {r.jobid for r in page.runs if r.jobid is not None and r.jobid not in self.names}
        if unknown:
            self.names.update({j.jobid: j.name for j in self.client.jobs()})
            self.names.update({jobid: None for jobid in unknown if jobid not in self.names})
        for run in page.runs:
            self.observe(run)
            self.watermark = max(self.watermark, run.runid)
        return page.full

    def observe(self, run: Run) -> None:
        before = self.open.get(run.runid)
        if run.status.is_terminal:
            self.open.pop(run.runid, None)
            self.emit("ended", run)
        elif before is None:
            self.open[run.runid] = run.status
            self.emit("started", run)
        elif before is not run.status:
            self.open[run.runid] = run.status
            self.emit(run.status.value, run)

    # ----------------------------------------------------------------- output

    def emit(self, event: str, run: Run) -> None:
        if self.wanted is not None and run.status not in self.wanted:
            return
        name = self.names.get(run.jobid) if run.jobid is not None else None
        if self.as_json:
            data = _run_dict(run)
            click.echo(json_line({"event": event, "job": name, **data}))
        else:
            when = run.end_time if event == "ended" and run.end_time else run.start_time
            clock = (when or datetime.now().astimezone()).strftime("%H:%M:%S")
            job = f"job {run.jobid}" + (f" {safe(name)}" if name else "")
            took = f"  {run.duration.total_seconds():.3f}s" if run.duration is not None else ""
            message = run.message or ""
            message = message if self.wide else (message.splitlines()[0] if message else "")
            style = _STYLE[run.status]
            line = f"{clock}  {event:<8} run {run.runid}  {job}  [{style}]{run.status.value}[/]{took}" + (
                f"  {safe(message, multiline=self.wide)}" if message else ""
            )
            if self.wide:
                self.out.print(line)
            else:
                self.out.print(line, no_wrap=True, overflow="ellipsis", crop=True)
        sys.stdout.flush()

    def note(self, text: str) -> None:
        self.err.print(f"[dim]{safe(text)}[/]")
        sys.stderr.flush()


def _run_dict(run: Run) -> dict[str, Any]:
    from pgcron.cli.jobs import run_dict

    return run_dict(run)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def follow_runs(
    dsn: str,
    *,
    job: str | int | None,
    statuses: Iterable[str],
    since: datetime | timedelta | None,
    as_json: bool,
    wide: bool,
) -> None:
    """Follow runs until Ctrl-C or SIGTERM (exit 0); a connection error before the first tick exits 2."""
    follower = Follower(dsn, job=job, statuses=statuses, since=since, as_json=as_json, wide=wide)
    # Ctrl-C must stop it even when started from a shell that ignores SIGINT for background jobs.
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        follower.run()
    except KeyboardInterrupt:
        pass
    finally:
        follower.disconnect()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
