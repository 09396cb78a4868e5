"""Where a shared connection may be used: the asyncio event loop that opened it, or (sync) the whole process.

The async source (``_shared_async.py``) calls ``async_scope``; its generated twin calls ``sync_scope``.
"""

from __future__ import annotations

import asyncio

__all__ = ["async_scope", "sync_scope"]


def async_scope() -> int:
    """The running event loop: an asyncio connection must not be used from another loop."""
    return id(asyncio.get_running_loop())


def sync_scope() -> int:
    """Blocking connections may be used from any thread (a lock serializes them)."""
    return 0
