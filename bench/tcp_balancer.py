"""A loopback round-robin TCP balancer for the fleet bench: each new connection goes to the
next backend in turn and its bytes pass through untouched.

TLS is not terminated here, so mutual TLS still ends at the hub replicas (the kiosk's
certificate reaches the hub that answers it), as with a layer-4 balancer in front of a
province's hubs. Connections, not requests, are balanced: a kiosk keeps its connection
(``provisioning.agent.hub_link``), so the fleet spreads over the replicas by connection,
and a new connection after a replica's restart lands on whichever is next.

    python bench/tcp_balancer.py LISTEN_PORT BACKEND_PORT [BACKEND_PORT ...]

With ``SOHOA_BENCH_GC_OUT`` set, its garbage collector's pauses are written there as JSON
when it stops (a pause holds every connection it relays).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
from pathlib import Path

from gc_pauses import record_pauses  # this script's folder is first on sys.path


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve(listen_port: int, backends: list[int]) -> None:
    turn = itertools.cycle(backends)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = next(turn)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        with contextlib.suppress(asyncio.CancelledError):  # stopping: connections just end
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, backlog=4096)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    pauses = record_pauses()
    try:
        asyncio.run(serve(int(argv[0]), [int(p) for p in argv[1:]]))
    finally:
        if out := os.environ.get("SOHOA_BENCH_GC_OUT"):
            Path(out).write_text(json.dumps(pauses))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
