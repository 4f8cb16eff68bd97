"""Stage 5: measure the small rotation left after the perspective warp.

The quad's sides fix most of the rotation, but a page lying askew on a crooked copy, or a
page whose text is not parallel to its edges (photocopies), keeps a residual angle that hurts
OCR line finding. Text lines are horizontal runs of ink, so the horizontal projection of the
ink pixels is sharpest (largest sum of squared bin counts) when projected along the true text
direction. Projecting point coordinates (not rotating images) makes each trial angle cost a
single ``bincount``; a coarse scan then a fine one gives ~0.05 degree resolution.
"""

from __future__ import annotations

import numpy as np

#: Largest residual angle searched, degrees.
MAX_ANGLE = 8.0
#: Below this magnitude no correction is applied (resampling costs more than it gains).
MIN_CORRECTION = 0.2
#: Ink pixels kept for the projection (random subsample above this).
MAX_POINTS = 60_000


def _score(xs: np.ndarray, ys: np.ndarray, angle_deg: float) -> float:
    a = np.radians(angle_deg)
    proj = ys * np.cos(a) + xs * np.sin(a)
    bins = np.bincount(np.round(proj - proj.min()).astype(np.int64))
    return float(np.dot(bins, bins))


def estimate_skew(gray: np.ndarray, ink_level: int = 128) -> float:
    """Angle in degrees by which the text is rotated counter-clockwise on screen.

    Rotating the page by ``-angle`` (``cv2.getRotationMatrix2D`` convention) straightens it.
    Returns 0.0 when there is too little ink, or no line structure, to decide.
    """
    h, w = gray.shape[:2]
    my, mx = int(0.04 * h), int(0.04 * w)  # page edges and their shadows are not text
    ys, xs = np.nonzero(gray[my : h - my, mx : w - mx] < ink_level)
    if len(xs) < 300:
        return 0.0
    if len(xs) > MAX_POINTS:
        pick = np.random.default_rng(0).choice(len(xs), MAX_POINTS, replace=False)
        xs, ys = xs[pick], ys[pick]
    xs = xs.astype(np.float64) - w / 2
    ys = ys.astype(np.float64)
    coarse = np.arange(-MAX_ANGLE, MAX_ANGLE + 1e-9, 0.5)
    scores = np.array([_score(xs, ys, a) for a in coarse])
    if scores.max() < 1.15 * np.median(scores):
        return 0.0  # no dominant line direction (a drawing, a photo, a blank page)
    best = float(coarse[int(np.argmax(scores))])
    fine = np.arange(best - 0.5, best + 0.5 + 1e-9, 0.05)
    scores = np.array([_score(xs, ys, a) for a in fine])
    return round(float(fine[int(np.argmax(scores))]), 2)
