"""The still exposed when the pedal goes down, for the press that follows.

A press is known only at release (until then it could become a long press), so the still
is exposed and analysed as soon as the pedal goes *down* and the press that follows uses
it: the clerk's hold time is not added to the wait for the thumbnail. A long press throws
that still away; nothing is stored before the press.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from firmware.capture.frame_prep import FramePreparer, PreparedFrame

if TYPE_CHECKING:
    from drivers.camera.base import Camera

#: A still exposed when the pedal went down serves the press that follows only this long
#: after it (a press is at most a long press; anything older is a stale picture).
EARLY_FRAME_MAX_AGE_S = 3.0


@dataclass
class EarlyFrame:
    """The still exposed when the pedal went down, waiting for the press at release."""

    at: float  # time.monotonic() of the pedal going down
    done: cf.Future[tuple[Any, PreparedFrame]]
    dropped: bool = False

    @property
    def busy(self) -> bool:
        """Still being exposed or previewed (the live view rests meanwhile)."""
        if not self.done.done():
            return True
        if self.done.exception() is not None:
            return False
        return not self.done.result()[1].preview.done()

    def discard(self) -> None:
        """Not wanted after all: stop what can be stopped, free the prepared frame."""
        self.dropped = True
        if self.done.cancel() or not self.done.done() or self.done.exception() is not None:
            return
        self.done.result()[1].drop()


class PedalStill:
    """Holds at most one early still: a new pedal-down replaces it, a press takes it."""

    def __init__(self, prep: FramePreparer):
        self._prep = prep
        self._early: EarlyFrame | None = None
        self._lock = threading.Lock()

    @property
    def waiting(self) -> EarlyFrame | None:
        """The still waiting for its press, if any."""
        return self._early

    @property
    def busy(self) -> bool:
        early = self._early
        return early is not None and early.busy

    def expose(self, camera: Camera) -> None:
        """Expose ``camera``'s still now (on a thread) and start its sheet check and preview."""
        early = EarlyFrame(time.monotonic(), cf.Future())
        with self._lock:
            old, self._early = self._early, early
        if old is not None:
            old.discard()
        threading.Thread(
            target=self._expose, args=(camera, early), name="early-frame", daemon=True
        ).start()

    def _expose(self, camera: Camera, early: EarlyFrame) -> None:
        if not early.done.set_running_or_notify_cancel():
            return
        try:
            frame = camera.capture()
            if early.dropped:  # a long press, or the next press: no analysis for nothing
                raise RuntimeError("early still dropped")
            prepared = self._prep.prepare(frame.jpeg)
        except BaseException as exc:  # reported by the press that takes it
            early.done.set_exception(exc)
        else:
            early.done.set_result((frame, prepared))

    def take(self) -> EarlyFrame | None:
        """The still for the press now, unless it is older than a press can be."""
        with self._lock:
            early, self._early = self._early, None
        if early is not None and time.monotonic() - early.at > EARLY_FRAME_MAX_AGE_S:
            early.discard()
            return None
        return early

    def drop(self) -> None:
        """Throw the waiting still away (a long press, the scanner, shutdown)."""
        with self._lock:
            early, self._early = self._early, None
        if early is not None:
            early.discard()
