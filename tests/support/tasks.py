"""Running an asyncio task for a while, as an app's lifespan runs its background duties."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any


def run_for(
    make: Callable[[], Coroutine[Any, Any, Any]],
    seconds: float,
    midway: Callable[[], object] | None = None,
) -> list[str]:
    """Run the task ``make()`` creates for ``seconds`` (calling ``midway`` halfway), then
    cancel it; returns ``["cancelled"]`` when it ended by the cancellation."""
    ended: list[str] = []

    async def main() -> None:
        task = asyncio.create_task(make())
        await asyncio.sleep(seconds / 2)
        if midway is not None:
            midway()
        await asyncio.sleep(seconds / 2)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            ended.append("cancelled")

    # Its own thread: another test's browser may have left this thread's event loop running.
    runner = threading.Thread(target=asyncio.run, args=(main(),))
    runner.start()
    runner.join(30)
    return ended
