"""Unit tests of the command checks (pgcron.commands), parsed by PostgreSQL's parser through pglast."""

from __future__ import annotations

import pytest
from pgcron.commands import analyze_command, check_command
from pgcron.errors import UnsupportedCommand


@pytest.mark.parametrize(
    "command",
    [
        "COPY t TO STDOUT",
        "copy (select 1) to stdout with (format csv)",
        "COPY t FROM STDIN",
        "SELECT 1; COPY t TO STDOUT",
    ],
)
def test_copy_to_or_from_the_client_is_refused_in_every_mode(command: str) -> None:
    for mode in ("bgw", "libpq", None):
        with pytest.raises(UnsupportedCommand, match="hangs the whole scheduler") as info:
            check_command(command, execution_mode=mode)
        assert "server-side file" in info.value.message  # the message names the fix


@pytest.mark.parametrize(
    "command", ["COPY t TO '/tmp/t.csv'", "COPY t FROM '/tmp/t.csv'", "COPY t TO PROGRAM 'gzip > /tmp/t.gz'"]
)
def test_server_side_copy_is_allowed(command: str) -> None:
    assert check_command(command, execution_mode="libpq").kinds == ("COPY",)


def test_a_string_mentioning_copy_to_stdout_is_not_a_copy() -> None:
    # A regex would refuse this; the parser sees a SELECT of a string literal.
    info = check_command("SELECT 'COPY t TO STDOUT'", execution_mode="bgw")
    assert info.kinds == ("SELECT",)


@pytest.mark.parametrize("command", ["", "   ", "-- nothing", "/* nothing */", ";", "-- a\n-- b\n"])
def test_empty_or_comment_only_commands_are_refused(command: str) -> None:
    with pytest.raises(UnsupportedCommand, match="no SQL statement"):
        check_command(command, execution_mode="libpq")


def test_transaction_control_is_refused_in_bgw_and_unknown_mode_but_allowed_in_libpq() -> None:
    command = "BEGIN; INSERT INTO t VALUES (1); COMMIT;"
    for mode in ("bgw", None):
        with pytest.raises(UnsupportedCommand, match="transaction control") as info:
            check_command(command, execution_mode=mode)
        assert "BEGIN" in info.value.message and "COMMIT" in info.value.message
    assert check_command(command, execution_mode="libpq").has_transaction_control


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ("VACUUM t", "VACUUM"),
        ("VACUUM (ANALYZE) t", "VACUUM"),
        ("CREATE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX CONCURRENTLY"),
        ("REINDEX INDEX CONCURRENTLY i", "REINDEX CONCURRENTLY"),
        ("REINDEX DATABASE postgres", "REINDEX"),
        ("DROP INDEX CONCURRENTLY i", "DROP INDEX CONCURRENTLY"),
        ("CREATE DATABASE d", "CREATE DATABASE"),
        ("DROP DATABASE d", "DROP DATABASE"),
        ("ALTER SYSTEM SET work_mem = '8MB'", "ALTER SYSTEM"),
        ("CALL p()", "CALL"),
        ("ALTER TABLE t DETACH PARTITION p CONCURRENTLY", "DETACH PARTITION CONCURRENTLY"),
        ("CLUSTER", "CLUSTER"),
        ("COMMIT", "COMMIT"),
    ],
)
def test_top_level_statements_are_classified(command: str, kind: str) -> None:
    info = analyze_command(command)
    assert info.kinds == (kind,)
    assert info.requires_top_level
    assert info.is_single_statement


@pytest.mark.parametrize(
    "command",
    [
        "SELECT 1",
        "ANALYZE t",
        "CREATE INDEX i ON t (a)",
        "REINDEX INDEX i",
        "CLUSTER t USING i",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY mv",
        "DELETE FROM t WHERE ts < now() - interval '7 days'",
        "ALTER TABLE t ADD COLUMN c int",
    ],
)
def test_ordinary_statements_do_not_need_top_level(command: str) -> None:
    assert not analyze_command(command).requires_top_level


def test_top_level_statement_inside_a_multi_statement_command_is_refused_with_the_fix() -> None:
    with pytest.raises(UnsupportedCommand, match="VACUUM cannot run inside a transaction block") as info:
        check_command("DELETE FROM t; VACUUM t", execution_mode="libpq")
    assert "own job" in info.value.message


def test_call_may_share_a_command_with_other_statements() -> None:
    info = check_command("SELECT 1; CALL p()", execution_mode="bgw")
    assert info.kinds == ("SELECT", "CALL")
    assert not info.is_single_statement


def test_statements_keep_their_source_text() -> None:
    info = analyze_command("INSERT INTO t VALUES ('é;x'); SELECT 2 ;  ")
    assert [s.text for s in info.statements] == ["INSERT INTO t VALUES ('é;x')", "SELECT 2"]
    assert info.kinds == ("INSERT", "SELECT")


def test_unparsable_command_is_refused_with_the_parser_message() -> None:
    with pytest.raises(UnsupportedCommand, match="not valid SQL") as info:
        check_command("SELEC 1")
    assert "SELEC" in info.value.message
