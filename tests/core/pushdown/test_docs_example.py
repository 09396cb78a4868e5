"""The Python example of docs/pushdown.md runs as written (against both execution modes)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import psycopg
import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "pushdown.md"

pytestmark = pytest.mark.integration


def test_the_docs_example_runs(engine_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert block is not None, "docs/pushdown.md lost its Python example"
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS demo_orders (amount numeric)")
        conn.execute("CREATE TABLE IF NOT EXISTS demo_daily_totals (day date, total numeric)")
        conn.execute("INSERT INTO demo_orders VALUES (10), (32)")
    exec(block.group(1), {"dsn": engine_dsn, "today": secrets.token_hex(4)})  # noqa: S102 - our own docs
    assert capsys.readouterr().out.startswith("RunStatus.SUCCEEDED 1 ")
