"""Run-state after a launcher restart, on private servers this test may restart (never the shared ones).

Produces, in both execution modes, what facts §3.3 describes: in-flight ``running`` rows become
``failed / server restarted`` with no ``end_time`` (→ ``LOST``), and (libpq mode) a row stuck in
``connecting`` is never fixed by pg_cron (→ ``LOST`` once the engine can tell it predates the launcher).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import psycopg
import pytest
from pgcron import Client, RunStatus
from pgcron.dev import _server

from .conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(params=["bgw", "libpq"])
def private_dsn(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    name = f"t-restart-{request.param}"
    state = _server.up(name, use_env=False, background_workers=request.param == "bgw")
    try:
        yield request.param, state.dsn
    finally:
        _server.down(name, purge=True)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: libpq stays 'connecting' on it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in accepted:
        conn.close()


def _launcher_pid(conn: psycopg.Connection) -> int | None:
    row = conn.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'").fetchone()
    return row[0] if row else None


def test_launcher_restart_leaves_lost_runs(private_dsn: tuple[str, str], silent_port: int) -> None:
    mode, dsn = private_dsn
    with psycopg.connect(dsn, autocommit=True) as conn, Client.connect(dsn) as client:
        stuck_runid = None
        if mode == "libpq":
            # A job whose connection never completes: its run sits in 'connecting' (up to the 10 s timeout).
            jobid = conn.execute("SELECT cron.schedule('stuck', '5 seconds', 'SELECT 1')").fetchone()[0]
            conn.execute("UPDATE cron.job SET nodeport = %s WHERE jobid = %s", (silent_port, jobid))
            stuck_runid = wait_for(
                lambda: conn.execute(
                    "SELECT runid FROM cron.job_run_details WHERE jobid = %s AND status = 'connecting'",
                    (jobid,),
                ).fetchone(),
                what="a connecting run",
            )[0]
        sleeper = conn.execute(
            "SELECT cron.schedule('sleeper', '1 seconds', 'SELECT pg_sleep(60)')"
        ).fetchone()[0]
        running = wait_for(
            lambda: conn.execute(
                "SELECT runid, job_pid FROM cron.job_run_details WHERE jobid = %s AND status = 'running'",
                (sleeper,),
            ).fetchone(),
            what="a running run",
        )
        assert client.run(running[0]).status is RunStatus.RUNNING
        if stuck_runid is not None:
            assert client.run(stuck_runid).status is RunStatus.PENDING

        old = _launcher_pid(conn)
        conn.execute("SELECT pg_terminate_backend(%s)", (old,))
        wait_for(
            lambda: (pid := _launcher_pid(conn)) is not None and pid != old, what="the launcher to restart"
        )
        conn.execute("SELECT cron.unschedule(jobid) FROM cron.job")  # nothing new may run from here on
        conn.execute("SELECT pg_cancel_backend(%s)", (running[1],))  # libpq: the query outlives the launcher

        lost = wait_for(
            lambda: (r := client.run(running[0])).raw_status == "failed" and r, what="pg_cron to mark the run"
        )
        assert lost.return_message == "server restarted"
        assert lost.end_time is None
        assert lost.status is RunStatus.LOST and lost.status.is_terminal
        if stuck_runid is not None:
            stuck = client.run(stuck_runid)
            assert stuck.raw_status == "connecting"  # pg_cron never fixes it
            assert stuck.status is RunStatus.LOST
            assert client.capabilities(refresh=True).launcher_backend_start is not None
