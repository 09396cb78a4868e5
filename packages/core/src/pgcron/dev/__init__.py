"""Local PostgreSQL + pg_cron servers for development and tests (`pgcron dev`).

``up()`` gets a server through a chain of routes (an existing DSN, Docker, local binaries, a
provisioned Debian-trixie root); ``down()`` stops only what ``up()`` started. See docs/dev-server.md.
"""

from __future__ import annotations

from pgcron.dev._server import (
    FLAVOURS,
    Flavour,
    ServerState,
    down,
    list_states,
    load_state,
    make_dsn,
    route_report,
    status,
    up,
)

__all__ = [
    "FLAVOURS",
    "Flavour",
    "ServerState",
    "down",
    "list_states",
    "load_state",
    "make_dsn",
    "route_report",
    "status",
    "up",
]
