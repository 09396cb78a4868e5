"""Which pg_cron an installation ships, read from its extension control file."""

from __future__ import annotations

import re
from pathlib import Path

_DEFAULT = re.compile(r"^\s*default_version\s*=\s*'([^']+)'", re.MULTILINE)


def control_version(control: Path) -> str | None:
    """``default_version`` of ``pg_cron.control`` (``1.6``, ``1.4-1``…), or None if absent."""
    try:
        match = _DEFAULT.search(control.read_text(encoding="utf-8"))
    except OSError:
        return None
    return match.group(1) if match else None


def version_tuple(version: str) -> tuple[int, int]:
    """``1.4-1`` → (1, 4); unknown → (0, 0)."""
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)
