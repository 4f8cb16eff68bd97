"""The hub's background duties: blocking work run on a schedule from the app's lifespan.

Each duty (expiring idle uploads, re-signing fleet metadata, advancing rollouts,
checkpointing SQLite's log) is a plain synchronous call of a service; this only runs it in
a worker thread, as the routes' blocking calls run, every so often until the lifespan
cancels it. A failed round is logged with its traceback and the next round tries again: a
passing database hiccup must not end a duty for the hub's lifetime.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

log = logging.getLogger("sohoa.hub")


async def run_periodically(
    work: Callable[[], object], every_s: float, what: str, *, first_at_start: bool = False
) -> None:
    """Call ``work`` in a worker thread every ``every_s`` seconds until cancelled; the first
    call at once when ``first_at_start``, else after the first wait. ``what`` names the duty
    in the log ("upload expiry sweep")."""
    if not first_at_start:
        await asyncio.sleep(every_s)
    while True:
        try:
            await run_in_threadpool(work)
        except Exception:
            log.exception("%s failed; next try in %g s", what, every_s)
        await asyncio.sleep(every_s)
