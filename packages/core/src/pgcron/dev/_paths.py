"""Where the dev server keeps its files: provisioned roots, instance state, locks.

Everything lives under one base directory, the user's cache dir (``~/.cache/pgcron`` on Linux) unless
``PGCRON_CACHE_DIR`` says otherwise — tests point it at a temporary directory to stay isolated.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import platformdirs

from pgcron.errors import DevServerError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def cache_dir() -> Path:
    """The base directory of all dev-server files."""
    override = os.environ.get("PGCRON_CACHE_DIR")
    if override:
        return Path(override).expanduser().resolve()
    return Path(platformdirs.user_cache_dir("pgcron", appauthor=False))


def roots_dir() -> Path:
    """Provisioned root file systems (one per PostgreSQL + pg_cron build)."""
    return cache_dir() / "roots"


def instances_dir() -> Path:
    return cache_dir() / "instances"


def locks_dir() -> Path:
    path = cache_dir() / "locks"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_name(name: str) -> str:
    """Instance names become directory names and appear in process lists: keep them plain."""
    if not _NAME.match(name):
        raise DevServerError(
            f"invalid dev-server name {name!r}: use 1-63 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit (e.g. --name libpq)",
            name=name,
        )
    return name


def instance_dir(name: str) -> Path:
    return instances_dir() / check_name(name)
