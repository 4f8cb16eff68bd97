"""Folder camera: replays image files as if they were captures.

Used to rerun a day's real photographs through a new pipeline version, to feed the
benchmark's datasets (``sim.write_dataset``) and to test with pictures from a real
document camera. JPEGs are handed over byte for byte, so what the pipeline sees is exactly
the file (including a corrupt one, which the pipeline must report); other formats are
decoded and re-encoded, since the spool only holds JPEGs.
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from drivers.camera.base import CameraError, Frame, downscale_for_preview, encode_jpeg
from drivers.camera.limits import too_large, too_large_vi

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}
JPEG_SUFFIXES = {".jpg", ".jpeg"}
REENCODE_QUALITY = 95


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's header, (0, 0) if the header is unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (UnidentifiedImageError, OSError, ValueError):
        return 0, 0


class FolderCamera:
    """Each capture returns the next image of ``source`` in file-name order (ignoring case)."""

    name = "folder"

    def __init__(self, source: Path) -> None:
        self.source = Path(source)
        self._files: list[Path] = []
        self._index = 0
        self._open = False
        self._lock = threading.Lock()
        self._preview_path: Path | None = None
        self._preview: np.ndarray | None = None

    def _scan(self) -> list[Path]:
        if not self.source.is_dir():
            raise CameraError(
                "not_found",
                f"image folder {self.source} does not exist",
                f"Không tìm thấy thư mục ảnh {self.source}.",
            )
        return sorted(
            (
                p
                for p in self.source.iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            ),
            key=lambda p: (p.name.casefold(), p.name),  # "B.png" between "a" and "c"
        )

    def open(self) -> None:
        with self._lock:
            self._files = self._scan()
            self._index = 0
            self._open = True

    def close(self) -> None:
        with self._lock:
            self._open = False

    @property
    def available(self) -> bool:
        return self.source.is_dir()

    @property
    def remaining(self) -> int:
        """Files not yet captured."""
        return max(0, len(self._files) - self._index)

    def _require_open(self) -> None:
        if not self._open:
            raise CameraError(
                "io", "folder camera is not open (call open() first)", "Máy ảnh chưa được mở."
            )

    def capture(self) -> Frame:
        with self._lock:
            self._require_open()
            if self._index >= len(self._files):
                raise CameraError(
                    "end",
                    f"no more images in {self.source} ({len(self._files)} replayed)",
                    "Đã hết ảnh trong thư mục.",
                )
            path = self._files[self._index]
            self._index += 1
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CameraError(
                "not_found",
                f"{path} disappeared before it was read",
                "Tệp ảnh đã bị xóa trước khi đọc.",
            ) from None
        except OSError as exc:
            raise CameraError("io", f"cannot read {path}: {exc.strerror}") from None
        oversize = too_large(data)
        if oversize:  # refused from the header, before OpenCV allocates the picture
            raise CameraError("io", f"{path.name}: {oversize}", too_large_vi(data))
        if path.suffix.lower() in JPEG_SUFFIXES:
            jpeg = data
            width, height = _jpeg_size(data)
        else:
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise CameraError(
                    "io", f"cannot decode image {path.name}", f"Không đọc được ảnh {path.name}."
                )
            jpeg = encode_jpeg(bgr, REENCODE_QUALITY)
            height, width = bgr.shape[:2]
        return Frame(jpeg, width, height, time.time(), self._truth_for(path))

    @staticmethod
    def _read_for_preview(path: Path) -> np.ndarray | None:
        """The file decoded for the live view; None if unreadable or too large to decode."""
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if too_large(data):
            return None
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    @staticmethod
    def _truth_for(path: Path) -> dict | None:
        truth_path = path.with_name(path.stem + ".truth.json")
        if not truth_path.exists():
            return None
        try:
            return json.loads(truth_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CameraError("io", f"bad ground truth file {truth_path.name}: {exc}") from None

    def preview_frame(self) -> np.ndarray:
        """The image the next capture returns (the last one once exhausted), downscaled.

        An undecodable file previews as a mid-grey frame: the live view must keep running;
        the capture itself reports the problem.
        """
        with self._lock:
            self._require_open()
            if not self._files:
                return np.full((768, 1024, 3), 128, np.uint8)
            path = self._files[min(self._index, len(self._files) - 1)]
            if path != self._preview_path:
                bgr = self._read_for_preview(path)
                self._preview = (
                    downscale_for_preview(bgr)
                    if bgr is not None
                    else np.full((768, 1024, 3), 128, np.uint8)
                )
                self._preview_path = path
            assert self._preview is not None
            return self._preview.copy()
