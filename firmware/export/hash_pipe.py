"""SHA-256 in a thread beside the I/O, so hashing never stalls a slow USB stick.

Why: the export hashes every byte it writes (for the manifest) and every byte it reads back
(the verification). Done in the writing or reading thread, each chunk's hash waits for the
device and the device waits for the hash: on a stick writing 20 MB/s that is ~1 ms of
SHA-256 idle time per 50 ms of I/O, for every MiB, twice. ``hashlib`` releases the GIL on
large buffers, so a second thread hashes chunk *n* while the device moves chunk *n+1*.
The queue is bounded: at most ``depth`` chunks (a few MiB) wait, memory stays flat.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable
from typing import BinaryIO

Buffer = bytes | memoryview

DEPTH = 4
_END = None


class BackgroundSha256:
    """``update`` queues a chunk; ``hexdigest`` waits for the queue and returns the hash.

    The caller must not modify a buffer after handing it over (``bytes`` and slices of
    ``bytes`` never change).
    """

    def __init__(self, depth: int = DEPTH):
        self._q: queue.Queue[Buffer | None] = queue.Queue(depth)
        self._hash = hashlib.sha256()
        self._digest: str | None = None
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._q.get()) is not _END:
            self._hash.update(chunk)

    def update(self, chunk: Buffer) -> None:
        if self._digest is not None:
            raise ValueError("hash already finished")
        self._q.put(chunk)

    def hexdigest(self) -> str:
        if self._digest is None:
            self._q.put(_END)
            self._thread.join()
            self._digest = self._hash.hexdigest()
        return self._digest

    def close(self) -> None:
        """Stop the thread without a result (the write failed)."""
        if self._digest is None:
            self.hexdigest()


def read_sha256(
    fh: BinaryIO, chunk: int = 1 << 20, on_chunk: Callable[[], None] | None = None
) -> tuple[int, str]:
    """(size, SHA-256) of what ``fh`` yields; the device reads on while chunks hash.
    ``on_chunk`` is called before each read (a cancel check may raise there)."""
    digest = BackgroundSha256()
    size = 0
    try:
        while True:
            if on_chunk is not None:
                on_chunk()
            data = fh.read(chunk)
            if not data:
                break
            size += len(data)
            digest.update(data)
    finally:
        result = digest.hexdigest()
    return size, result
