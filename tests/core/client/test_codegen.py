"""The sync client and seam are generated from the async sources; they must be up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_generated_sync_twins_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "async_to_sync.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (
        "client.py / _db.py are stale: run `python tools/async_to_sync.py`\n" + result.stdout + result.stderr
    )


def test_generated_client_has_the_same_public_methods_as_the_async_one() -> None:
    from pgcron.client import Client
    from pgcron.client_async import AsyncClient

    def public(cls: type) -> set[str]:
        return {n for n in vars(cls) if not n.startswith("_")}

    assert public(Client) == public(AsyncClient)
    assert {
        "connect",
        "capabilities",
        "jobs",
        "job",
        "schedule",
        "alter",
        "unschedule",
        "runs",
        "run",
        "submit",
        "wait",
        "run_now",
        "cancel",
        "attach",
        "close",
    } <= public(Client)
    assert hasattr(Client, "__enter__") and hasattr(AsyncClient, "__aenter__")


def test_generator_converts_async_constructs(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import async_to_sync
    finally:
        sys.path.pop(0)
    source = (
        '"""Uses AsyncClient."""\n'
        "from contextlib import asynccontextmanager\n"
        "class AsyncClient:\n"
        "    async def __aenter__(self):\n"
        "        async with self.x() as y:\n"
        "            async for z in y:\n"
        "                await z.aclose()\n"
    )
    out = async_to_sync.convert(source, source_name="x.py", target=tmp_path / "x.py")
    body = out.split('"""Uses Client."""', 1)[1]
    assert "async" not in body
    assert "await" not in out
    assert "class Client:" in out and "def __enter__" in out and "z.close()" in out
    assert "contextmanager" in out and '"""Uses Client."""' in out
