"""The page pipeline: camera frame -> flat, upright, archival page plus a quality verdict.

Stages, each a plain function in its own module (the way OCRmyPDF chains its steps):
``decode`` (bytes -> pixels, or :class:`CorruptFrame`) -> ``detect`` (page quad) -> ``warp``
(perspective to A4/A3/Letter at a real dpi) -> ``flatten`` (even light, colours kept) ->
``deskew`` (residual text angle) -> ``quality`` (blurred, glare, cut off, too dark, blank).

Two entry points share the analysis so they never disagree about a page:

- :func:`make_preview` runs right after the pedal press and must answer within ~0.3 s: it
  decodes the JPEG at reduced scale in the DCT domain (1/2 for a 12 MP frame), detects and
  judges the page on a small page image (``quality.ANALYSIS_DPI``) and returns a preview;
- :func:`process_page` runs in a worker process beside capture: the same analysis, then the
  quad is refined on the full-resolution frame and the page warped (with the deskew folded
  into the same homography, one resampling), flattened, at ``cfg.output_dpi``.

Quads are always in full-resolution frame pixels, TL, TR, BR, BL, so a quad from the preview
(or one the clerk dragged on the touchscreen) can be handed to :func:`process_page`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from firmware.config import PipelineConfig

from .decode import CorruptFrame, decode_frame, frame_size, jpeg_size, read_frame_bytes
from .deskew import MIN_CORRECTION, estimate_skew
from .detect import detect_page, order_quad, quad_touches_border, refine_quad
from .flatten import estimate_background, flatten
from .quality import (
    ANALYSIS_DPI,
    QualityIssue,
    QualityReport,
    assess_page,
    frame_report,
)
from .warp import choose_paper, page_size_px, scale_quad, warp_page

__all__ = [
    "CorruptFrame",
    "PageResult",
    "PreviewResult",
    "QualityIssue",
    "QualityReport",
    "decode_frame",
    "make_preview",
    "process_page",
]

#: The preview path decodes at the largest of these reductions that keeps the frame at least
#: PREVIEW_MIN_WIDTH wide (a 12 MP frame becomes 2000x1500): edges stay sharp enough to
#: place corners within a pixel or two and to judge blur.
PREVIEW_REDUCTIONS = (8, 4, 2)
PREVIEW_MIN_WIDTH = 1600


def _preview_reduce(buf: bytes) -> int:
    size = jpeg_size(buf) if buf[:3] == b"\xff\xd8\xff" else None
    if size is None:
        return 1
    for r in PREVIEW_REDUCTIONS:
        if min(size) // r >= PREVIEW_MIN_WIDTH * 3 // 4 and max(size) // r >= PREVIEW_MIN_WIDTH:
            return r
    return 1


@dataclass
class PreviewResult:
    """What the capture screen shows right after a page is captured."""

    quad: np.ndarray | None  # 4x2 float32, TL,TR,BR,BL, full-resolution pixels; None = no page
    quad_source: str  # "region" | "desk" | "contour" | "frame" | "given" | "none"
    paper: str  # "A4" | "A3" | "Letter" ("A4" when no page was found)
    preview: np.ndarray | None  # flattened page, BGR uint8, cfg.preview_width wide
    quality: QualityReport
    frame_size: tuple[int, int]  # (w, h) at full resolution
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


@dataclass
class PageResult:
    """The finished page image for OCR and the archival PDF."""

    image: np.ndarray  # flattened, deskewed page, BGR uint8, paper size at `dpi`
    dpi: int
    paper: str
    quad: np.ndarray | None
    skew_deg: float
    quality: QualityReport
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Analysis:
    """Result of detecting and judging a page on a reduced frame."""

    quad: np.ndarray | None  # full-resolution coordinates
    source: str
    paper: str
    landscape: bool
    flat: np.ndarray | None  # flattened page at ANALYSIS_DPI, not deskewed
    background: np.ndarray | None  # per-channel paper estimate (see flatten.py)
    skew_deg: float
    quality: QualityReport


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._t0 = self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self._last
        self._last = now

    def total(self) -> dict[str, float]:
        self.timings["total"] = time.perf_counter() - self._t0
        return self.timings


def _px_per_mm(cfg: PipelineConfig) -> float:
    # Optional calibration (frame pixels per millimetre on the copy stand) to tell A3 from A4.
    return float(cfg.frame_px_per_mm)


def _fill_outside_frame(raw: np.ndarray, frame_hw: tuple[int, int], quad: np.ndarray) -> None:
    """Paint the part of a cut-off page that lies outside the frame as plain paper.

    It is unknown, not black ink: left black it would count as ink, as a hard edge for the
    blur measure and as a dark paper level. (The preview still shows it black.)
    """
    h, w = frame_hw
    inside = warp_page(np.full((h, w), 255, np.uint8), quad, (raw.shape[1], raw.shape[0]))
    inside = cv2.erode(inside, np.ones((5, 5), np.uint8)) > 0
    if inside.any() and not inside.all():
        raw[~inside] = np.median(raw[inside], axis=0).astype(np.uint8)


def scanned_page_quad(small: np.ndarray, reduce: int, size: tuple[int, int]) -> np.ndarray:
    """The page on a scanner's image: the whole image, unless a page clearly smaller than
    the glass lies on it (then crop to that page)."""
    w, h = size
    whole = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    det = detect_page(small)
    if det.quad is None or det.cut_off or det.source == "frame":
        return whole
    quad = scale_quad(det.quad, reduce)
    if cv2.contourArea(quad.astype(np.float32)) > SCANNED_CROP_MAX_AREA * w * h:
        return whole
    return quad


#: A page found on a scan is cropped only if it covers less than this share of the glass.
SCANNED_CROP_MAX_AREA = 0.85


def _analyse(
    small: np.ndarray,
    reduce: int,
    size: tuple[int, int],
    cfg: PipelineConfig,
    clock: _Clock,
    quad: np.ndarray | None = None,
    scan_dpi: int | None = None,
) -> _Analysis:
    """Detect (unless ``quad`` is given), warp, flatten and judge the page on ``small``.

    ``scan_dpi``: the frame comes from a scanner at that resolution. The glass is the
    frame, so there is no perspective and nothing is "cut off"; the page is cropped only
    when it is clearly smaller than the glass, and its physical size is known.
    """
    px_per_mm = _px_per_mm(cfg)
    if scan_dpi:
        px_per_mm = scan_dpi / 25.4
        if quad is None:
            quad = scanned_page_quad(small, reduce, size)
            clock.lap("detect")
        full_quad = np.asarray(quad, np.float32).reshape(4, 2)
        source, cut_off = "scanner", False
    elif quad is None:
        det = detect_page(small)
        clock.lap("detect")
        if det.quad is None:
            gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
            level = float(np.median(gray))
            brightest = float(np.percentile(gray, 99.5))
            report = frame_report("no_page", {"brightness": level, "brightest": brightest})
            if brightest < cfg.dark_threshold:
                # Nothing in view is as bright as acceptable paper (lens covered, lamp off,
                # or a page too dim to be found): say so, not only "no page".
                report.issues.append(QualityIssue.make("too_dark", "error", brightest))
            return _Analysis(None, det.source, "A4", False, None, None, 0.0, report)
        full_quad = scale_quad(det.quad, reduce)
        source, cut_off = det.source, det.cut_off
    else:
        full_quad = np.asarray(quad, np.float32).reshape(4, 2)
        source, cut_off = "given", quad_touches_border(full_quad, size)
    paper, landscape = choose_paper(full_quad, px_per_mm)
    page_size = page_size_px(paper, landscape, ANALYSIS_DPI)
    small_quad = scale_quad(full_quad, 1.0 / reduce)
    raw = warp_page(small, small_quad, page_size)
    if cut_off:
        _fill_outside_frame(raw, small.shape[:2], small_quad)
    clock.lap("warp")
    background = estimate_background(raw)
    flat = flatten(raw, background)
    clock.lap("flatten")
    report = assess_page(raw, flat, background, cfg, cut_off=cut_off)
    if scan_dpi:
        # A scanner lights the page evenly from below: its white paper is meant to clip at
        # 255, which is not the specular glare of a lamp on a photographed page.
        report.issues = [i for i in report.issues if i.code != "glare"]
    clock.lap("quality")
    skew = estimate_skew(cv2.cvtColor(flat, cv2.COLOR_BGR2GRAY))
    clock.lap("deskew")
    return _Analysis(full_quad, source, paper, landscape, flat, background, skew, report)


def make_preview(
    frame: bytes | Path, cfg: PipelineConfig, *, scan_dpi: int | None = None
) -> PreviewResult:
    """Detect, flatten and judge a captured frame quickly, for the clerk's feedback.

    Never raises for bad frames: a corrupt frame gives ``quality`` with ``corrupt``, a frame
    without a page gives ``quad=None`` and ``no_page``.
    """
    clock = _Clock()
    try:
        buf = read_frame_bytes(frame)
        reduce = _preview_reduce(buf)
        small = decode_frame(buf, reduce)
    except CorruptFrame:
        clock.lap("decode")
        return PreviewResult(
            None, "none", "A4", None, frame_report("corrupt"), (0, 0), clock.total()
        )
    size = frame_size(buf, small, reduce)
    clock.lap("decode")
    an = _analyse(small, reduce, size, cfg, clock, scan_dpi=scan_dpi)
    preview = None
    if an.quad is not None and an.background is not None:
        pw, ph = page_size_px(an.paper, an.landscape, ANALYSIS_DPI)
        out = (cfg.preview_width, max(1, round(ph * cfg.preview_width / pw)))
        skew = an.skew_deg if abs(an.skew_deg) > MIN_CORRECTION else 0.0
        raw = warp_page(small, scale_quad(an.quad, 1.0 / reduce), out, rotate_deg=-skew)
        preview = flatten(raw, an.background)
        clock.lap("preview")
    return PreviewResult(an.quad, an.source, an.paper, preview, an.quality, size, clock.total())


def process_page(
    frame: bytes | Path,
    cfg: PipelineConfig,
    quad: np.ndarray | None = None,
    *,
    scan_dpi: int | None = None,
) -> PageResult:
    """Produce the full-resolution flattened, deskewed page at ``cfg.output_dpi``.

    ``quad`` (full-resolution pixels, TL,TR,BR,BL) is used as given, e.g. the preview's or one
    corrected by the clerk; without it the page is detected and its corners refined on the
    full frame. If no page is found the whole frame is used and the report says ``no_page``.
    Raises :class:`CorruptFrame` for an unusable frame.
    """
    clock = _Clock()
    buf = read_frame_bytes(frame)
    reduce = _preview_reduce(buf)
    full = decode_frame(buf, 1)
    small = decode_frame(buf, reduce) if reduce > 1 else full
    size = (full.shape[1], full.shape[0])
    clock.lap("decode")
    an = _analyse(small, reduce, size, cfg, clock, quad, scan_dpi=scan_dpi)
    page_quad = an.quad
    if page_quad is None:
        w, h = size
        page_quad = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    elif quad is None and an.source not in ("frame", "scanner"):
        r = 3.0 * reduce
        page_quad, _ = refine_quad(full, page_quad, r)
        page_quad, _ = refine_quad(full, page_quad, max(2.0, r / 2))
        page_quad = order_quad(page_quad)
        clock.lap("refine")
    paper, landscape = (an.paper, an.landscape) if an.quad is not None else choose_paper(page_quad)
    out_size = page_size_px(paper, landscape, cfg.output_dpi)
    skew = an.skew_deg if abs(an.skew_deg) > MIN_CORRECTION else 0.0
    page = warp_page(full, page_quad, out_size, rotate_deg=-skew)
    del full, small  # the 12 MP frame is not needed any more: free it before flattening
    clock.lap("warp_full")
    image = flatten(page)
    del page
    clock.lap("flatten_full")
    return PageResult(
        image=image,
        dpi=cfg.output_dpi,
        paper=paper,
        quad=an.quad if an.quad is None else page_quad,
        skew_deg=skew,
        quality=an.quality,
        timings=clock.total(),
    )
