"""USB (UVC) document cameras through OpenCV's V4L2 backend.

Document cameras deliver full-resolution stills only as MJPG over USB 2 (raw YUYV tops out
at a few frames per second at 8+ MP), so MJPG is requested explicitly. V4L2 queues several
buffers: the frame returned by the first read after a pause was exposed *before* the clerk
pressed the pedal (often while the page was still moving), so a few buffered frames are
dropped before each still. A read failure after a successful open means the device went
away (cable pulled, hub reset): reported as :class:`CameraGone`.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from drivers.camera.base import CameraError, CameraGone, Frame, downscale_for_preview, encode_jpeg


def resolve_source(source: str) -> tuple[int | str, Path | None]:
    """Map a configured source to (what VideoCapture opens, the device node if any).

    "" and "0" mean /dev/video0; "/dev/video2" is a node; anything else (a file, an image
    sequence pattern, a URL) is passed through, which is how the backend is tested.
    """
    text = source.strip()
    if text == "" or text.isdigit():
        index = int(text or 0)
        return index, Path(f"/dev/video{index}")
    if text.startswith("/dev/"):
        return text, Path(text)
    return text, None


class OpenCvCamera:
    """A V4L2/UVC camera (``api_preference`` selects another OpenCV backend, e.g. in tests)."""

    name = "opencv"

    def __init__(
        self,
        source: str = "0",
        width: int = 4000,
        height: int = 3000,
        jpeg_quality: int = 92,
        api_preference: int | None = None,
        warmup_frames: int = 2,
        stale_frames: int = 2,
    ) -> None:
        self.source = source
        self.width, self.height = width, height
        self.jpeg_quality = jpeg_quality
        self.api_preference = cv2.CAP_V4L2 if api_preference is None else api_preference
        self.warmup_frames = warmup_frames
        self.stale_frames = stale_frames
        self._target, self._device = resolve_source(source)
        self._cap: cv2.VideoCapture | None = None
        self._gone = False
        self._lock = threading.Lock()
        self.actual_size: tuple[int, int] | None = None

    def open(self) -> None:
        with self._lock:
            if self._cap is not None:
                return
            if self._device is not None:
                if not self._device.exists():
                    raise CameraError(
                        "not_found",
                        f"no video device {self._device}",
                        f"Không tìm thấy máy ảnh ({self._device}).",
                    )
                if not os.access(self._device, os.R_OK | os.W_OK):
                    raise CameraError(
                        "io",
                        f"permission denied on {self._device} (the kiosk user must be "
                        "in the 'video' group)",
                        "Không có quyền truy cập máy ảnh.",
                    )
            cap = cv2.VideoCapture(self._target, self.api_preference)
            if not cap.isOpened():
                cap.release()
                if self._device is None:
                    raise CameraError("not_found", f"cannot open video source {self.source!r}")
                raise CameraError(
                    "busy",
                    f"cannot open {self._device}: in use by another program or not "
                    "a capture device",
                )
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            # Let auto exposure settle, and prove the stream delivers at all.
            frame = None
            for _ in range(max(1, self.warmup_frames)):
                ok, frame = cap.read()
                if not ok:
                    cap.release()
                    raise CameraError("timeout", f"{self.source!r} opened but delivers no frames")
            assert frame is not None
            self.actual_size = (frame.shape[1], frame.shape[0])
            self._cap = cap
            self._gone = False

    def close(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None

    @property
    def available(self) -> bool:
        if self._gone:
            return False
        if self._device is not None:
            return self._device.exists()
        return self._cap is not None

    def _read(self, drop: int) -> np.ndarray:
        if self._cap is None:
            if self._gone:
                raise CameraGone(f"camera {self.source!r} was disconnected")
            raise CameraError(
                "io", "camera is not open (call open() first)", "Máy ảnh chưa được mở."
            )
        for _ in range(drop):
            if not self._cap.grab():
                break
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self._cap.release()
            self._cap = None
            self._gone = True
            raise CameraGone(f"camera {self.source!r} stopped delivering frames")
        return frame

    def capture(self) -> Frame:
        with self._lock:
            frame = self._read(self.stale_frames)
        height, width = frame.shape[:2]
        return Frame(encode_jpeg(frame, self.jpeg_quality), width, height, time.time())

    def preview_frame(self) -> np.ndarray:
        with self._lock:
            frame = self._read(0)
        return downscale_for_preview(frame)
