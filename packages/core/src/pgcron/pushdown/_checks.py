"""Pre-checks for a pushdown command, on top of the engine's (``pgcron.commands``).

Pushdown is stricter than a plain job in one way: the procedure path runs the command through EXECUTE inside
``pgcron.execute_submission``, where transaction control is impossible in either execution mode, so it is
refused even where libpq mode would accept it in a plain job. The answer also says whether the command must
run at top level (VACUUM, CREATE INDEX CONCURRENTLY, ...), which selects the one-shot path.
"""

from __future__ import annotations

from pgcron.commands import check_command
from pgcron.errors import UnsupportedCommand

__all__ = ["analyze"]


def analyze(sql: str) -> bool:
    """Validate ``sql`` for pushdown; True when it must run at top level. Raises ``UnsupportedCommand``."""
    info = check_command(sql)  # both modes' rules: empty, COPY to the client, transaction control, ...
    if info.has_transaction_control:
        raise UnsupportedCommand(
            "the command contains transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT); a pushdown run is "
            "already one transaction. Remove the transaction statements."
        )
    return info.requires_top_level
