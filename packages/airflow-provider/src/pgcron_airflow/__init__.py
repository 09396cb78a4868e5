"""Apache Airflow provider for pgcron: push tasks down into PostgreSQL through pg_cron."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
