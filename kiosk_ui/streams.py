"""Server-sent event streams, bounded per session and ended with the session.

Why: each stream used to hold a worker thread blocked on its queue, so 60 streams from one
session starved every other API call (9-10 s each), and a stream opened before sign-out
kept receiving events after it. Now a session has at most :data:`PER_SESSION` streams (a
new one ends its oldest: a reloaded screen replaces its predecessor), the kiosk at most
:data:`TOTAL`, streams wait without holding a thread, and each one ends as soon as its
session does (sign-out at once, idle or disabled within :data:`SESSION_CHECK_S`).
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from firmware.errors import KioskError
from firmware.events import EventBus, EventKind
from kiosk_ui.picture_urls import FRESH_VERSION, page_picture_url

PER_SESSION = 3
TOTAL = 12
POLL_S = 0.2
KEEPALIVE_S = 15.0
SESSION_CHECK_S = 2.0


@dataclass
class _Stream:
    session: str  # token hash
    opened: float
    ended: threading.Event = field(default_factory=threading.Event)


class EventStreams:
    """The open event streams of the UI, by session."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._lock = threading.Lock()
        self._streams: list[_Stream] = []

    def open_count(self, session: str | None = None) -> int:
        with self._lock:
            return sum(1 for s in self._streams if session is None or s.session == session)

    def _register(self, session: str) -> _Stream:
        stream = _Stream(session, time.monotonic())
        with self._lock:
            mine = [s for s in self._streams if s.session == session]
            for old in mine[: max(0, len(mine) - PER_SESSION + 1)]:
                old.ended.set()
                self._streams.remove(old)
            if len(self._streams) >= TOTAL:
                raise KioskError(
                    "too_many_streams",
                    "Too many live connections are open; close other screens and try again.",
                    "Có quá nhiều kết nối đang mở; hãy đóng bớt màn hình khác rồi thử lại.",
                    status=429,
                )
            self._streams.append(stream)
        return stream

    def end_session(self, session: str) -> int:
        """End every stream of ``session`` (at sign-out); returns how many were open."""
        with self._lock:
            mine = [s for s in self._streams if s.session == session]
            for s in mine:
                s.ended.set()
                self._streams.remove(s)
        return len(mine)

    def _forget(self, stream: _Stream) -> None:
        with self._lock:
            if stream in self._streams:
                self._streams.remove(stream)

    def open(
        self,
        session: str,
        disconnected: Callable[[], Any],
        session_alive: Callable[[], bool],
    ) -> AsyncIterator[str]:
        """The SSE body for one stream of ``session``; raises 429 when the kiosk is full.

        ``disconnected`` is the request's awaitable ``is_disconnected``; ``session_alive``
        (a catalog read, run in a thread every few seconds) tells when idle sign-out or a
        disabled account ended the session."""
        stream = self._register(session)
        q = self.bus.subscribe()

        async def body() -> AsyncIterator[str]:
            last_check = last_sent = time.monotonic()
            try:
                yield "retry: 1000\n\n"
                # the bus closes when the service stops: streams end, shutdown is quick
                while (
                    not stream.ended.is_set()
                    and not self.bus.closed.is_set()
                    and not await disconnected()
                ):
                    now = time.monotonic()
                    if now - last_check >= SESSION_CHECK_S:
                        last_check = now
                        if not await asyncio.to_thread(session_alive):
                            break
                    try:
                        ev = q.get_nowait()
                    except queue.Empty:
                        if now - last_sent >= KEEPALIVE_S:
                            last_sent = now
                            yield ": keep-alive\n\n"
                        await asyncio.sleep(POLL_S)
                        continue
                    if stream.ended.is_set() or ev.get("kind") == "closing":
                        break
                    last_sent = now
                    body = json.dumps(for_screen(ev), ensure_ascii=False, default=str)
                    yield f"data: {body}\n\n"
            finally:
                self.bus.unsubscribe(q)
                self._forget(stream)

        return body()


def for_screen(ev: dict[str, Any]) -> dict[str, Any]:
    """An event as the screen reads it: a page event also carries its thumbnail's URL, so
    the script shows a just-captured page without spelling a URL itself (the URLs have one
    spelling, :func:`kiosk_ui.picture_urls.page_picture_url`)."""
    if ev.get("kind") == EventKind.PAGE.value and ev.get("page_id"):
        return {**ev, "thumb_url": page_picture_url(ev["page_id"], "thumb", FRESH_VERSION)}
    return ev
