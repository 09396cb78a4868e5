"""Command checks: what pg_cron must never be given, parsed with PostgreSQL's own parser (pglast).

pg_cron sends a job's whole command as one query (libpq mode) or runs its statements in one
transaction inside a background worker (bgw mode); see facts §7. From that follow the checks here:

* ``COPY … TO STDOUT`` / ``FROM STDIN`` hangs the libpq scheduler for every job (facts §7.1, §8.9);
* a command with no statement never finishes in bgw mode (facts §3.1);
* explicit transaction control (``BEGIN``/``COMMIT``…) breaks bgw runs (``EndTransactionBlock:
  unexpected state BEGIN``, facts §7.2);
* statements that must run at top level (``VACUUM``, ``CREATE INDEX CONCURRENTLY``…) fail when they share
  a command with other statements, in both modes.

``analyze_command`` only describes a command; ``check_command`` refuses the unsafe ones. The pushdown
code uses ``CommandInfo.requires_top_level`` to choose how to run a command.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pglast
from pglast import ast, enums

from pgcron.errors import UnsupportedCommand

__all__ = ["CommandInfo", "StatementInfo", "analyze_command", "check_command"]

_TX_KINDS = {
    enums.TransactionStmtKind.TRANS_STMT_BEGIN: "BEGIN",
    enums.TransactionStmtKind.TRANS_STMT_START: "START TRANSACTION",
    enums.TransactionStmtKind.TRANS_STMT_COMMIT: "COMMIT",
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK: "ROLLBACK",
    enums.TransactionStmtKind.TRANS_STMT_SAVEPOINT: "SAVEPOINT",
    enums.TransactionStmtKind.TRANS_STMT_RELEASE: "RELEASE",
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK_TO: "ROLLBACK TO",
    enums.TransactionStmtKind.TRANS_STMT_PREPARE: "PREPARE TRANSACTION",
    enums.TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED: "COMMIT PREPARED",
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED: "ROLLBACK PREPARED",
}


@dataclass(frozen=True, slots=True)
class StatementInfo:
    """One statement of a command."""

    text: str
    kind: str
    requires_top_level: bool
    is_transaction_control: bool
    is_copy_to_client: bool


@dataclass(frozen=True, slots=True)
class CommandInfo:
    """What a command contains, as PostgreSQL parses it."""

    text: str
    statements: tuple[StatementInfo, ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(s.kind for s in self.statements)

    @property
    def is_empty(self) -> bool:
        """No statement at all (empty, blank or comments only)."""
        return not self.statements

    @property
    def is_single_statement(self) -> bool:
        return len(self.statements) == 1

    @property
    def requires_top_level(self) -> bool:
        """Some statement cannot run inside a transaction block or a function."""
        return any(s.requires_top_level for s in self.statements)

    @property
    def has_transaction_control(self) -> bool:
        return any(s.is_transaction_control for s in self.statements)

    @property
    def has_copy_to_client(self) -> bool:
        return any(s.is_copy_to_client for s in self.statements)


def _classify(node: ast.Node) -> tuple[str, bool]:
    """(kind, requires_top_level) of one parsed statement."""
    if isinstance(node, ast.VacuumStmt):
        # ANALYZE alone may run in a transaction block; VACUUM may not.
        return ("VACUUM", True) if node.is_vacuumcmd else ("ANALYZE", False)
    if isinstance(node, ast.IndexStmt):
        return ("CREATE INDEX CONCURRENTLY", True) if node.concurrent else ("CREATE INDEX", False)
    if isinstance(node, ast.ReindexStmt):
        concurrently = any(
            isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in (node.params or ())
        )
        # REINDEX SYSTEM/DATABASE also refuse transaction blocks.
        whole = node.kind in (
            enums.ReindexObjectType.REINDEX_OBJECT_SYSTEM,
            enums.ReindexObjectType.REINDEX_OBJECT_DATABASE,
        )
        return ("REINDEX CONCURRENTLY" if concurrently else "REINDEX", concurrently or whole)
    if isinstance(node, ast.DropStmt) and node.concurrent:
        return ("DROP INDEX CONCURRENTLY", True)
    if isinstance(node, ast.CreatedbStmt):
        return ("CREATE DATABASE", True)
    if isinstance(node, ast.DropdbStmt):
        return ("DROP DATABASE", True)
    if isinstance(node, ast.AlterSystemStmt):
        return ("ALTER SYSTEM", True)
    if isinstance(node, ast.CreateTableSpaceStmt):
        return ("CREATE TABLESPACE", True)
    if isinstance(node, ast.DropTableSpaceStmt):
        return ("DROP TABLESPACE", True)
    if isinstance(node, ast.ClusterStmt):
        # CLUSTER without a table walks every table, one transaction each.
        return ("CLUSTER", node.relation is None)
    if isinstance(node, ast.CallStmt):
        # A procedure may COMMIT/ROLLBACK, which only works when CALL is the top-level statement.
        return ("CALL", True)
    if isinstance(node, ast.TransactionStmt):
        kind = node.kind
        return (_TX_KINDS.get(kind, "TRANSACTION") if kind is not None else "TRANSACTION", True)
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            if (
                isinstance(cmd, ast.AlterTableCmd)
                and isinstance(cmd.def_, ast.PartitionCmd)
                and cmd.def_.concurrent
            ):
                return ("DETACH PARTITION CONCURRENTLY", True)
        return ("ALTER TABLE", False)
    if isinstance(node, ast.CreateSubscriptionStmt):
        return ("CREATE SUBSCRIPTION", True)
    if isinstance(node, ast.DropSubscriptionStmt):
        return ("DROP SUBSCRIPTION", True)
    if isinstance(node, ast.CopyStmt):
        return ("COPY", False)
    name = type(node).__name__
    return (_KIND_NAMES.get(name, name.removesuffix("Stmt").upper()), False)


_KIND_NAMES = {
    "SelectStmt": "SELECT",
    "InsertStmt": "INSERT",
    "UpdateStmt": "UPDATE",
    "DeleteStmt": "DELETE",
    "MergeStmt": "MERGE",
    "DoStmt": "DO",
    "RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW",
    "TruncateStmt": "TRUNCATE",
    "VariableSetStmt": "SET",
    "CreateStmt": "CREATE TABLE",
    "CreateTableAsStmt": "CREATE TABLE AS",
    "DropStmt": "DROP",
    "NotifyStmt": "NOTIFY",
    "LockStmt": "LOCK",
    "CheckPointStmt": "CHECKPOINT",
}


def _is_copy_to_client(node: ast.Node) -> bool:
    """COPY with no file and no program talks to the client: STDOUT or STDIN."""
    return isinstance(node, ast.CopyStmt) and node.filename is None and not node.is_program


@functools.lru_cache(maxsize=4096)
def analyze_command(text: str) -> CommandInfo:
    """Parse ``text`` and describe its statements. A command PostgreSQL cannot parse is refused."""
    try:
        raw = pglast.parse_sql(text)
    except pglast.parser.ParseError as exc:
        raise UnsupportedCommand(
            f"the command is not valid SQL ({exc}); fix the statement before scheduling it",
            command_error=str(exc),
        ) from exc
    statements: list[StatementInfo] = []
    for item in raw:
        if item.stmt is None:
            continue
        start = item.stmt_location or 0
        end = start + item.stmt_len if item.stmt_len else len(text)
        kind, top_level = _classify(item.stmt)
        statements.append(
            StatementInfo(
                text=text[start:end].strip(),
                kind=kind,
                requires_top_level=top_level,
                is_transaction_control=isinstance(item.stmt, ast.TransactionStmt),
                is_copy_to_client=_is_copy_to_client(item.stmt),
            )
        )
    return CommandInfo(text=text, statements=tuple(statements))


def check_command(text: str, *, execution_mode: str | None = None) -> CommandInfo:
    """Refuse what pg_cron cannot run safely; return the analysis otherwise.

    ``execution_mode`` is ``"bgw"``, ``"libpq"`` or ``None`` (unknown: the checks of both modes apply).
    """
    info = analyze_command(text)
    if info.is_empty:
        raise UnsupportedCommand(
            "the command has no SQL statement (it is empty or only comments); in background-worker mode "
            "pg_cron never finishes such a run. Give the statement(s) to run.",
        )
    if info.has_copy_to_client:
        raise UnsupportedCommand(
            "COPY … TO STDOUT / FROM STDIN talks to a client that a pg_cron job does not have: in libpq "
            "mode it hangs the whole scheduler until the server is restarted. Write to or read from a "
            "server-side file instead (COPY … TO '/path/file'), or use INSERT … SELECT.",
        )
    if info.has_transaction_control and execution_mode != "libpq":
        kinds = ", ".join(s.kind for s in info.statements if s.is_transaction_control)
        raise UnsupportedCommand(
            f"the command contains transaction control ({kinds}); in background-worker mode pg_cron runs a "
            "command as one transaction and explicit BEGIN/COMMIT make the run fail. Remove them (the "
            "command is already atomic), or put the logic in a procedure and schedule CALL proc().",
        )
    if not info.is_single_statement:
        # CALL is only top-level for procedures that COMMIT; inside a larger command it still runs.
        top_level = [
            s.kind
            for s in info.statements
            if s.requires_top_level and not s.is_transaction_control and s.kind != "CALL"
        ]
        if top_level:
            raise UnsupportedCommand(
                f"{', '.join(top_level)} cannot run inside a transaction block, and pg_cron runs a "
                "multi-statement command as one transaction. Schedule each such statement as its own job.",
            )
    return info
