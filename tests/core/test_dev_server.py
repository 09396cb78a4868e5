"""`pgcron dev`: idempotent up, down stops exactly what it started, clear errors."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pgcron import dev
from pgcron.dev._cluster import process_alive
from pgcron.errors import DevServerError

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def instance() -> Iterator[str]:
    """A unique instance name; whatever it left behind is stopped and deleted afterwards."""
    name = f"t-{secrets.token_hex(4)}"
    yield name
    dev.down(name, purge=True)


def _cli(*args: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PGCRON_DSN"}
    result = subprocess.run(
        [sys.executable, "-m", "pgcron", "dev", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def _processes_mentioning(path: str) -> list[int]:
    """PIDs of live (non-zombie) processes whose command line contains ``path``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if path in cmdline and process_alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def test_up_twice_is_idempotent(instance: str) -> None:
    first = _cli("up", "--name", instance)
    second = _cli("up", "--name", instance)
    assert first["running"] is True
    assert second["dsn"] == first["dsn"]
    assert second["pid"] == first["pid"]
    assert isinstance(first["pid"], int) and process_alive(first["pid"])
    assert first["pg_cron_version"] == "1.6"
    with psycopg.connect(str(first["dsn"])) as conn:
        pid = conn.execute("SELECT pg_postmaster_start_time() IS NOT NULL").fetchone()
    assert pid == (True,)


def test_down_leaves_none_of_its_processes(instance: str) -> None:
    state = dev.up(instance, background_workers=False, use_env=False)
    assert state.pid is not None and state.inner_data_dir is not None
    assert not state.background_workers
    assert _processes_mentioning(state.inner_data_dir), "the postmaster should show its data dir"
    stopped = dev.down(instance)
    assert stopped is not None and stopped.started_by_pgcron
    assert not process_alive(state.pid)
    assert _processes_mentioning(state.inner_data_dir) == []
    after = dev.status(instance)
    assert after is not None and after.running is False


def test_restart_keeps_the_dsn_and_applies_the_mode(instance: str) -> None:
    first = dev.up(instance, use_env=False)
    dev.down(instance)
    again = dev.up(instance, background_workers=False, timezone="Europe/Berlin", use_env=False)
    assert again.dsn == first.dsn
    with psycopg.connect(again.dsn) as conn:
        row = conn.execute(
            "SELECT current_setting('cron.use_background_workers'), current_setting('cron.timezone')"
        ).fetchone()
    assert row == ("off", "Europe/Berlin")


def test_up_refuses_to_change_a_running_server(instance: str) -> None:
    dev.up(instance, use_env=False)
    with pytest.raises(DevServerError, match="already runs with mode background workers"):
        dev.up(instance, background_workers=False, use_env=False)


def test_down_never_stops_a_server_it_did_not_start(
    instance: str, pgcron_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGCRON_DSN", pgcron_dsn)
    state = dev.up(instance)
    assert state.route == "dsn" and not state.started_by_pgcron
    assert dev.down(instance) is None  # nothing recorded, nothing stopped
    with psycopg.connect(pgcron_dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_bad_instance_name_says_how_to_fix_it() -> None:
    with pytest.raises(DevServerError, match=r"invalid dev-server name.*--name libpq"):
        dev.up("no spaces allowed")


def test_no_route_lists_every_route_and_how_to_enable_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Unit test: pretend to be a normal user on a machine with no Docker and no pg_cron binaries.
    from pgcron.dev import _docker, _local

    monkeypatch.setenv("PGCRON_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("PGCRON_DSN", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(_docker, "unavailable_reason", lambda: "no Docker engine (test)")
    monkeypatch.setattr(_local, "find", lambda *a, **k: None)
    with pytest.raises(DevServerError) as info:
        dev.up("nothing", use_env=True)
    message = info.value.message
    for route in ("dsn: PGCRON_DSN is not set", "docker: no Docker engine", "local:", "trixie: needs root"):
        assert route in message
    assert "Enable one of them" in message
