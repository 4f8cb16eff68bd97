"""The garbage collector's pauses in a bench process, recorded with their monotonic start.

A collection holds the interpreter, so in a process that relays or measures latency (the
simulated agents, the balancer) a long one shows up as latency that the hub did not cause.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Pauses = list[tuple[float, float, int, int]]  # (start, seconds, generation, objects freed)


def _recorder(pauses: Pauses) -> Callable[[str, dict], None]:
    started = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.monotonic()
        else:
            took = time.monotonic() - started[0]
            pauses.append((started[0], took, info["generation"], info["collected"]))

    return on_gc


def record_pauses() -> Pauses:
    """From now on, for the rest of the process, every collection, appended to the
    returned list."""
    pauses: Pauses = []
    gc.callbacks.append(_recorder(pauses))
    return pauses


@contextmanager
def recording_pauses() -> Iterator[Pauses]:
    """The collections while the block runs (the recorder is removed at its end)."""
    pauses: Pauses = []
    on_gc = _recorder(pauses)
    gc.callbacks.append(on_gc)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(on_gc)
