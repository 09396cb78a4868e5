"""`pgcron runs --follow` through the real CLI in a subprocess, against a real server (issue 14 item 5)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

import psycopg
import pytest
from pgcron import Client, JobSpec
from pgcron.errors import DevServerError

from .conftest import cli_env

pytestmark = [pytest.mark.integration, pytest.mark.acceptance]


class Follow:
    """A running `pgcron runs --follow --json …`; its stdout lines, each with its arrival time."""

    def __init__(self, dsn: str, *args: str, appname: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pgcron", "runs", "--follow", "--json", *args],
            env=cli_env(dsn, PGAPPNAME=appname),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.stderr: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True).start()

    def _read(self, stream: IO[str], out: bool) -> None:
        for line in stream:
            if out:
                self.lines.put((time.time(), line))
            else:
                self.stderr.append(line)

    def next_event(self, timeout: float, **match: Any) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no event matching {match} within {timeout}s; stderr: {''.join(self.stderr)}")
            try:
                arrived, line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            event = json.loads(line)  # every line is one JSON object
            if all(event.get(k) == v for k, v in match.items()):
                return arrived, event

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=15)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_follow_prints_each_run_within_a_second_of_its_end(pgcron_dsn: str, job_prefix: str) -> None:
    name = f"{job_prefix}follow"
    with Client.connect(pgcron_dsn) as client:
        job = client.schedule(JobSpec(name=name, schedule="2 seconds", command="SELECT pg_sleep(0.2)"))
    follow = Follow(pgcron_dsn, "--job", name, appname=f"{job_prefix}follower")
    try:
        for _ in range(3):
            arrived, event = follow.next_event(30, event="ended")
            assert event["jobid"] == job.jobid and event["job"] == name  # --job: no other job's runs
            assert event["status"] == "succeeded" and event["runid"] > 0
            lag = arrived - datetime.fromisoformat(event["end_time"]).timestamp()
            assert lag < 1.5, f"run {event['runid']} printed {lag:.2f}s after its end"
        rc = follow.interrupt()
        assert rc == 0, follow.stderr  # Ctrl-C is the normal way to stop following
        assert "Traceback" not in "".join(follow.stderr)
    finally:
        follow.kill()
        with Client.connect(pgcron_dsn) as client:
            client.unschedule(job.jobid)


def test_follow_survives_a_lost_connection(pgcron_dsn: str, job_prefix: str) -> None:
    name = f"{job_prefix}reconnect"
    appname = f"{job_prefix}follower"
    with Client.connect(pgcron_dsn) as client:
        job = client.schedule(JobSpec(name=name, schedule="1 seconds", command="SELECT 1"))
    follow = Follow(pgcron_dsn, "--job", str(job.jobid), "--status", "succeeded", appname=appname)
    try:
        _, first = follow.next_event(30, event="ended")
        with psycopg.connect(pgcron_dsn, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name IN (%s, 'pgcron-follow') AND pid <> pg_backend_pid()) t",
                (appname,),
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        later: list[int] = []
        while len(later) < 3:
            _, event = follow.next_event(30, event="ended")
            later.append(event["runid"])
        assert min(later) > first["runid"] and len(set(later)) == len(later)  # nothing twice
        assert any("reconnected" in line for line in follow.stderr), follow.stderr
        assert follow.interrupt() == 0
    finally:
        follow.kill()
        with Client.connect(pgcron_dsn) as client:
            client.unschedule(job.jobid)


@pytest.fixture
def private_server() -> Iterator[tuple[str, int]]:
    """A server of this test's own (it gets restarted), without the engine schema: the follower polls."""
    from pgcron import dev

    name = f"pytest-{os.getpid()}-follow"
    state = dev.up(name, use_env=False)
    try:
        assert state.port is not None
        yield name, state.port
    finally:
        dev.down(name, purge=True)


def _restart(name: str, port: int) -> None:
    """Stop and start the server on the same port (the follower's DSN stays valid)."""
    from pgcron import dev
    from pgcron.dev import _server

    state = dev.status(name)
    assert state is not None
    if state.route in ("local", "trixie"):
        cluster = _server._cluster_of(state)  # postgres rebinds its port at once (SO_REUSEADDR)
        cluster.stop()
        cluster.start()
        return
    dev.down(name)
    deadline = time.monotonic() + 90
    while True:  # the port may linger in TIME_WAIT for a while
        try:
            dev.up(name, port=port, use_env=False)
            return
        except DevServerError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@pytest.mark.slow
def test_follow_survives_a_server_restart(private_server: tuple[str, int]) -> None:
    from pgcron import dev

    name, port = private_server
    dsn = dev.status(name).dsn  # type: ignore[union-attr]
    with Client.connect(dsn) as client:
        assert client.capabilities().schema_version is None  # no run channel: this follower polls
        job = client.schedule(JobSpec(name="restart-probe", schedule="1 seconds", command="SELECT 1"))
    follow = Follow(dsn, "--job", str(job.jobid), appname="follower")
    try:
        _, before = follow.next_event(30, event="ended")
        _restart(name, port)
        _, after = follow.next_event(60, event="ended", status="succeeded")
        assert after["runid"] > before["runid"]
        assert any("connection lost" in line for line in follow.stderr)
        assert any("reconnected" in line for line in follow.stderr)
        assert follow.interrupt() == 0
        assert "Traceback" not in "".join(follow.stderr)
    finally:
        follow.kill()
