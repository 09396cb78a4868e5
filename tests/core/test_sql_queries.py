"""The named-query loader: one run-facts projection shared by every reader of cron.job_run_details."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from pgcron.sql import _extended as extended
from pgcron.sql import get_query, load_queries, parse_queries

READERS = ("list_runs", "runfeed_after", "audit_runs")


def _projection(text: str) -> str:
    """The text up to and including the FROM of the run rows (what the readers must share)."""
    match = re.search(r"^\s*FROM cron\.job_run_details d\s*$", text, re.MULTILINE)
    assert match is not None, text
    return text[: match.end()]


def test_every_run_reader_uses_the_one_projection() -> None:
    facts = get_query("run_facts")
    for name in READERS:
        text = get_query(name)
        assert text.startswith(facts), name
        assert _projection(text) == _projection(facts), name
    # the projection itself is written once in the package's SQL files
    folder = resources.files("pgcron.sql").joinpath("queries")
    sources = [e.read_text(encoding="utf-8") for e in folder.iterdir() if e.name.endswith(".sql")]
    assert sum(text.count("AS pid_alive") for text in sources) == 1
    expanded = [n for n, body in load_queries().items() if "AS pid_alive" in body]
    assert sorted(expanded) == sorted(("run_facts", *READERS))


def test_extends_composes_the_base_and_refuses_unknown_or_circular_bases() -> None:
    queries = parse_queries(
        "-- name: base\nSELECT 1 AS x\n\n-- name: child\n-- extends: base\nWHERE true;\n"
        "-- name: loop_a\n-- extends: loop_b\nWHERE a;\n-- name: loop_b\n-- extends: loop_a\nWHERE b;\n"
        "-- name: orphan\n-- extends: missing\nWHERE c;\n"
    )
    assert extended("child", queries) == "SELECT 1 AS x\n-- extends: base\nWHERE true;"
    with pytest.raises(ValueError, match="not defined"):
        extended("orphan", queries)
    with pytest.raises(ValueError, match="extends itself"):
        extended("loop_a", queries)
