"""The garbage collector's pauses in a bench process, recorded with their monotonic start.

A collection holds the interpreter, so in a process that relays or measures latency (the
simulated agents, the balancer) a long one shows up as latency that the hub did not cause.
"""

from __future__ import annotations

import gc
import time


def record_pauses() -> list[tuple[float, float, int, int]]:
    """From now on, every collection of this process as (start, seconds, generation,
    objects freed), appended to the returned list."""
    pauses: list[tuple[float, float, int, int]] = []
    started = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.monotonic()
        else:
            took = time.monotonic() - started[0]
            pauses.append((started[0], took, info["generation"], info["collected"]))

    gc.callbacks.append(on_gc)
    return pauses
