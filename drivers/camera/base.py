"""The camera contract every backend (sim, folder, OpenCV/V4L2, picamera2) fulfils.

The capture session only ever sees :class:`Camera`, :class:`Frame` and :class:`CameraError`,
so a kiosk can swap a Pi camera for a USB document camera (or the simulator in tests) by
configuration alone. Errors carry a short machine ``code`` (what the session should do) and
two human messages, because the touchscreen speaks Vietnamese and the journal English.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sohoa_common.errors import BilingualError

PREVIEW_MAX_WIDTH = 1024
"""Live view frames are at most this wide: enough for the touchscreen, cheap to move."""

ERROR_CODES = ("gone", "busy", "timeout", "not_found", "end", "io")

_DEFAULT_MESSAGES_VI = {
    "gone": "Mất kết nối với máy ảnh. Hãy kiểm tra dây cáp rồi cắm lại.",
    "busy": "Máy ảnh đang được một chương trình khác sử dụng.",
    "timeout": "Máy ảnh không phản hồi. Hãy thử chụp lại.",
    "not_found": "Không tìm thấy máy ảnh.",
    "end": "Đã hết ảnh để chụp.",
    "io": "Lỗi khi đọc ảnh từ máy ảnh.",
}


@dataclass
class Frame:
    """One full-resolution still, JPEG encoded exactly as it will be spooled to disk."""

    jpeg: bytes
    width: int
    height: int
    captured_at: float
    truth: dict[str, Any] | None = None
    """Ground truth (sim and folder cameras only): what a perfect pipeline would find. Kept
    beside the frame on disk for tests and benchmarks; the kiosk never decides on it."""
    source: str = "camera"
    """"camera" or "scanner": the catalog records it, and a scanned page skips the page
    detection a photograph needs."""
    dpi: int | None = None
    """The resolution a scanner reported (None for a camera, whose scale is unknown)."""
    side: str | None = None
    """"front" or "back" of a duplex sheet (scanner only): an empty back side is dropped."""
    sheet: int | None = None
    """Which sheet of the batch, from 1 (scanner only): named when a blank back is dropped."""


class CameraError(BilingualError):
    """A camera failure the capture session can act on.

    ``code`` tells the session what happened ("gone": unplugged, "busy": in use elsewhere,
    "timeout", "not_found", "end": a replay folder is exhausted, "io": unreadable data);
    ``message`` is plain English for the log, ``message_vi`` is shown on the touchscreen.
    """

    def __init__(self, code: str, message: str, message_vi: str | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown camera error code {code!r}")
        super().__init__(code, message, message_vi or _DEFAULT_MESSAGES_VI[code], status=503)
        self.message = message  # the English text, as callers of this type read it

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class CameraGone(CameraError):
    """The camera disappeared (unplugged, driver reset) possibly in the middle of a document.

    Accepts ``CameraGone(message)`` and, like its base, ``CameraGone("gone", message)``.
    """

    def __init__(
        self,
        message: str = "camera disconnected",
        detail: str | None = None,
        message_vi: str | None = None,
    ) -> None:
        if detail is not None:
            if message != "gone":
                raise ValueError(f"CameraGone has code 'gone', not {message!r}")
            message = detail
        super().__init__("gone", message, message_vi)


@runtime_checkable
class Camera(Protocol):
    """What the capture session needs from any camera."""

    name: str

    def open(self) -> None:
        """Acquire the device; raises :class:`CameraError` if it cannot."""
        ...

    def capture(self) -> Frame:
        """Take one full-resolution still."""
        ...

    def preview_frame(self) -> np.ndarray:
        """Live view: BGR uint8, at most :data:`PREVIEW_MAX_WIDTH` pixels wide."""
        ...

    def close(self) -> None:
        """Release the device; safe to call twice or after the device vanished."""
        ...

    @property
    def available(self) -> bool:
        """Whether the device is present right now (hot-plug aware)."""
        ...


def downscale_for_preview(bgr: np.ndarray, max_width: int = PREVIEW_MAX_WIDTH) -> np.ndarray:
    """Shrink a BGR image to the live-view width (never enlarges), keeping the aspect ratio."""
    import cv2

    h, w = bgr.shape[:2]
    if w <= max_width:
        return bgr
    new_h = max(1, round(h * max_width / w))
    return cv2.resize(bgr, (max_width, new_h), interpolation=cv2.INTER_AREA)


def encode_jpeg(bgr: np.ndarray, quality: int) -> bytes:
    """JPEG-encode a BGR image; raises CameraError("io") if the encoder refuses it."""
    import cv2

    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise CameraError("io", "JPEG encoding failed")
    return buf.tobytes()
