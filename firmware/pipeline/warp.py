"""Stage 3: map the page quad onto an upright rectangle of a real paper size.

Archival rules want the digitized copy at 100 % scale, so the output is not "whatever size
the quad happened to be" but the paper's size at the requested dpi (A4 at 300 dpi is
2480x3508). The paper is chosen from the quad's aspect ratio: A4 and A3 share the ratio
sqrt(2) and can only be told apart by physical size, which needs the camera's scale
(pixels per millimetre on the copy stand); without it a sqrt(2) page is A4.

A residual rotation (deskew) can be folded into the same homography, so the full-resolution
page is resampled once instead of twice.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .detect import quad_sides

#: Paper sizes in millimetres, portrait (width, height).
PAPERS_MM: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "A3": (297.0, 420.0),
    "Letter": (215.9, 279.4),
}


def choose_paper(quad: np.ndarray, px_per_mm: float = 0.0) -> tuple[str, bool]:
    """(paper name, landscape?) for a TL,TR,BR,BL quad.

    The ratio of mean opposite sides is compared on a log scale with sqrt(2) (A4/A3) and
    11/8.5 (Letter). ``px_per_mm`` (frame pixels per millimetre at the page plane, 0 =
    unknown) separates A3 from A4.
    """
    w, h = quad_sides(quad)
    landscape = w > h
    ratio = max(w, h) / max(1e-6, min(w, h))
    iso = math.sqrt(2.0)
    letter = 279.4 / 215.9
    name = "Letter" if abs(math.log(ratio / letter)) < abs(math.log(ratio / iso)) else "A4"
    if name == "A4" and px_per_mm > 0 and max(w, h) / px_per_mm > (297.0 + 420.0) / 2:
        name = "A3"
    return name, landscape


def page_size_px(paper: str, landscape: bool, dpi: float) -> tuple[int, int]:
    """(width, height) in pixels of ``paper`` at ``dpi``."""
    wmm, hmm = PAPERS_MM[paper]
    w, h = round(wmm / 25.4 * dpi), round(hmm / 25.4 * dpi)
    return (h, w) if landscape else (w, h)


def page_homography(quad: np.ndarray, size: tuple[int, int], rotate_deg: float = 0.0) -> np.ndarray:
    """Homography from frame pixels (of ``quad``) to an output page of ``size`` (w, h).

    ``rotate_deg`` then rotates the page content about its centre, counter-clockwise on
    screen for positive values (the convention of ``cv2.getRotationMatrix2D``).
    """
    w, h = size
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32) - 0.5
    hmat = cv2.getPerspectiveTransform(np.asarray(quad, np.float32), dst)
    if rotate_deg:
        rot = np.eye(3)
        rot[:2] = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), rotate_deg, 1.0)
        hmat = rot @ hmat
    return hmat


def scale_quad(quad: np.ndarray, factor: float) -> np.ndarray:
    """Map a quad between pixel grids whose pixels are ``factor`` times smaller.

    Pixel centres, not corners, are mapped: (x + 0.5) * f - 0.5, which is how libjpeg's
    reduced decoding and ``INTER_AREA`` relate the grids.
    """
    return ((np.asarray(quad, np.float64) + 0.5) * factor - 0.5).astype(np.float32)


def warp_page(
    img: np.ndarray,
    quad: np.ndarray,
    size: tuple[int, int],
    rotate_deg: float = 0.0,
) -> np.ndarray:
    """Warp the page inside ``quad`` (in ``img`` pixels) to an upright image of ``size``.

    Parts of the page outside the frame come out black, so a cut-off corner is visible in
    the preview instead of being smeared over.
    """
    hmat = page_homography(quad, size, rotate_deg)
    return cv2.warpPerspective(
        img, hmat, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
