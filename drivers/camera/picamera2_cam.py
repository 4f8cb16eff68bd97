"""Raspberry Pi camera modules (HQ, Camera Module 3) through picamera2 / libcamera.

picamera2 only exists on the Pi (Debian package python3-picamera2), so it is imported
inside ``open()``: the rest of the kiosk, and every development machine, runs without it.
The camera streams a low-resolution preview configuration for the live view and switches
to the full-resolution still configuration for each capture (what libcamera is built for:
the still mode runs the sensor at full resolution, too slow for a fluid preview).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from drivers.camera.base import (
    PREVIEW_MAX_WIDTH,
    CameraError,
    CameraGone,
    Frame,
    downscale_for_preview,
    encode_jpeg,
)

_CAMERA_FAILURES = (RuntimeError, OSError, TimeoutError)


class Picamera2Camera:
    """A Pi camera module driven by picamera2."""

    name = "picamera2"

    def __init__(
        self, width: int = 4000, height: int = 3000, jpeg_quality: int = 92, camera_num: int = 0
    ) -> None:
        self.width, self.height = width, height
        self.jpeg_quality = jpeg_quality
        self.camera_num = camera_num
        self._cam: Any = None
        self._still: Any = None
        self._gone = False
        self._lock = threading.Lock()

    def open(self) -> None:
        with self._lock:
            if self._cam is not None:
                return
            try:
                from picamera2 import Picamera2
            except ImportError:
                raise CameraError(
                    "not_found",
                    "picamera2 is not installed (apt install python3-picamera2 on the Pi)",
                    "Chưa cài đặt picamera2 (trên Raspberry Pi: apt install python3-picamera2).",
                ) from None
            try:
                cam = Picamera2(self.camera_num)
            except IndexError:
                raise CameraError(
                    "not_found",
                    "no Raspberry Pi camera detected",
                    "Không tìm thấy máy ảnh Raspberry Pi.",
                ) from None
            except _CAMERA_FAILURES as exc:
                code = "busy" if "busy" in str(exc).lower() else "not_found"
                raise CameraError(code, f"cannot open the Pi camera: {exc}") from None
            try:
                # "RGB888" in picamera2 is B,G,R byte order: exactly OpenCV's BGR.
                self._still = cam.create_still_configuration(
                    main={"size": (self.width, self.height), "format": "RGB888"}
                )
                preview = cam.create_preview_configuration(
                    main={
                        "size": (PREVIEW_MAX_WIDTH, PREVIEW_MAX_WIDTH * 3 // 4),
                        "format": "RGB888",
                    }
                )
                cam.configure(preview)
                cam.start()
            except _CAMERA_FAILURES as exc:
                cam.close()
                raise CameraError("io", f"cannot start the Pi camera: {exc}") from None
            self._cam = cam
            self._gone = False

    def close(self) -> None:
        with self._lock:
            if self._cam is not None:
                try:
                    self._cam.stop()
                    self._cam.close()
                except _CAMERA_FAILURES:
                    pass  # already gone: nothing left to release
                self._cam = None

    @property
    def available(self) -> bool:
        return self._cam is not None and not self._gone

    def _require(self) -> Any:
        if self._cam is None:
            if self._gone:
                raise CameraGone("the Pi camera stopped responding")
            raise CameraError(
                "io", "camera is not open (call open() first)", "Máy ảnh chưa được mở."
            )
        return self._cam

    def _lost(self, exc: Exception) -> CameraGone:
        self._gone = True
        try:
            self._cam.close()
        except _CAMERA_FAILURES:
            pass
        self._cam = None
        return CameraGone(f"the Pi camera failed: {exc}")

    def capture(self) -> Frame:
        with self._lock:
            cam = self._require()
            try:
                array = cam.switch_mode_and_capture_array(self._still, "main")
            except _CAMERA_FAILURES as exc:
                raise self._lost(exc) from None
        bgr = np.ascontiguousarray(array[:, :, :3])
        height, width = bgr.shape[:2]
        return Frame(encode_jpeg(bgr, self.jpeg_quality), width, height, time.time())

    def preview_frame(self) -> np.ndarray:
        with self._lock:
            cam = self._require()
            try:
                array = cam.capture_array("main")
            except _CAMERA_FAILURES as exc:
                raise self._lost(exc) from None
        return downscale_for_preview(np.ascontiguousarray(array[:, :, :3]))
