"""Simulated camera: realistic photographs of Vietnamese documents, with every failure mode.

It behaves like a document camera on a stand in front of a clerk: each ``capture()``
photographs the page currently under the camera; a good capture means the clerk turns to
the next page; after the last page of a document the next document is laid down (or call
``new_document()`` to move on early). Defective shots ("blurred", "glare", "cut_off"...)
show the same page again on the next capture, as a retake would. ``script`` injects those
defects and non-pages in order, ``fail_after`` / ``unplug()`` make the camera vanish, so
every branch of the capture session can be driven in tests and in the demo.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

import numpy as np

from drivers.camera.base import PREVIEW_MAX_WIDTH, CameraError, CameraGone, Frame
from drivers.camera.render import (
    SCENARIOS,
    doc_seed_for,
    layout_for,
    render_frame,
    render_scene,
)
from drivers.camera.render_text import default_page_count

_ADVANCING = {"document"}  # scenarios after which the clerk turns the page


class SimCamera:
    """A camera that renders its frames (see module docstring)."""

    name = "sim"

    def __init__(
        self,
        seed: int = 1,
        width: int = 4000,
        height: int = 3000,
        layout: str = "mixed",
        jpeg_quality: int = 92,
        script: Sequence[str] | None = None,
        fail_after: int | None = None,
        pages_per_doc: int | None = None,
    ) -> None:
        layout_for(layout, 0)  # validates
        unknown = [s for s in (script or []) if s not in SCENARIOS]
        if unknown:
            raise ValueError(f"unknown script entries {unknown}; expected {SCENARIOS}")
        if pages_per_doc is not None and pages_per_doc < 1:
            raise ValueError("pages_per_doc must be >= 1")
        self.seed = seed
        self.width, self.height = width, height
        self.layout = layout
        self.jpeg_quality = jpeg_quality
        self.pages_per_doc = pages_per_doc
        self._script: deque[str] = deque(script or [])
        self._fail_after = fail_after
        self._lock = threading.RLock()
        self._plugged = True
        self._open = False
        self._captures = 0  # capture() calls, failed ones included
        self._doc_index = 0
        self._page = 1
        self._preview_key: tuple | None = None
        self._preview: np.ndarray | None = None

    # --- device lifecycle --------------------------------------------------------------
    def open(self) -> None:
        with self._lock:
            if not self._plugged:
                raise CameraGone("simulated camera is unplugged")
            self._open = True

    def close(self) -> None:
        with self._lock:
            self._open = False

    @property
    def available(self) -> bool:
        return self._plugged

    def unplug(self) -> None:
        """Simulate pulling the USB cable: the next capture raises CameraGone."""
        with self._lock:
            self._plugged = False
            self._open = False

    def replug(self) -> None:
        """Simulate plugging the camera back in; like a real device it must be re-opened."""
        with self._lock:
            self._plugged = True

    # --- document position ---------------------------------------------------------
    @property
    def document_index(self) -> int:
        return self._doc_index

    @property
    def page_number(self) -> int:
        """The page the next good capture will photograph (1-based)."""
        return self._page

    @property
    def doc_seed(self) -> int:
        return doc_seed_for(self.seed, self._doc_index)

    @property
    def doc_layout(self) -> str:
        return layout_for(self.layout, self._doc_index)

    @property
    def page_count(self) -> int:
        """Pages of the current document."""
        if self.pages_per_doc is not None:
            return self.pages_per_doc
        return default_page_count(self.doc_seed)

    def new_document(self) -> None:
        """Put the next document under the camera (even if pages of this one remain)."""
        with self._lock:
            self._doc_index += 1
            self._page = 1

    def _next_scenario(self) -> str:
        return self._script[0] if self._script else "document"

    # --- capture -------------------------------------------------------------------
    def _check_ready(self) -> None:
        if not self._plugged:
            raise CameraGone("simulated camera is unplugged")
        if not self._open:
            raise CameraError(
                "io", "camera is not open (call open() first)", "Máy ảnh chưa được mở."
            )

    def capture(self) -> Frame:
        with self._lock:
            self._check_ready()
            self._captures += 1
            if self._fail_after is not None and self._captures > self._fail_after:
                self._fail_after = None  # one disappearance; replug() brings it back
                self.unplug()
                raise CameraGone("camera disconnected during capture (simulated)")
            scenario = self._script.popleft() if self._script else "document"
            jpeg, truth = render_frame(
                self.doc_seed,
                self._page,
                self.doc_layout,
                self.page_count,
                self.width,
                self.height,
                self.jpeg_quality,
                scenario,
                scene_seed=[self.seed, self._doc_index, self._page, self._captures],
            )
            truth["document_index"] = self._doc_index
            frame = Frame(jpeg, self.width, self.height, time.time(), truth)
            if scenario in _ADVANCING:
                self._page += 1
                if self._page > self.page_count:
                    self._doc_index += 1
                    self._page = 1
            return frame

    def preview_frame(self) -> np.ndarray:
        """The scene the next capture will photograph, 1024 px wide (cached per scene)."""
        with self._lock:
            self._check_ready()
            scenario = self._next_scenario()
            scene = [self.seed, self._doc_index, self._page, self._captures + 1]
            key = (tuple(scene), scenario)
            if key != self._preview_key:
                width = min(PREVIEW_MAX_WIDTH, self.width)
                height = max(1, round(self.height * width / self.width))
                photo, _ = render_scene(
                    self.doc_seed,
                    self._page,
                    self.doc_layout,
                    self.page_count,
                    width,
                    height,
                    scenario,
                    scene,
                )
                self._preview_key, self._preview = key, photo.bgr
            assert self._preview is not None
            return self._preview.copy()
