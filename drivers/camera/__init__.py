"""Cameras: one Protocol, backends chosen by configuration.

``sim`` renders photographs of Vietnamese documents, ``folder`` replays image files,
``opencv`` drives USB (UVC/V4L2) document cameras, ``picamera2`` the Raspberry Pi camera.
Hardware backends are imported only when chosen, so a machine without OpenCV's V4L2 devices
or picamera2 still runs everything else.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from drivers.camera.base import Camera, CameraError, CameraGone, Frame

if TYPE_CHECKING:
    from firmware.config import CameraConfig

__all__ = ["Camera", "CameraError", "CameraGone", "Frame", "open_camera"]


def open_camera(cfg: CameraConfig) -> Camera:
    """Build the camera ``cfg.backend`` names (not yet opened: the caller calls ``open()``,
    so a missing device surfaces as a CameraError at a point the session handles)."""
    backend = cfg.backend
    if backend == "sim":
        from drivers.camera.sim import SimCamera

        return SimCamera(
            seed=cfg.seed,
            width=cfg.width,
            height=cfg.height,
            layout=cfg.layout,
            jpeg_quality=cfg.jpeg_quality,
        )
    if backend == "folder":
        from drivers.camera.folder import FolderCamera

        if not cfg.source:
            raise CameraError(
                "not_found",
                "camera.source must name the image folder",
                "Chưa cấu hình thư mục ảnh (camera.source).",
            )
        return FolderCamera(Path(cfg.source))
    if backend == "opencv":
        from drivers.camera.opencv_cam import OpenCvCamera

        return OpenCvCamera(cfg.source or "0", cfg.width, cfg.height, cfg.jpeg_quality)
    if backend == "picamera2":
        from drivers.camera.picamera2_cam import Picamera2Camera

        return Picamera2Camera(cfg.width, cfg.height, cfg.jpeg_quality)
    raise CameraError(
        "not_found",
        f"no camera configured (camera.backend = {backend!r})",
        "Chưa cấu hình máy ảnh.",
    )
