"""Live view of the camera for the scan screen, with the detected page outline.

The browser polls (``GET /api/v1/live`` then the JPEG of that same frame): polling rather
than an MJPEG stream because it stops by itself when the screen goes away, keeps the page
weight of the scan screen bounded and lets the outline travel as data (drawn as SVG over
the image, green when ready, amber with the reason when not).

Auto-capture (off unless configured): a page is taken when the outline has been still for
:data:`STILL_TICKS` polls and the view differs from what was last captured, i.e. the clerk
placed a new page and took the hands away.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from firmware.pipeline.detect import detect_page

#: Width of the live image sent to the screen (the preview pane is ~600 px wide).
LIVE_WIDTH = 640
LIVE_JPEG_QUALITY = 65
#: Polls with a still outline before auto-capture fires.
STILL_TICKS = 3
#: Mean corner movement (fraction of the width) below which the page counts as still.
STILL_MOVE = 0.01
#: Mean grey difference (0-255, on a 64 px thumbnail) that makes a view "a new page".
NEW_PAGE_DIFF = 10.0
#: Median brightness below which the view is called too dark.
DARK_LEVEL = 40.0


@dataclass
class LiveFrame:
    seq: int
    jpeg: bytes
    width: int
    height: int
    ready: bool
    reason: str | None  # quality code when not ready: no_page, cut_off, too_dark, camera
    quad: list[list[float]] | None  # corners as fractions of width/height
    ts: float = field(default_factory=time.time)

    def public(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "width": self.width,
            "height": self.height,
            "ready": self.ready,
            "reason": self.reason,
            "quad": self.quad,
        }


class LiveView:
    """Grabs a preview frame, detects the page, remembers the last frame for its JPEG."""

    def __init__(
        self,
        camera: Any,
        *,
        auto_capture: bool = False,
        busy: Callable[[], bool] | None = None,
    ):
        self.camera = camera
        self.auto_capture = auto_capture
        # While a page is being captured the view shows the last frame: the clerk is turning
        # the page, and the CPU goes to the capture's preview (pedal-to-thumbnail budget).
        self.busy = busy
        self._lock = threading.Lock()
        self._seq = 0
        self.last: LiveFrame | None = None
        self._still = 0
        self._prev_quad: np.ndarray | None = None
        self._captured_thumb: np.ndarray | None = None

    @staticmethod
    def _thumb(img: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        return cv2.resize(g, (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32)

    def mark_captured(self) -> None:
        """Remember the current view as captured (no auto-capture until it changes)."""
        with self._lock:
            if self.last is not None:
                img = cv2.imdecode(np.frombuffer(self.last.jpeg, np.uint8), cv2.IMREAD_COLOR)
                if img is not None:
                    self._captured_thumb = self._thumb(img)
            self._still = 0

    def tick(self) -> tuple[LiveFrame, bool]:
        """One poll: (frame, whether auto-capture should take a page now)."""
        if self.busy is not None and self.last is not None and self.busy():
            return self.last, False
        with self._lock:
            self._seq += 1
            try:
                bgr = self.camera.preview_frame()
            except Exception:
                self.last = LiveFrame(self._seq, b"", 0, 0, False, "camera", None)
                self._still = 0
                return self.last, False
            h, w = bgr.shape[:2]
            if w > LIVE_WIDTH:
                bgr = cv2.resize(
                    bgr, (LIVE_WIDTH, round(h * LIVE_WIDTH / w)), interpolation=cv2.INTER_AREA
                )
                h, w = bgr.shape[:2]
            det = detect_page(bgr)
            quad = None
            reason: str | None = None
            if det.quad is None:
                gray = float(np.median(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)))
                reason = "too_dark" if gray < DARK_LEVEL else "no_page"
            else:
                quad = [[float(x) / w, float(y) / h] for x, y in np.asarray(det.quad)]
                if det.cut_off:
                    reason = "cut_off"
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, LIVE_JPEG_QUALITY])
            frame = LiveFrame(
                self._seq, buf.tobytes() if ok else b"", w, h, reason is None, reason, quad
            )
            self.last = frame
            fire = self._auto(frame, bgr)
            return frame, fire

    def _auto(self, frame: LiveFrame, bgr: np.ndarray) -> bool:
        if not self.auto_capture or not frame.ready or frame.quad is None:
            self._still, self._prev_quad = 0, None
            return False
        q = np.asarray(frame.quad, np.float32)
        moved = float(np.abs(q - self._prev_quad).mean()) if self._prev_quad is not None else 1.0
        self._prev_quad = q
        self._still = self._still + 1 if moved < STILL_MOVE else 0
        if self._still < STILL_TICKS:
            return False
        thumb = self._thumb(bgr)
        if (
            self._captured_thumb is not None
            and float(np.abs(thumb - self._captured_thumb).mean()) < NEW_PAGE_DIFF
        ):
            return False
        self._captured_thumb = thumb
        self._still = 0
        return True
