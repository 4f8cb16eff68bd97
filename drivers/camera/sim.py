"""Simulated camera: realistic photographs of Vietnamese documents, with every failure mode.

It behaves like a document camera on a stand in front of a clerk: each ``capture()``
photographs the page currently under the camera; a good capture means the clerk turns to
the next page; after the last page of a document the next document is laid down (or call
``new_document()`` to move on early). Defective shots ("blurred", "glare", "cut_off"...)
show the same page again on the next capture, as a retake would. ``script`` injects those
defects and non-pages in order, ``fail_after`` / ``unplug()`` make the camera vanish, so
every branch of the capture session can be driven in tests and in the demo.
``lay_sheet()`` puts a printed sheet (a QR cover sheet or batch separator, as an image) on
top of the pile: the next good capture photographs it, then the clerk takes it away.

Like a real camera whose sensor keeps streaming, the next document frame is exposed in the
background after a capture (``stream=True``), so a pedal press gets its frame without
waiting for the renderer. The render starts once the clerk could have turned the page
(:data:`PAGE_TURN_S`, or at once when a capture or the live view asks for it) and runs at
low thread priority: a real sensor costs the CPU nothing, and the renderer must not steal
it from the preview of the page just taken. The frame is the same as a synchronous render:
every scene is a pure function of its seeds.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from drivers.camera.base import PREVIEW_MAX_WIDTH, CameraError, CameraGone, Frame
from drivers.camera.render import (
    SCENARIOS,
    doc_seed_for,
    layout_for,
    photograph_scene,
    render_frame,
    render_scene,
    render_sheet_frame,
)
from drivers.camera.render_text import default_page_count

_ADVANCING = {"document"}  # scenarios after which the clerk turns the page
#: The next page cannot be under the camera sooner than this after a capture.
PAGE_TURN_S = 0.15


class _Exposure:
    """One frame rendered ahead on a background thread (the streaming sensor)."""

    def __init__(self, key: tuple, args: tuple, delay_s: float = 0.0) -> None:
        self.key = key
        self._delay_s = delay_s
        self._go = threading.Event()
        self._done = threading.Event()
        self._result: tuple[bytes, dict] | None = None
        self._error: BaseException | None = None
        # not a daemon: interpreter exit waits for the render instead of killing it in OpenCV
        threading.Thread(target=self._run, args=args, name="sim-exposure", daemon=False).start()

    def _run(self, *args: object) -> None:
        with contextlib.suppress(OSError, AttributeError):  # lower this thread only (Linux)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        self._go.wait(self._delay_s)  # the page is being turned
        try:
            self._result = render_frame(*args)  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised in the capturing thread
            self._error = exc
        finally:
            self._done.set()

    def preview(self, width: int, min_width: int) -> np.ndarray:
        """The exposed frame for the live view, decoded at a reduced scale in libjpeg (the
        camera's low-resolution stream shows the same picture the still will have)."""
        jpeg, _truth = self.result()
        flag = cv2.IMREAD_COLOR
        for factor, reduced in (
            (8, cv2.IMREAD_REDUCED_COLOR_8),
            (4, cv2.IMREAD_REDUCED_COLOR_4),
            (2, cv2.IMREAD_REDUCED_COLOR_2),
        ):
            if width // factor >= min_width:
                flag = reduced
                break
        bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), flag)
        if bgr is None:  # our own encoder wrote it: only a corrupted render gets here
            raise CameraError("io", "cannot decode the exposed frame")
        return bgr

    def result(self) -> tuple[bytes, dict]:
        self._go.set()  # wanted now: no more waiting for the page turn
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result[0], dict(self._result[1])


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
        stream: bool = True,
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
        self._sheets: deque[tuple[np.ndarray, str]] = deque()
        self.stream = stream
        self._exposure: _Exposure | None = None

    # --- device lifecycle --------------------------------------------------------------
    def open(self) -> None:
        with self._lock:
            if not self._plugged:
                raise CameraGone("simulated camera is unplugged")
            self._open = True
            if self._exposure is None:
                self._expose_next()

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

    def lay_sheet(self, rgb: np.ndarray, label: str = "sheet") -> None:
        """Put a printed sheet (RGB, A4 aspect, e.g. a cover sheet PDF page rendered at
        150-300 dpi) on top of the pile. Sheets are photographed in the order laid, each
        until a good capture, and do not move the documents underneath."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError("a sheet is an RGB uint8 image")
        with self._lock:
            self._sheets.append((rgb, label))

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
            if self._sheets:
                rgb, label = self._sheets[0]
                jpeg, truth = render_sheet_frame(
                    rgb,
                    self.width,
                    self.height,
                    self.jpeg_quality,
                    scenario,
                    scene_seed=[self.seed, self._doc_index, self._page, self._captures],
                    label=label,
                )
                if scenario in _ADVANCING:
                    self._sheets.popleft()  # taken away once photographed
                truth["document_index"] = self._doc_index
                return Frame(jpeg, self.width, self.height, time.time(), truth)
            key, args = self._frame_args(scenario, self._captures)
            exposure, self._exposure = self._exposure, None
            if exposure is not None and exposure.key == key:
                jpeg, truth = exposure.result()
            else:
                jpeg, truth = render_frame(*args)
            truth["document_index"] = self._doc_index
            frame = Frame(jpeg, self.width, self.height, time.time(), truth)
            if scenario in _ADVANCING:
                self._page += 1
                if self._page > self.page_count:
                    self._doc_index += 1
                    self._page = 1
            self._expose_next()
            return frame

    def _frame_args(self, scenario: str, capture_no: int) -> tuple[tuple, tuple]:
        """The render of capture number ``capture_no`` of the current page: its identity
        (everything the picture depends on) and ``render_frame``'s arguments."""
        args = (
            self.doc_seed,
            self._page,
            self.doc_layout,
            self.page_count,
            self.width,
            self.height,
            self.jpeg_quality,
            scenario,
            [self.seed, self._doc_index, self._page, capture_no],
        )
        key = (*args[:8], tuple(args[8]))
        return key, args

    def _expose_next(self) -> None:
        """Start rendering what the next capture will see, unless a sheet lies on top."""
        if not self.stream or self._sheets:
            return
        key, args = self._frame_args(self._next_scenario(), self._captures + 1)
        self._exposure = _Exposure(key, args, PAGE_TURN_S)

    def preview_frame(self) -> np.ndarray:
        """The scene the next capture will photograph, 1024 px wide (cached per scene)."""
        with self._lock:
            self._check_ready()
            scenario = self._next_scenario()
            scene = [self.seed, self._doc_index, self._page, self._captures + 1]
            key = (tuple(scene), scenario, len(self._sheets))
            if self._sheets:
                width = min(PREVIEW_MAX_WIDTH, self.width)
                height = max(1, round(self.height * width / self.width))
                rng = np.random.default_rng(scene)
                photo = photograph_scene(self._sheets[0][0], rng, width, height, "document")
                return photo.bgr
            exposure = self._exposure
            if key != self._preview_key and exposure is not None:
                next_key, _args = self._frame_args(scenario, self._captures + 1)
                if exposure.key == next_key:
                    target = min(PREVIEW_MAX_WIDTH, self.width)
                    bgr = exposure.preview(self.width, target)
                    if bgr.shape[1] != target:
                        h = max(1, round(self.height * target / self.width))
                        bgr = cv2.resize(bgr, (target, h), interpolation=cv2.INTER_AREA)
                    self._preview_key, self._preview = key, bgr
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


def write_dataset(
    out_dir: Path,
    count: int,
    seed: int = 1,
    layout: str = "mixed",
    pages_per_doc: int = 1,
    width: int = 4000,
    height: int = 3000,
    jpeg_quality: int = 92,
    script: Sequence[str] | None = None,
) -> list[Path]:
    """Write ``count`` sim captures as ``frame_0001.jpg`` + ``frame_0001.truth.json`` pairs.

    Frames are exactly what ``SimCamera`` with the same arguments would capture (documents
    of ``pages_per_doc`` pages, one after another; ``script`` injects defect scenarios).
    Returns the JPEG paths in order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    camera = SimCamera(
        seed=seed,
        width=width,
        height=height,
        layout=layout,
        jpeg_quality=jpeg_quality,
        script=list(script or []),
        pages_per_doc=pages_per_doc,
    )
    camera.open()
    paths = []
    try:
        for i in range(1, count + 1):
            frame = camera.capture()
            path = out / f"frame_{i:04d}.jpg"
            path.write_bytes(frame.jpeg)
            truth_path = out / f"frame_{i:04d}.truth.json"
            truth_path.write_text(
                json.dumps(frame.truth, ensure_ascii=False, indent=1), encoding="utf-8"
            )
            paths.append(path)
    finally:
        camera.close()
    return paths
