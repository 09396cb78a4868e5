"""Terminal-safe, width-fitting CLI output without a database (click's runner and the helpers)."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner
from pgcron.cli import dev as dev_cli
from pgcron.cli._common import Col, fit_table, make_console, plain, safe
from rich.console import Console
from rich.text import Text

HOSTILE = (
    "[bold red]x[/] \x1b]8;;http://evil\x07click\x1b]8;;\x07 \x1b[2J :a: shop:a:b \x9b31m \x7f \u202eevil"
)


def _render(markup_or_table: object, *, width: int | None = None) -> str:
    buffer = io.StringIO()
    console = make_console()
    console.file = buffer
    if width is not None:
        console.width = width
    console.print(markup_or_table)
    return buffer.getvalue()


def test_safe_escapes_markup_controls_and_bidi() -> None:
    out = _render(f"[dim]{safe(HOSTILE)}[/]")
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out and "\x7f" not in out
    assert "\u202e" not in out
    assert "[bold red]x[/]" in out  # markup shown, not applied
    assert r"\x1b]8;;http://evil\x07" in out
    assert r"\x1b[2J" in out and r"\x9b31m" in out and r"\x7f" in out and r"\u202e" in out
    assert ":a: shop:a:b" in out  # no emoji substitution


def test_plain_keeps_newlines_only_when_asked() -> None:
    assert plain("a\nb\tc") == r"a\nb\tc"
    assert plain("a\nb\tc", multiline=True) == "a\nb\tc"
    assert plain("a\x00b\x1fc\x85d") == r"a\x00b\x1fc\x85d"


def test_a_default_console_would_have_substituted_emoji() -> None:
    # Guards the test above: Rich does replace :a: with an emoji unless told not to.
    buffer = io.StringIO()
    Console(file=buffer).print("shop:a:b")
    assert "shop:a:b" not in buffer.getvalue()
    assert "shop:a:b" in _render("shop:a:b")


@pytest.mark.parametrize("width", [80, 100])
def test_table_keeps_one_line_per_row_at_terminal_width(width: int) -> None:
    command = "DELETE FROM shop.events\n WHERE id IN (SELECT id FROM shop.events LIMIT 50000)\n" * 5
    columns = [
        Col("jobid", right=True),
        Col("name", flex=True, shrink=3),
        Col("schedule"),
        Col("command", flex=True),
        Col("database", flex=True, shrink=2),
        Col("username", flex=True, shrink=2),
        Col("active"),
    ]
    rows: list[list[str | Text]] = [
        [str(i), f"shop:job-{i}", "*/10 * * * *", command + HOSTILE, "postgres", "app_owner", Text("yes")]
        for i in range(6)
    ]
    out = _render(fit_table(columns, rows, title="6 jobs", width=width), width=width)
    lines = out.splitlines()
    assert len(lines) == 3 + 6  # title, header, rule, one line per job
    assert max(len(line) for line in lines) <= width
    for i in range(6):
        assert sum(f"shop:job-{i}" in line for line in lines) == 1
    assert "…" in out and "\x1b" not in out


def test_wide_table_prints_commands_whole() -> None:
    columns = [Col("jobid", right=True), Col("command", flex=True)]
    command = "SELECT " + ", ".join(f"col_{i}" for i in range(60))
    out = _render(fit_table(columns, [["1", command]], width=None, wide=True), width=1000)
    assert command in out


def test_dev_status_is_not_hard_wrapped_when_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    long_dir = "/var/lib/pgcron/" + "a-very-long-directory-name/" * 6 + "data"
    monkeypatch.delenv("COLUMNS", raising=False)
    runner = CliRunner()

    def fake_status(name: str) -> object:
        class State:
            running = True

            def to_json(self) -> dict[str, object]:
                return {"name": name, "running": True, "data_dir": long_dir, "mode": "background workers"}

        return State()

    from pgcron import dev as devserver

    monkeypatch.setattr(devserver, "status", fake_status)
    result = runner.invoke(dev_cli.dev, ["status", "--name", "x"])
    assert result.exit_code == 0, result.output
    assert long_dir in result.output  # one piece: no hard wrap at 80 columns
    assert any("background workers" in line for line in result.output.splitlines())


def test_doctor_prints_job_names_and_commands_inert(monkeypatch: pytest.MonkeyPatch) -> None:
    """Doctor's details name jobs, roles and commands that any role may have written."""
    import contextlib
    from collections.abc import Iterator

    from pgcron.cli import doctor as doctor_cli
    from pgcron.doctor import Check, Status

    from .conftest import HOSTILE, assert_inert

    class _Client:
        def doctor(self) -> list[Check]:
            return [Check(HOSTILE, Status.WARN, f"job {HOSTILE}", f"fix {HOSTILE}", items=(HOSTILE,))]

    @contextlib.contextmanager
    def fake_open(dsn: str) -> Iterator[_Client]:
        yield _Client()

    monkeypatch.setattr(doctor_cli, "open_client", fake_open)
    result = CliRunner().invoke(doctor_cli.doctor_cmd, ["--dsn", "postgresql://x/y"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert_inert(result.output)
