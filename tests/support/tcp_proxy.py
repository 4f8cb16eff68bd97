"""A loopback TCP proxy that behaves like a bad commune link: slow, cut, or stalled.

Tests and ``bench/uplink.py`` put it between the kiosk and the hub. TLS runs end to end
through it (it only moves bytes), so what it simulates is the network, not a fake server:

- ``rate_bps``: each direction is throttled to this many bit/s (0 = as fast as loopback);
- ``cut_every``: every time this many more client-to-server bytes have passed (counted over
  all connections, like a line that drops every few hundred KB), the connection carrying
  the byte at the boundary is reset after forwarding exactly up to it; ``cut_direction=
  "down"`` counts server-to-client bytes instead (a kiosk downloading a release);
- :meth:`pause` / :meth:`resume`: bytes stop moving (connections stay open), like a stall;
- :meth:`cut_all`: reset every open connection now.

It runs its own asyncio loop in a daemon thread so synchronous tests can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time

PIECE = 4096


class _Cut(Exception):
    pass


class TcpProxy:
    def __init__(
        self,
        target_port: int,
        *,
        target_host: str = "127.0.0.1",
        rate_bps: float = 0,
        cut_every: int = 0,
        cut_direction: str = "up",
    ):
        if cut_direction not in ("up", "down"):
            raise ValueError("cut_direction is 'up' or 'down'")
        self.cut_direction = cut_direction
        self.target = (target_host, target_port)
        self.rate_bps = float(rate_bps)
        self.cut_every = int(cut_every)
        self.port = 0
        self.bytes_up = 0  # client -> server, forwarded
        self.bytes_down = 0
        self.cuts = 0
        self.connections = 0
        self._next_cut = self.cut_every
        self._free_at = {"up": 0.0, "down": 0.0}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._flowing: asyncio.Event | None = None

    # -- control (from any thread) ------------------------------------------------------
    def start(self) -> TcpProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def set_target(self, port: int) -> None:
        """Point new connections at another server port (a hub restarted elsewhere)."""
        self.target = (self.target[0], port)

    def _call(self, fn) -> None:  # type: ignore[no-untyped-def]
        asyncio.run_coroutine_threadsafe(fn(), self._loop).result(10)

    def pause(self) -> None:
        async def go() -> None:
            assert self._flowing is not None
            self._flowing.clear()

        self._call(go)

    def resume(self) -> None:
        async def go() -> None:
            assert self._flowing is not None
            self._flowing.set()

        self._call(go)

    def cut_all(self) -> None:
        async def go() -> None:
            for w in list(self._open):
                _abort(w)

        self._call(go)

    def stop(self) -> None:
        async def go() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._open):
                _abort(w)

        with contextlib.suppress(Exception):
            self._call(go)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the link -----------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(writer)
            return
        pair = (writer, up_writer)
        self._open.update(pair)
        tasks = [
            asyncio.create_task(self._pipe(reader, up_writer, "up", pair)),
            asyncio.create_task(self._pipe(up_reader, writer, "down", pair)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            for w in pair:
                self._open.discard(w)
                _abort(w)

    async def _throttle(self, direction: str, n: int) -> None:
        if self.rate_bps <= 0:
            return
        now = time.monotonic()
        start = max(now, self._free_at[direction])
        self._free_at[direction] = start + n * 8 / self.rate_bps
        await asyncio.sleep(self._free_at[direction] - now)

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        direction: str,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        assert self._flowing is not None
        try:
            while True:
                data = await src.read(PIECE)
                if not data:
                    with contextlib.suppress(OSError):
                        if dst.can_write_eof():
                            dst.write_eof()
                    return
                await self._flowing.wait()
                cut = False
                if direction == self.cut_direction and self.cut_every > 0:
                    passed = self.bytes_up if direction == "up" else self.bytes_down
                    room = self._next_cut - passed
                    if len(data) >= room:
                        data, cut = data[:room], True
                        self._next_cut += self.cut_every
                await self._throttle(direction, len(data))
                if data:
                    dst.write(data)
                    await dst.drain()
                if direction == "up":
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
                if cut:
                    self.cuts += 1
                    raise _Cut()
        except (_Cut, ConnectionError, OSError):
            for w in pair:
                _abort(w)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Reset the connection (RST), as a dropped link looks to both ends."""
    transport = writer.transport
    with contextlib.suppress(Exception):
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(Exception):
        transport.abort()
