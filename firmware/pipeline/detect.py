"""Stage 2: find the page (a quadrilateral) in a camera frame.

Several cheap candidate regions are proposed, because no single cue survives every desk:
- "region": the paper is the whitest thing in view (min of B, G, R is high for white paper,
  low for wood, skin and dark desks);
- "desk": the paper differs in colour from the desk, whose colour is read on the frame's
  border (works on light desks where "whitest" fails);
- "contour": the area enclosed by Canny edges, for low-contrast desks.
Each region's convex hull is reduced to four sides by extending its long edges (so a thumb
over a corner, or a corner outside the frame, does not bend the quad), then every side is
re-fitted to the actual edge: the gradient peak is searched along the side's normal, with
sub-pixel interpolation, and a robust (Huber) line is fitted through the peaks; corners are
the intersections of adjacent lines. The fraction of each side backed by a real edge
("support") ranks the candidates and rejects desks, hands and black frames, together with
checks that a page is paper-coloured, roughly rectangular and large enough.

Everything here works on a reduced image (the preview decodes at 1/2 scale); the caller maps
the quad to full resolution and may call :func:`refine_quad` again on the full frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Long side of the image on which candidate regions are segmented.
WORK_LONG_SIDE = 512
#: A page must cover at least this fraction of the frame.
MIN_AREA_FRACTION = 0.06
#: Mean fraction of the visible sides that must lie on a real edge.
MIN_SUPPORT = 0.55
#: Median HSV saturation (0-255) above which the "page" is not paper (skin, wood).
MAX_PAPER_SATURATION = 75
#: Median brightness (0-255) below which nothing is called a page (black frame, lens cap).
MIN_PAPER_VALUE = 20
#: Frames whose brightest pixels stay below this are stretched before edge fitting.
DIM_FRAME_LEVEL = 120.0
MAX_DIM_GAIN = 6.0
#: Distance from the frame border, as a fraction of the frame side, that counts as touching.
BORDER_MARGIN = 0.004


@dataclass
class Detection:
    """A detected page in the coordinates of the analysed image."""

    quad: np.ndarray | None  # 4x2 float32, TL, TR, BR, BL; None = no page
    source: str  # "region" | "desk" | "contour" | "frame" | "none"
    support: float  # 0..1, fraction of the perimeter lying on a detected edge
    cut_off: bool  # the page crosses or touches the frame border


# --- geometry helpers -------------------------------------------------------------------


def order_quad(pts: np.ndarray) -> np.ndarray:
    """Order four points clockwise (on screen) starting at the top-left one."""
    pts = np.asarray(pts, np.float64).reshape(4, 2)
    c = pts.mean(axis=0)
    ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    pts = pts[np.argsort(ang)]  # clockwise on screen (y points down)
    start = int(np.argmin(pts.sum(axis=1)))
    return np.roll(pts, -start, axis=0).astype(np.float32)


def _cross(u: np.ndarray, v: np.ndarray) -> float:
    return float(u[0] * v[1] - u[1] * v[0])


def _line_intersection(p1, d1, p2, d2) -> tuple[np.ndarray, float, float] | None:
    """Intersection of p1 + t d1 and p2 + u d2; None if (nearly) parallel."""
    a = np.array([[d1[0], -d2[0]], [d1[1], -d2[1]]], np.float64)
    det = np.linalg.det(a)
    if abs(det) < 1e-9:
        return None
    t, u = np.linalg.solve(a, np.asarray(p2, np.float64) - np.asarray(p1, np.float64))
    return np.asarray(p1, np.float64) + t * np.asarray(d1, np.float64), float(t), float(u)


def reduce_to_quad(poly: np.ndarray) -> np.ndarray | None:
    """Reduce a convex polygon to a quadrilateral that encloses it with the least added area.

    Removing a short edge by extending its two neighbours to their intersection restores a
    corner hidden by a thumb, clipped by the frame or rounded by the segmentation.
    """
    p = [np.asarray(v, np.float64) for v in np.asarray(poly).reshape(-1, 2)]
    while len(p) > 4:
        n = len(p)
        best: tuple[float, int, np.ndarray] | None = None
        for i in range(n):
            a, b, c, d = p[i - 1], p[i], p[(i + 1) % n], p[(i + 2) % n]
            hit = _line_intersection(b, b - a, c, c - d)
            if hit is None:
                continue
            x, t, u = hit
            if t <= 0 or u <= 0:
                continue
            added = 0.5 * abs((c[0] - b[0]) * (x[1] - b[1]) - (x[0] - b[0]) * (c[1] - b[1]))
            if best is None or added < best[0]:
                best = (added, i, x)
        if best is None:  # no edge can be removed by extension: drop the flattest vertex
            areas = [abs(_cross(p[i] - p[i - 1], p[(i + 1) % n] - p[i - 1])) for i in range(n)]
            del p[int(np.argmin(areas))]
            continue
        _, i, x = best
        j = (i + 1) % n
        p[i] = x
        del p[j]
    if len(p) < 4:
        return None
    return order_quad(np.array(p))


def quad_angles_ok(quad: np.ndarray, tol_deg: float = 40.0) -> bool:
    """Convex with every interior angle within ``tol_deg`` of 90 degrees."""
    q = np.asarray(quad, np.float64)
    signs = []
    for i in range(4):
        a, b, c = q[i - 1], q[i], q[(i + 1) % 4]
        v1, v2 = a - b, c - b
        n1, n2 = np.linalg.norm(v1), np.linalg.norm(v2)
        if n1 < 1 or n2 < 1:
            return False
        ang = np.degrees(np.arccos(np.clip(np.dot(v1, v2) / (n1 * n2), -1, 1)))
        if abs(ang - 90) > tol_deg:
            return False
        signs.append(np.sign(_cross(b - a, c - b)))
    return len(set(signs)) == 1


def quad_sides(quad: np.ndarray) -> tuple[float, float]:
    """Mean (width, height) of a TL,TR,BR,BL quad: averages of opposite sides."""
    q = np.asarray(quad, np.float64)
    w = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    h = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
    return float(w), float(h)


def quad_touches_border(quad: np.ndarray, size: tuple[int, int]) -> bool:
    """True if any corner lies outside the frame or within the border margin."""
    w, h = size
    mx, my = BORDER_MARGIN * w, BORDER_MARGIN * h
    q = np.asarray(quad)
    return bool(
        (q[:, 0] < mx).any()
        or (q[:, 0] > w - 1 - mx).any()
        or (q[:, 1] < my).any()
        or (q[:, 1] > h - 1 - my).any()
    )


# --- edge refinement ----------------------------------------------------------------------


def _profile_gray(samples: np.ndarray) -> np.ndarray:
    if samples.ndim == 3:
        return samples @ np.array([0.114, 0.587, 0.299], np.float32)
    return samples


@dataclass
class SideFit:
    """How well each side of a refined quad is backed by an edge in the image."""

    support: np.ndarray  # per side: fraction of its visible samples on a clear edge
    visible: np.ndarray  # per side: fraction of its samples inside the frame


def _fit_line(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust line through ``pts``: (point, direction, inlier mask) after trimming."""
    keep = np.ones(len(pts), bool)
    for _ in range(3):  # runs at least once: p0 and d are always set
        vx, vy, x0, y0 = cv2.fitLine(
            pts[keep].astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01
        ).ravel()
        d = np.array([vx, vy], np.float64)
        p0 = np.array([x0, y0], np.float64)
        res = np.abs((pts - p0) @ np.array([-d[1], d[0]]))
        new_keep = res < max(1.0, 2.5 * float(np.median(res[keep])))
        if new_keep.sum() < 6:
            break
        keep = new_keep
    return p0, d, keep


def refine_quad(
    img: np.ndarray, quad: np.ndarray, radius: float, samples: int = 48
) -> tuple[np.ndarray, SideFit]:
    """Move each side of ``quad`` onto the strongest nearby straight edge of ``img``.

    Along each side, grey profiles across it (averaged over a few pixels along it, against
    noise) are searched for the gradient peak within ``radius``; the peak position is
    interpolated to sub-pixel and a robust line is fitted through the peaks. A sample
    "supports" the side if its peak stands well above the profile's noise and lies on the
    fitted line, so a noisy dark frame or a wood grain cannot fake an edge. Sides with little
    support (a hand over them, outside the frame) keep their original line. ``img`` may be
    BGR or grey; only thin strips are sampled, so this is cheap even on a 12 MP frame.
    """
    h, w = img.shape[:2]
    q = np.asarray(quad, np.float64)
    centre = q.mean(axis=0)
    r = max(2, int(np.ceil(radius)))
    offs = np.arange(-r, r + 1, dtype=np.float64)
    along = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    lines: list[tuple[np.ndarray, np.ndarray]] = []
    support, visible = np.zeros(4), np.zeros(4)
    for k in range(4):
        a, b = q[k], q[(k + 1) % 4]
        d = (b - a) / max(float(np.linalg.norm(b - a)), 1e-9)
        n = np.array([d[1], -d[0]])
        if np.dot((a + b) / 2 - centre, n) < 0:
            n = -n  # outward
        lines.append((a, d))
        t = np.linspace(0.06, 0.94, samples)
        base = a[None, :] + t[:, None] * (b - a)[None, :]
        inside = (
            (base[:, 0] >= r + 3)
            & (base[:, 0] < w - r - 4)
            & (base[:, 1] >= r + 3)
            & (base[:, 1] < h - r - 4)
        )
        visible[k] = inside.mean()
        if inside.sum() < 6:
            continue
        base = base[inside]
        pts = (
            base[:, None, None, :] + offs[None, :, None, None] * n + along[None, None, :, None] * d
        )
        flat = pts.reshape(len(base), -1, 2).astype(np.float32)
        prof = cv2.remap(
            img, flat[..., 0], flat[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        prof = _profile_gray(prof.astype(np.float32)).reshape(len(base), len(offs), -1)
        prof = prof.mean(axis=2)
        grad = np.zeros_like(prof)
        grad[:, 1:-1] = (prof[:, 2:] - prof[:, :-2]) / 2
        # Paper may be brighter (dark desk) or darker (white desk) than outside: use the
        # sign that dominates this side.
        rows = np.arange(len(grad))
        sign = np.sign(np.median(grad[rows, np.argmax(np.abs(grad), axis=1)])) or -1.0
        g = grad * sign
        # Noise of the gradient, from second differences: a (blurred) edge is smooth and
        # barely shows in them, pixel noise does (sigma_grad = sigma_d2 / sqrt(12)).
        d2 = prof[:, 2:] - 2 * prof[:, 1:-1] + prof[:, :-2]
        noise = 1.4826 * float(np.median(np.abs(d2 - np.median(d2)))) / math.sqrt(12.0)
        idx = np.clip(np.argmax(g, axis=1), 1, len(offs) - 2)
        peak = g[rows, idx]
        g0, g1, g2 = g[rows, idx - 1], g[rows, idx], g[rows, idx + 1]
        denom = g0 - 2 * g1 + g2
        frac = np.clip(
            np.where(denom < -1e-6, 0.5 * (g0 - g2) / np.minimum(denom, -1e-6), 0), -0.5, 0.5
        )
        strong = peak > max(3.0, 5.0 * noise, 0.3 * float(np.median(peak)))
        strong &= (idx > 1) & (idx < len(offs) - 2)  # a peak at the window edge is no edge
        if strong.sum() < max(6, 0.25 * len(base)):
            continue
        found = base[strong] + ((offs[idx] + frac)[strong])[:, None] * n[None, :]
        p0, dd, inliers = _fit_line(found)
        support[k] = inliers.sum() / len(base)
        lines[k] = (p0, dd)
    corners = []
    for k in range(4):
        p_prev, d_prev = lines[k - 1]
        p_cur, d_cur = lines[k]
        hit = _line_intersection(p_prev, d_prev, p_cur, d_cur)
        corners.append(q[k] if hit is None else hit[0])
    return np.asarray(corners, np.float32), SideFit(support, visible)


# --- candidate regions ---------------------------------------------------------------------


def _largest_regions(mask: np.ndarray, min_area: float, count: int = 2) -> list[np.ndarray]:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contours = [c for c in contours if cv2.contourArea(c) >= min_area]
    contours.sort(key=cv2.contourArea, reverse=True)
    return contours[:count]


def _quad_from_contour(contour: np.ndarray) -> np.ndarray | None:
    hull = cv2.convexHull(contour)
    peri = cv2.arcLength(hull, True)
    poly = cv2.approxPolyDP(hull, 0.006 * peri, True)
    if len(poly) < 4:
        return None
    return reduce_to_quad(poly.reshape(-1, 2))


def _candidate_masks(work: np.ndarray) -> list[tuple[str, np.ndarray]]:
    h, w = work.shape[:2]
    k_small = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    blurred = cv2.GaussianBlur(work, (5, 5), 0)
    out: list[tuple[str, np.ndarray]] = []

    # Paper is grey-white: hands, wood and coloured folders are saturated. Every mask is
    # limited to unsaturated pixels so a hand on the page never joins the page region.
    hsv = cv2.cvtColor(blurred, cv2.COLOR_BGR2HSV)
    grey = (hsv[..., 1] <= MAX_PAPER_SATURATION).astype(np.uint8) * 255

    whiteness = cv2.min(cv2.min(blurred[..., 0], blurred[..., 1]), blurred[..., 2])
    _, m = cv2.threshold(whiteness, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    out.append(("region", m))

    lab = cv2.cvtColor(blurred, cv2.COLOR_BGR2LAB).astype(np.float32)
    b = max(2, int(0.03 * min(h, w)))
    border = np.concatenate(
        [
            lab[:b].reshape(-1, 3),
            lab[-b:].reshape(-1, 3),
            lab[:, :b].reshape(-1, 3),
            lab[:, -b:].reshape(-1, 3),
        ]
    )
    desk = np.median(border, axis=0)
    dist = np.sqrt(((lab - desk) ** 2).sum(axis=2))
    dist8 = np.clip(dist * (255.0 / max(float(dist.max()), 1.0)), 0, 255).astype(np.uint8)
    _, m = cv2.threshold(dist8, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    out.append(("desk", m))

    gray = cv2.cvtColor(blurred, cv2.COLOR_BGR2GRAY)
    med = float(np.median(gray))
    edges = cv2.Canny(gray, max(10, 0.33 * med), max(30, 0.66 * med))
    edges = cv2.dilate(edges, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    flood = edges.copy()
    ffmask = np.zeros((h + 2, w + 2), np.uint8)
    for x, y in (
        (0, 0),
        (w - 1, 0),
        (0, h - 1),
        (w - 1, h - 1),
        (w // 2, 0),
        (w // 2, h - 1),
        (0, h // 2),
        (w - 1, h // 2),
    ):
        if flood[y, x] == 0:
            cv2.floodFill(flood, ffmask, (x, y), 128)
    m = np.where(flood == 128, 0, 255).astype(np.uint8)
    out.append(("contour", m))

    cleaned = []
    for name, m in out:
        m = cv2.bitwise_and(m, grey)
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, k_small)
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, k_small)
        cleaned.append((name, m))
    return cleaned


def _paper_like(hsv: np.ndarray, quad: np.ndarray) -> tuple[bool, float, float]:
    """Is the inside of ``quad`` (in ``hsv`` pixels) paper-coloured? (ok, median S, median V)"""
    c = quad.mean(axis=0)
    inner = np.round(c + 0.8 * (quad - c)).astype(np.int32)
    mask = np.zeros(hsv.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, inner, 255)
    if not mask.any():
        return False, 255.0, 0.0
    sel = hsv[mask > 0]
    s, v = float(np.median(sel[:, 1])), float(np.median(sel[:, 2]))
    return s <= MAX_PAPER_SATURATION and v >= MIN_PAPER_VALUE, s, v


def _frame_is_page(img: np.ndarray) -> bool:
    """The page fills the whole frame: paper-coloured everywhere, with some ink.

    The frame's border must look like its centre, so a light desk around an undetected page
    is not mistaken for a page filling the view.
    """
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    s, v = hsv[..., 1], hsv[..., 2]
    if ((s < MAX_PAPER_SATURATION) & (v > 90)).mean() < 0.9:
        return False
    h, w = img.shape[:2]
    b = max(2, int(0.03 * min(h, w)))
    lab = cv2.cvtColor(cv2.medianBlur(img, 5), cv2.COLOR_BGR2LAB).astype(np.float32)
    border = np.concatenate(
        [
            lab[:b].reshape(-1, 3),
            lab[-b:].reshape(-1, 3),
            lab[:, :b].reshape(-1, 3),
            lab[:, -b:].reshape(-1, 3),
        ]
    )
    centre = lab[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(-1, 3)
    if np.linalg.norm(np.median(border, axis=0) - np.median(centre, axis=0)) > 12:
        return False
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    bg = cv2.medianBlur(gray, 11)
    ink = (gray.astype(np.int16) < bg.astype(np.int16) - 40).mean()
    return bool(ink > 0.002)


def detect_page(img: np.ndarray) -> Detection:
    """Find the page in a BGR image (any size; ~1000 px wide is the intended input)."""
    h, w = img.shape[:2]
    scale = min(1.0, WORK_LONG_SIDE / max(h, w))
    work = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    wh, ww = work.shape[:2]
    min_area = MIN_AREA_FRACTION * wh * ww
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    bright = float(np.percentile(cv2.cvtColor(work, cv2.COLOR_BGR2GRAY), 99.5))
    if bright < DIM_FRAME_LEVEL:
        # An under-exposed frame: stretch it so the edge thresholds keep their meaning and
        # the page is still found (and then reported as too dark, not as missing).
        gray = cv2.convertScaleAbs(gray, alpha=min(MAX_DIM_GAIN, 200.0 / max(bright, 1.0)))
    work_hsv = cv2.cvtColor(work, cv2.COLOR_BGR2HSV)
    radius = max(3.0, 0.012 * max(h, w))

    best: tuple[float, Detection] | None = None
    seen: list[np.ndarray] = []
    for name, mask in _candidate_masks(work):
        for contour in _largest_regions(mask, min_area):
            q = _quad_from_contour(contour)
            if q is None:
                continue
            q = ((q + 0.5) / scale - 0.5).astype(np.float32)
            if any(np.abs(q - s).max() < 0.01 * max(h, w) for s in seen):
                continue
            seen.append(q)
            q, _ = refine_quad(gray, q, radius)
            q, fit = refine_quad(gray, q, max(2.0, radius / 3))
            q = order_quad(q)
            if not quad_angles_ok(q):
                continue
            qw, qh = quad_sides(q)
            ratio = max(qw, qh) / max(1e-6, min(qw, qh))
            area = cv2.contourArea(q) / (h * w)
            if not (1.08 <= ratio <= 1.9) or area < MIN_AREA_FRACTION or area > 1.6:
                continue
            paper, _, _ = _paper_like(work_hsv, (q + 0.5) * scale - 0.5)
            if not paper:
                continue
            # Sides mostly outside the frame (a cut-off page) cannot be checked; at least two
            # sides must be seen, and all but one seen side (a hand may cover it) backed.
            in_view = fit.visible >= 0.5
            if in_view.sum() < 2:
                continue
            sup = fit.support[in_view]
            support = float(sup.mean())
            if support < MIN_SUPPORT or (sup >= 0.3).sum() < max(2, in_view.sum() - 1):
                continue
            cut = bool((~in_view).any()) or quad_touches_border(q, (w, h))
            det = Detection(q, name, support, cut)
            score = support + 0.3 * min(area, 1.0)
            if best is None or score > best[0]:
                best = (score, det)
    if best is not None:
        return best[1]
    if _frame_is_page(work):
        q = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
        return Detection(q, "frame", 0.0, True)
    return Detection(None, "none", 0.0, False)
