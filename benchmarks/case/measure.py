"""Measurement plumbing: helper processes (wire proxy, app-tier service), CPU clocks and sample statistics.

A *sample* is one run of one job by one method, with wall time, the wire bytes in both directions and the
round trips seen by the proxy, the client CPU (the processes on the client side of the wire only — never
the proxy, never PostgreSQL), and the rows. :func:`summarize` turns repeated samples into median and spread.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent.parent
_TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of another process, from /proc (clock-tick resolution, 10 ms)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def self_cpu() -> float:
    """User + system CPU seconds of this process, all threads."""
    return time.process_time()


class Helper:
    """A helper subprocess of this package (``python -m case.<module> …``) that prints ``ready`` when up."""

    def __init__(self, module: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"case.{module}", *args],
            cwd=BENCH_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(BENCH_DIR)},
        )
        line = self._stdout.readline().strip()
        if line != "ready":
            self.stop()
            raise RuntimeError(f"helper case.{module} did not start (said {line!r})")

    @property
    def _stdout(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class WireProxy(Helper):
    """A :mod:`case.wireproxy` process in front of the server; ``dsn`` points clients through it."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.port = free_port()
        super().__init__("wireproxy", str(self.port), upstream_host, str(upstream_port))

    def snap(self) -> dict[str, int]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("snap\n")
        self.proc.stdin.flush()
        totals: dict[str, int] = json.loads(self._stdout.readline())
        return totals


@dataclass
class Sample:
    """One measured run."""

    wall_s: float
    client_to_server_bytes: int
    server_to_client_bytes: int
    round_trips: int
    client_cpu_s: float
    dataset_rows: int
    affected_rows: int | None

    @property
    def wire_bytes(self) -> int:
        return self.client_to_server_bytes + self.server_to_client_bytes

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 4),
            "client_to_server_bytes": self.client_to_server_bytes,
            "server_to_client_bytes": self.server_to_client_bytes,
            "wire_bytes": self.wire_bytes,
            "round_trips": self.round_trips,
            "client_cpu_s": round(self.client_cpu_s, 3),
            "dataset_rows": self.dataset_rows,
            "affected_rows": self.affected_rows,
            "rows_per_s": round(self.dataset_rows / self.wall_s) if self.wall_s > 0 else None,
        }


def wire_delta(before: dict[str, int], after: dict[str, int]) -> tuple[int, int, int]:
    return (
        after["client_to_server"] - before["client_to_server"],
        after["server_to_client"] - before["server_to_client"],
        after["round_trips"] - before["round_trips"],
    )


METRICS = ("wall_s", "server_s", "wire_bytes", "round_trips", "client_cpu_s", "rows_per_s")


def summarize(samples: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Median, min and max of each metric, and the spread as (max − min) / median."""
    out: dict[str, dict[str, float]] = {}
    for metric in METRICS:
        values = [s[metric] for s in samples if s.get(metric) is not None]
        if not values:
            continue
        median = statistics.median(values)
        out[metric] = {
            "median": median,
            "min": min(values),
            "max": max(values),
            "spread": (max(values) - min(values)) / median if median else 0.0,
        }
    return out
