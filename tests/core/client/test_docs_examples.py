"""The Python examples of docs/client.md run, in order, against a real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BLOCK_RE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)

pytestmark = pytest.mark.integration


def test_client_page_examples_run(pgcron_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGCRON_DSN", pgcron_dsn)
    blocks = BLOCK_RE.findall((ROOT / "docs" / "client.md").read_text())
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "docs_example"}
    for block in blocks:
        exec(compile(block, "docs/client.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert namespace["caps"].extversion  # type: ignore[attr-defined]
    assert isinstance(namespace["jobs"], list)


def test_every_public_name_is_documented_on_the_api_page() -> None:
    import pgcron

    page = (ROOT / "docs" / "api.md").read_text()
    missing = [name for name in pgcron.__all__ if f"`{name}`" not in page]
    assert not missing, f"docs/api.md does not document: {missing}"
