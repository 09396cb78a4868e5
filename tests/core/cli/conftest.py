"""Helpers of the CLI tests: run the real `pgcron` in a subprocess, wait for conditions."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import wait_for  # noqa: F401 (the tests import them from here)

# Job names and commands any role could write: Rich markup, an OSC 8 hyperlink, a clear-screen CSI, an
# emoji code, a C1 CSI, a right-to-left override.
HOSTILE = "[bold red]x[/] \x1b]8;;http://evil\x07 \x1b[2J :a: shop:a:b \u202e"
HOSTILE_SHOWN = (r"[bold red]x[/]", r"\x1b]8;;http://evil\x07", r"\x1b[2J", ":a:", "shop:a:b", r"\u202e")


def assert_inert(output: str) -> None:
    """No raw control character reached the output, and the hostile text is shown as written."""
    assert "\x1b" not in output and "\x07" not in output and "\u202e" not in output, repr(output)
    for piece in HOSTILE_SHOWN:
        assert piece in output, (piece, output)


def cli_env(dsn: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(PGCRON_DSN=dsn, PYTHONUNBUFFERED="1", **extra)
    return env


def run_cli(dsn: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """The real CLI (`python -m pgcron`) with stdout a pipe (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "pgcron", *args],
        env=cli_env(dsn, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


_ENGINE_READY: set[str] = set()


@pytest.fixture(autouse=True)
def _engine_schema(request: pytest.FixtureRequest) -> None:
    """The CLI tests that use a server need the engine schema, whatever ran before them."""
    if "pgcron_dsn" not in request.fixturenames:
        return
    dsn = request.getfixturevalue("pgcron_dsn")
    if dsn not in _ENGINE_READY:
        from pgcron.schema import install

        install(dsn)
        _ENGINE_READY.add(dsn)
