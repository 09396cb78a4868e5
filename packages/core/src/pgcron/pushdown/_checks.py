"""Pre-checks for a pushdown command: refuse what pg_cron cannot run safely, and say whether the command must
run at top level (outside a procedure), which selects the one-shot execution path.

The rules themselves belong to ``pgcron.commands``; this module only adapts them to pushdown and adds the
one pushdown-specific rule: a statement that must run at top level has to be the only statement.
"""

from __future__ import annotations

from typing import Any

import pglast

from pgcron.errors import UnsupportedCommand

__all__ = ["analyze"]

# Statements PostgreSQL refuses inside a function, procedure or transaction block.
_TOP_LEVEL_NODES = {
    "VacuumStmt",
    "CreatedbStmt",
    "DropdbStmt",
    "AlterSystemStmt",
    "CreateTableSpaceStmt",
    "DropTableSpaceStmt",
    "CreateSubscriptionStmt",
    "DropSubscriptionStmt",
}


def _requires_top_level(stmt: Any) -> bool:
    name = type(stmt).__name__
    if name in _TOP_LEVEL_NODES:
        return True
    if name == "IndexStmt" and getattr(stmt, "concurrent", False):
        return True
    if name == "ReindexStmt":
        params = getattr(stmt, "params", None) or ()
        return any(getattr(p, "defname", None) == "concurrently" for p in params)
    if name == "DropStmt" and getattr(stmt, "concurrent", False):
        return True
    return False


def analyze(sql: str) -> bool:
    """Validate ``sql`` for pushdown; True when it must run at top level. Raises ``UnsupportedCommand``."""
    try:
        from pgcron import commands  # the engine's pre-checks (COPY to client, empty, tx control, ...)
    except ImportError:  # pragma: no cover - only while the engine module is absent
        commands = None  # type: ignore[assignment]
    if commands is not None and hasattr(commands, "check_command"):
        commands.check_command(sql)

    try:
        stmts = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        raise UnsupportedCommand(
            f"the command is not valid SQL: {exc}. Fix the syntax and submit again."
        ) from exc
    if not stmts:
        raise UnsupportedCommand(
            "the command is empty (only whitespace or comments); pg_cron would leave such a run "
            "'running' forever in background-worker mode. Submit at least one statement."
        )
    nodes = [raw.stmt for raw in stmts]
    for node in nodes:
        name = type(node).__name__
        if name == "TransactionStmt":
            raise UnsupportedCommand(
                "the command contains transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT); a pushdown run is "
                "already one transaction. Remove the transaction statements."
            )
        if name == "CopyStmt" and getattr(node, "filename", None) is None:
            raise UnsupportedCommand(
                "COPY to or from the client (STDOUT/STDIN) hangs pg_cron's scheduler. Copy to or from a server "
                "file, or use INSERT ... SELECT."
            )
    top = [n for n in nodes if _requires_top_level(n)]
    if top and len(nodes) > 1:
        raise UnsupportedCommand(
            f"{type(top[0]).__name__.removesuffix('Stmt').upper()} must run at top level, so it has to be the "
            "only statement of the command. Submit it on its own."
        )
    return bool(top)
