"""docs/security.md and tests/security/ stay matched: every test is a row of the threat model, and every
test a row names exists (no database needed)."""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).parent
DOC = HERE.parent.parent / "docs" / "security.md"


def _tests() -> set[str]:
    found = set()
    for path in HERE.glob("test_*.py"):
        for name in re.findall(r"^def (test_\w+)", path.read_text(encoding="utf-8"), re.MULTILINE):
            found.add(f"{path.name}::{name}")
    return found


def test_every_security_test_is_a_row_of_the_threat_model() -> None:
    named = set(re.findall(r"`(test_\w+\.py::test_\w+)`", DOC.read_text(encoding="utf-8")))
    this = {f"{Path(__file__).name}::{n}" for n in ("test_every_security_test_is_a_row_of_the_threat_model",)}
    assert _tests() - this - named == set(), "tests missing from docs/security.md"
    assert named - _tests() == set(), "docs/security.md names tests that do not exist"
