"""Dagster integration for pgcron: pushdown assets and pg_cron jobs observed as assets."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
