"""Root test configuration. Servers and fixtures come from the pgcron plugin (pgcron.testing.plugin,
loaded through its pytest11 entry point); this file adds pytest's own `pytester` and the reader of
runnable documentation examples."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture
def doc_example_tests() -> Callable[[str, str], list[Callable[[], object]]]:
    """``read(page, filename)``: the ``test_*`` functions of the Python block of ``docs/<page>`` whose first
    line is ``# <filename>`` (a test file a user can copy), defined by running the block."""

    def read(page: str, filename: str) -> list[Callable[[], object]]:
        pattern = rf"```python\n# {re.escape(filename)}\n(.*?)```"
        block = re.search(pattern, (DOCS / page).read_text(), re.DOTALL)
        assert block is not None, f"docs/{page} lost its {filename} example"
        namespace: dict[str, object] = {"__name__": filename.removesuffix(".py")}
        exec(compile(block.group(1), f"docs/{page}:{filename}", "exec"), namespace)  # noqa: S102 - our docs
        return [fn for name, fn in namespace.items() if name.startswith("test_") and callable(fn)]

    return read
