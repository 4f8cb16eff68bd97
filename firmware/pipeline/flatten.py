"""Stage 4: even out the light on the page while keeping its colours.

A camera on a stand sees a lamp's fall-off, the shadow of the stand and a colour cast; the
archive wants white paper with red seals still red and blue signatures still blue. So the
paper ("background") is estimated per colour channel on a small copy of the page: a
morphological closing removes text, strokes and the thin lines of a seal (they are darker
than the paper in at least one channel), a blur smooths the result. Each channel is then
divided by its background, which makes the paper 1.0 in every channel (neutral white, the
colour cast goes away) and leaves coloured ink coloured. A gentle levels stretch maps paper
to 255 and near-black ink to 0; flat white paper also compresses well in JPEG.

Solid dark areas larger than the closing kernel (about 15 mm: photos, black bars) count as
background and are lightened; archival letters and decisions have none.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Width in pixels of the copy on which the background is estimated (about 1 px/mm on A4).
BACKGROUND_WIDTH = 210
#: Closing kernel on that copy; larger than any stroke, seal ring or letter.
CLOSE_KERNEL = 15
#: Ratio to the paper above which a pixel becomes pure white.
WHITE_POINT = 0.92
#: Ratio to the paper at or below which a pixel becomes black.
BLACK_POINT = 0.12


def _levels_lut() -> np.ndarray:
    """LUT from the divided value (ratio * 255 / WHITE_POINT, saturated) to output level."""
    x = np.arange(256, dtype=np.float64) * WHITE_POINT / 255.0
    y = np.clip((x - BLACK_POINT) / (WHITE_POINT - BLACK_POINT), 0, 1) * 255.0
    return np.round(y).astype(np.uint8)


_LUT = _levels_lut()


def estimate_background(page: np.ndarray) -> np.ndarray:
    """Per-channel paper colour on a small copy (about BACKGROUND_WIDTH wide), uint8 >= 1."""
    h, w = page.shape[:2]
    sw = min(w, BACKGROUND_WIDTH)
    sh = max(1, round(h * sw / w))
    small = cv2.resize(page, (sw, sh), interpolation=cv2.INTER_AREA)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (CLOSE_KERNEL, CLOSE_KERNEL))
    bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)
    bg = cv2.GaussianBlur(bg, (0, 0), CLOSE_KERNEL / 3)
    return np.maximum(bg, 1)


def flatten(page: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """Return the page with uniform white paper and its ink colours kept (BGR uint8)."""
    h, w = page.shape[:2]
    if background is None:
        background = estimate_background(page)
    bg = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
    # In place on the one full-size buffer: at 300 dpi every copy of an A4 page is 26 MB,
    # and a worker on a 2 GB Pi must not hold four of them at once.
    cv2.divide(page, bg, dst=bg, scale=255.0 / WHITE_POINT)
    return cv2.LUT(bg, _LUT, dst=bg)
