"""The kiosk's QR reader: a Sohoa sheet's QR in a captured frame, fast enough to run on
every frame (:func:`find_qr`), and a thorough search of a still image (:func:`read_qr_texts`).

Every camera still and scanner page passes through here before it becomes a page, so the
cost is paid per page: on a 12 MP frame the budget is well under 0.1 s. How:

1. decode the JPEG at reduced scale in the DCT domain (``IMREAD_REDUCED_GRAYSCALE_N``):
   libjpeg skips most of the work, a 4000x3000 frame becomes 1000x750 grey in ~20 ms;
2. OpenCV's ArUco-based QR detector (``QRCodeDetectorAruco``) on that image: it finds the
   finder patterns as markers, which is robust to the perspective, gradient light and blur
   of a document camera, and is quick on pages that hold only text (~5 ms);
3. only when a QR was *located* but not decoded (small modules, blur) is the frame decoded
   at full resolution, and only the QR's region is searched again.

Cover sheets print large modules (:mod:`firmware.coversheet.printing`) so step 2 decodes them;
step 3 rescues small foreign QR codes and marginal shots. No other native dependency: the
detector is part of opencv-python-headless, already used by the page pipeline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from firmware.coversheet.payload import PayloadError, Sheet, decode

#: The reduced image's long side is at least this many pixels (1/2, 1/4 or 1/8 scale).
TARGET_LONG_SIDE = 850
#: Still images are searched at these widths (full size last): the detectors are quick and
#: reliable on a ~1000 px image, and a small QR far from the lens still shows at full size.
STILL_SCAN_WIDTHS = (1000, 1600, None)
#: Margin around a located QR when it is searched again at full resolution (of its size).
CROP_MARGIN = 0.35
_REDUCED = {
    1: cv2.IMREAD_GRAYSCALE,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}
_local = threading.local()


@dataclass
class QrFound:
    """What the QR search saw in one frame."""

    text: str | None  # decoded text; None when no QR was decoded
    located: bool  # a QR's finder patterns were found (even if it could not be decoded)
    path: str  # "reduced", "full" (the region at full resolution) or "none"
    reduce: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class SheetRead:
    """The verdict on one frame: a sheet, a QR that is not a usable sheet, or nothing."""

    found: QrFound
    sheet: Sheet | None = None
    error: PayloadError | None = None


def _detector() -> cv2.QRCodeDetectorAruco:
    # One per thread: OpenCV detectors keep state between calls.
    det = getattr(_local, "detector", None)
    if det is None:
        det = _local.detector = cv2.QRCodeDetectorAruco()
    return det


def _jpeg_long_side(buf: bytes) -> int | None:
    from firmware.pipeline.decode import jpeg_size

    size = jpeg_size(buf) if buf[:2] == b"\xff\xd8" else None
    return max(size) if size else None


def _reduction(long_side: int | None) -> int:
    if long_side is None:
        return 1
    for factor in (8, 4, 2):
        if long_side / factor >= TARGET_LONG_SIDE:
            return factor
    return 1


def _decode_image(buf: np.ndarray, flag: int) -> np.ndarray | None:
    try:
        img = cv2.imdecode(buf, flag)
    except cv2.error:
        return None
    return img if img is not None and img.size else None


def _read(det: cv2.QRCodeDetectorAruco, img: np.ndarray) -> tuple[str, np.ndarray | None]:
    try:
        text, points, _ = det.detectAndDecode(img)
    except cv2.error:
        return "", None
    return text or "", points


def find_qr(jpeg: bytes) -> QrFound:
    """Look for one QR code in an encoded frame (JPEG, or any format OpenCV reads)."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    raw = np.frombuffer(jpeg, np.uint8)
    reduce = _reduction(_jpeg_long_side(jpeg))
    small = _decode_image(raw, _REDUCED[reduce])
    t1 = time.perf_counter()
    timings["decode"] = t1 - t0
    if small is None:  # corrupt frame: the page pipeline reports it
        return QrFound(None, False, "none", reduce, t1 - t0, timings)
    det = _detector()
    text, points = _read(det, small)
    t2 = time.perf_counter()
    timings["detect"] = t2 - t1
    if text:
        return QrFound(text, True, "reduced", reduce, t2 - t0, timings)
    if points is None or reduce == 1:
        return QrFound(None, points is not None, "none", reduce, t2 - t0, timings)
    # A QR is there but too small or soft at this scale: read its region at full size.
    full = _decode_image(raw, cv2.IMREAD_GRAYSCALE)
    text = ""
    if full is not None:
        quad = np.asarray(points, np.float32).reshape(-1, 2) * reduce
        lo, hi = quad.min(axis=0), quad.max(axis=0)
        pad = (hi - lo).max() * CROP_MARGIN
        x0, y0 = np.maximum(0, np.floor(lo - pad)).astype(int)
        x1 = int(min(full.shape[1], np.ceil(hi[0] + pad)))
        y1 = int(min(full.shape[0], np.ceil(hi[1] + pad)))
        if x1 - x0 > 20 and y1 - y0 > 20:
            text, _ = _read(det, np.ascontiguousarray(full[y0:y1, x0:x1]))
    t3 = time.perf_counter()
    timings["full"] = t3 - t2
    return QrFound(text or None, True, "full", reduce, t3 - t0, timings)


def read_sheet(jpeg: bytes, *, types: str = "") -> SheetRead:
    """Find a QR and read it as a Sohoa sheet.

    ``sheet`` is set for a valid cover sheet or separator; ``error`` for a QR that is not
    usable (someone else's QR code, a damaged or unknown-version payload, values that break
    the metadata rules): the frame is then an ordinary page, and the caller says why.
    """
    found = find_qr(jpeg)
    if not found.text:
        return SheetRead(found)
    try:
        return SheetRead(found, sheet=decode(found.text, types=types))
    except PayloadError as exc:
        return SheetRead(found, error=exc)


def read_qr_texts(bgr: np.ndarray) -> Iterator[str]:
    """Every QR text in a still image, trying several scales (small first: fast).

    The thorough search, for an image someone hands over on purpose (``sohoa enroll --qr
    photo.png``), where a second spent on it is fine; :func:`find_qr` is the per-frame one.

    At each scale the ArUco-based detector (finder patterns found as markers, robust to
    light and perspective; the one cover sheets use) goes first, then the classic one:
    each misses some codes the other reads (measured: the classic one alone missed 5 of
    60 random tokens photographed on a desk)."""
    detectors = (cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector())
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    h, w = gray.shape[:2]
    for width in STILL_SCAN_WIDTHS:
        if width is not None and w <= width:
            continue
        img = (
            gray
            if width is None
            else cv2.resize(
                gray, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA
            )
        )
        for detector in detectors:
            ok, texts, _points, _ = detector.detectAndDecodeMulti(img)
            yield from (t for t in (texts if ok else []) if t)
            text, _pts, _ = detector.detectAndDecode(img)
            if text:
                yield text
