"""docs/managed-postgres.md's support table is generated (tools/support_table.py) from the results of a run
of tests/managed. These checks need no database: every test a row names exists, a cell shows its words only
when the row's tests passed there, and the page holds the table of a run that backed every cell."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from tools import support_table

MANAGED = Path(__file__).resolve().parent / "managed"


def _all_passed(spec: dict[str, Any]) -> support_table.Results:
    return {t: dict.fromkeys(spec["flavours"], "passed") for row in spec["row"] for t in row["tests"]}


def test_every_test_a_row_names_exists() -> None:
    spec = support_table.load_spec()
    defined = {
        f"{path.name}::{node.name}"
        for path in MANAGED.glob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    }
    named = {test for row in spec["row"] for test in row["tests"]}
    assert named - defined == set()


def test_a_cell_shows_its_words_only_when_its_tests_passed_there() -> None:
    spec = support_table.load_spec()
    row = spec["row"][0]
    first, *_ = row["tests"]
    results = _all_passed(spec)
    assert support_table.cell_outcome(row, "rds", results) == "passed"
    results[first]["rds"] = "failed"
    assert support_table.cell_outcome(row, "rds", results) == "failed"
    assert support_table.FAILED in support_table.render(spec, results)
    for test in row["tests"]:
        results[test]["neon"] = "skipped"
    assert support_table.cell_outcome(row, "neon", results) == "untested"
    assert any(gap.endswith("on neon: untested") for gap in support_table.gaps(spec, results))
    assert support_table.cell_outcome(row, "azure", {}) == "untested"


def test_the_page_holds_the_table_of_a_run_that_backed_every_cell() -> None:
    spec = support_table.load_spec()
    page = support_table.page_table(support_table.DOC.read_text())
    assert support_table.UNTESTED not in page and support_table.FAILED not in page
    assert page == support_table.render(spec, _all_passed(spec)), (
        "docs/managed-postgres.md's support table is stale: run `hatch run test tests/managed` and then "
        "`hatch run python tools/support_table.py --write`"
    )
