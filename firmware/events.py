"""In-process event bus: the kiosk core publishes, the UI (server-sent events) subscribes.

Bounded queues per subscriber: a stalled browser tab must never block capture, so a full
queue drops its oldest event (the UI re-reads state on reconnect anyway).
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any


class EventBus:
    def __init__(self, maxsize: int = 256):
        self._subs: list[queue.Queue[dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._maxsize = maxsize
        self.seq = 0

    def subscribe(self) -> queue.Queue[dict[str, Any]]:
        q: queue.Queue[dict[str, Any]] = queue.Queue(self._maxsize)
        with self._lock:
            self._subs.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[dict[str, Any]]) -> None:
        with self._lock:
            if q in self._subs:
                self._subs.remove(q)

    def publish(self, kind: str, **data: Any) -> None:
        with self._lock:
            self.seq += 1
            event = {"seq": self.seq, "kind": kind, "ts": time.time(), **data}
            for q in self._subs:
                while True:
                    try:
                        q.put_nowait(event)
                        break
                    except queue.Full:
                        try:
                            q.get_nowait()
                        except queue.Empty:
                            pass
