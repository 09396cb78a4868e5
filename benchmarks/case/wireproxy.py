"""A counting TCP proxy on loopback: how many bytes and round trips cross the client/server wire.

The benchmark points every database client (the pgcron client, the app-tier service, Airflow's hooks) at this
proxy instead of at PostgreSQL, so the figures are the bytes that really crossed the socket — protocol
framing, column headers and all — not an estimate from row sizes. It runs as its own process so its CPU time
is never charged to the client being measured.

Run it as ``python -m case.wireproxy LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT``. It prints ``ready`` once it
listens; then every line ``snap`` on stdin gets one JSON line back with the running totals:
``{"client_to_server": …, "server_to_client": …, "round_trips": …, "connections": …}``. A *round trip* is
counted each time, on one connection, the server sends after the client last sent: a request followed by its
answer, however many TCP segments either side used. Server-initiated traffic (NOTIFY) after a server
message is not counted as a new round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import asdict, dataclass

CHUNK = 256 * 1024


@dataclass
class Totals:
    """Running totals over all connections since the proxy started."""

    client_to_server: int = 0
    server_to_client: int = 0
    round_trips: int = 0
    connections: int = 0


class _Connection:
    """Direction state of one proxied connection, used to count request/response turns."""

    def __init__(self, totals: Totals) -> None:
        self.totals = totals
        self.client_spoke_last = False

    def from_client(self, n: int) -> None:
        self.totals.client_to_server += n
        self.client_spoke_last = True

    def from_server(self, n: int) -> None:
        self.totals.server_to_client += n
        if self.client_spoke_last:
            self.totals.round_trips += 1
            self.client_spoke_last = False


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: object) -> None:
    try:
        while data := await reader.read(CHUNK):
            count(len(data))  # type: ignore[operator]
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def _serve(listen_port: int, upstream_host: str, upstream_port: int) -> None:
    totals = Totals()

    async def handle(c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        try:
            s_reader, s_writer = await asyncio.open_connection(upstream_host, upstream_port)
        except OSError:
            c_writer.close()
            return
        totals.connections += 1
        conn = _Connection(totals)
        await asyncio.gather(
            _pump(c_reader, s_writer, conn.from_client),
            _pump(s_reader, c_writer, conn.from_server),
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    print("ready", flush=True)
    async with server:
        while line := await stdin.readline():
            if line.strip() == b"snap":
                print(json.dumps(asdict(totals)), flush=True)
            elif line.strip() == b"quit":
                break


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m case.wireproxy LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT", file=sys.stderr)
        return 2
    asyncio.run(_serve(int(argv[0]), argv[1], int(argv[2])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
