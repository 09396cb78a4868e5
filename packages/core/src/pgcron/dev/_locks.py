"""Inter-process file locks, so parallel `pgcron dev` calls and test sessions do not collide."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pgcron.dev._paths import locks_dir
from pgcron.errors import DevServerError

logger = logging.getLogger(__name__)


@contextmanager
def file_lock(name: str, timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<cache>/locks/<name>.lock``; waits up to ``timeout`` seconds.

    flock is released by the kernel when the process dies, so a crashed holder never wedges others.
    """
    path = locks_dir() / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    logger.info("waiting for lock %s (another pgcron process holds it)", path)
                    waited = True
                if time.monotonic() > deadline:
                    raise DevServerError(
                        f"timed out after {timeout:.0f} s waiting for {path}: another pgcron process "
                        "holds it; wait for it to finish or end it",
                        lock=str(path),
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)
