"""docs/airflow.md shows code that runs: each ``<!-- snippet: FILE REGION -->`` block equals that region of
an example DAG (the DAGs the acceptance tests execute)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "airflow.md"
SNIPPET = re.compile(r"<!-- snippet: (\S+) (\w+) -->\n```python\n(.*?)\n```", re.DOTALL)


def region(path: Path, name: str) -> str:
    text = path.read_text()
    match = re.search(rf"# \[START {name}\]\n(.*?)\n\s*# \[END {name}\]", text, re.DOTALL)
    assert match, f"{path} has no region {name}"
    return textwrap.dedent(match.group(1))


def test_every_snippet_equals_its_example_region() -> None:
    snippets = SNIPPET.findall(DOC.read_text())
    assert len(snippets) >= 7
    for file, name, code in snippets:
        assert code == region(ROOT / file, name), f"docs/airflow.md snippet {name} differs from {file}"


def test_every_example_region_is_shown_in_the_docs() -> None:
    shown = {name for _, name, _ in SNIPPET.findall(DOC.read_text())}
    for path in (ROOT / "examples" / "airflow").glob("*.py"):
        for name in re.findall(r"# \[START (\w+)\]", path.read_text()):
            assert name in shown, f"{path.name} region {name} is not in docs/airflow.md"
