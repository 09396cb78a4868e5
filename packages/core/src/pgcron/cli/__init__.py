"""The `pgcron` command line.

Each command family lives in its own module with a ``register(group)`` function; this module only
assembles them. Exit codes: 0 success, 1 a failed run or findings, 2 usage or connection errors.
"""

from __future__ import annotations

import importlib

import click

# Command-family modules, each exposing register(group: click.Group) -> None.
_FAMILIES = ("dev", "schedule", "jobs", "schema", "run", "plan", "history", "audit", "doctor", "lane")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pgcron")
def main() -> None:
    """pgcron: run data-local work inside PostgreSQL through pg_cron."""


for _name in _FAMILIES:
    importlib.import_module(f"pgcron.cli.{_name}").register(main)
