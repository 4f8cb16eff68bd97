"""Surfaces and skin for the simulated photographs: desks under the page, hands over it.

The page detector's hardest inputs are not clean pages but what is around them: wood grain
with strong straight lines, a light desk nearly as bright as paper, a dark desk, a thumb on
the edge of the sheet, a hand with no page at all. Textures are generated at a quarter of
the frame resolution and upscaled, which is both fast and physically fair (the desk is
slightly below the focal plane of a document camera).
"""

from __future__ import annotations

from typing import Any, cast

import cv2
import numpy as np
from numpy.typing import NDArray

DESK_KINDS = ("wood", "dark", "light")


def _lowres_noise(
    rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]
) -> NDArray[np.float32]:
    """Smooth random field in [-1, 1]: a coarse grid of random values, cubic-upscaled."""
    grid = rng.uniform(-1, 1, (cells[1], cells[0])).astype(np.float32)
    # cv2.resize keeps the float32 dtype; its stub only says "some numeric array".
    return cast(
        NDArray[np.float32],
        cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC),
    )


def make_desk(kind: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A BGR uint8 desk surface of ``width x height``."""
    w, h = max(8, width // 4), max(8, height // 4)
    # Float BGR colour and the float image built from it (float32 or float64 by branch).
    base: NDArray[np.floating[Any]]
    img: NDArray[np.floating[Any]]
    if kind == "wood":
        red = rng.uniform(120, 170)
        base = np.array(
            [red * rng.uniform(0.36, 0.48), red * rng.uniform(0.6, 0.7), red], np.float32
        )
        angle = rng.uniform(-0.08, 0.08)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        across = yy * np.cos(angle) - xx * np.sin(angle)
        # Grain: growth rings distorted by a smooth warp field, so lines wander like wood.
        warp = _lowres_noise(rng, (h, w), (4, 6)) * rng.uniform(h / 30, h / 16)
        warp += _lowres_noise(rng, (h, w), (14, 10)) * h / 150
        period = rng.uniform(h / 40, h / 20)
        phase = (across + warp) / period
        rings = np.abs(np.sin(np.pi * phase)) ** 3
        # Fine streaks along the grain: 1-D noise across it, stretched along it.
        n_streak = int(h * 2) + 8
        streak_noise = rng.normal(0, 1, n_streak).astype(np.float32)
        streak_1d = cv2.GaussianBlur(streak_noise.reshape(-1, 1), (1, 3), 0.7).ravel()
        idx = np.clip((across + warp * 0.5 + h * 0.5).astype(np.int32), 0, n_streak - 1)
        streaks = streak_1d[idx]
        # Planks: each with its own tone, separated by dark seams.
        plank = rng.uniform(h / 4, h / 2)
        plank_idx = np.floor((across + h) / plank).astype(np.int32)
        tones = rng.uniform(0.85, 1.12, int(plank_idx.max()) + 2).astype(np.float32)
        seams = np.abs(((across + h) % plank) - plank / 2) > plank / 2 - 1.0
        shade = tones[plank_idx] * (0.92 - 0.10 * rings + 0.04 * streaks) - 0.4 * seams
        img = base[None, None, :] * shade[..., None]
    elif kind == "dark":
        base = np.array([rng.uniform(28, 42)] * 3, np.float32) + rng.uniform(-3, 3, 3)
        field = _lowres_noise(rng, (h, w), (5, 4)) * 5
        grain = rng.normal(0, 2.0, (h, w)).astype(np.float32)
        img = base[None, None, :] + (field + grain)[..., None]
    elif kind == "light":
        tone = rng.uniform(165, 200)
        base = np.array([tone - rng.uniform(4, 14), tone - rng.uniform(0, 6), tone], np.float32)
        field = _lowres_noise(rng, (h, w), (5, 4)) * 6
        speck = rng.normal(0, 3.0, (h, w)).astype(np.float32)
        img = base[None, None, :] + (field + speck)[..., None]
    else:
        raise ValueError(f"unknown desk kind {kind!r}")
    small = np.clip(img, 0, 255).astype(np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _skin(rng: np.random.Generator) -> np.ndarray:
    """A BGR skin tone (the range of the clerks who use the kiosk)."""
    r = rng.uniform(185, 225)
    return np.array([r * rng.uniform(0.58, 0.68), r * rng.uniform(0.72, 0.80), r], np.float32)


def _paint_skin(
    frame: np.ndarray, mask: np.ndarray, x0: int, y0: int, rng: np.random.Generator
) -> None:
    """Composite a skin-coloured, softly shaded region given by ``mask`` (uint8) at x0,y0."""
    h, w = mask.shape
    H, W = frame.shape[:2]
    ax0, ay0, ax1, ay1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if ax0 >= ax1 or ay0 >= ay1:
        return
    m = mask[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
    soft = cv2.GaussianBlur(m, (0, 0), max(1.0, w / 300)).astype(np.float32) / 255.0
    # Round objects are darker towards their outline: use the distance to the edge.
    dist = cv2.distanceTransform((m > 127).astype(np.uint8), cv2.DIST_L2, 3)
    depth = np.clip(dist / max(1.0, float(dist.max()) * 0.6), 0, 1)
    shade = 0.62 + 0.38 * np.sqrt(depth)
    color = _skin(rng)[None, None, :] * shade[..., None]
    region = frame[ay0:ay1, ax0:ax1].astype(np.float32)
    a = soft[..., None]
    frame[ay0:ay1, ax0:ax1] = np.clip(region * (1 - a) + color * a, 0, 255).astype(np.uint8)


def _ellipse(mask: np.ndarray, center, axes, angle_deg: float) -> None:
    c = (round(center[0] * 16), round(center[1] * 16))
    ax = (max(1, round(axes[0] * 16)), max(1, round(axes[1] * 16)))
    cv2.ellipse(mask, c, ax, angle_deg, 0, 360, 255, -1, cv2.LINE_AA, shift=4)


def paint_thumb(
    frame: np.ndarray,
    edge_point: tuple[float, float],
    inward_deg: float,
    scale: float,
    rng: np.random.Generator,
) -> dict:
    """A thumb pressing the page at ``edge_point``, pointing ``inward_deg`` onto the page.

    Returns the bounding box it covers (frame pixels) for the ground truth.
    """
    length, width = 0.085 * scale, 0.042 * scale
    a = np.deg2rad(inward_deg)
    d = np.array([np.cos(a), np.sin(a)])
    tip = np.array(edge_point) + d * length * rng.uniform(0.25, 0.5)
    center = tip - d * length * 0.5
    palm = tip - d * length * 1.55
    box = int(length * 3.6)
    ox, oy = int(center[0] - box / 2), int(center[1] - box / 2)
    mask = np.zeros((box, box), np.uint8)
    _ellipse(mask, (center[0] - ox, center[1] - oy), (length * 0.55, width * 0.55), inward_deg)
    _ellipse(mask, (palm[0] - ox, palm[1] - oy), (length * 0.9, length * 0.75), inward_deg)
    _paint_skin(frame, mask, ox, oy, rng)
    return {"bbox": [ox, oy, ox + box, oy + box]}


def paint_hand(frame: np.ndarray, rng: np.random.Generator) -> dict:
    """An open hand reaching in from a frame edge, as when a clerk arranges the stand."""
    H, W = frame.shape[:2]
    scale = H
    side = int(rng.integers(4))
    # Wrist on the chosen edge, the hand pointing into the frame.
    along = rng.uniform(0.3, 0.7)
    if side == 0:
        wrist, ang = (along * W, H * 1.02), -90.0
    elif side == 1:
        wrist, ang = (along * W, -H * 0.02), 90.0
    elif side == 2:
        wrist, ang = (-W * 0.01, along * H), 0.0
    else:
        wrist, ang = (W * 1.01, along * H), 180.0
    ang += rng.uniform(-25, 25)
    a = np.deg2rad(ang)
    d = np.array([np.cos(a), np.sin(a)])
    n = np.array([-d[1], d[0]])
    reach = rng.uniform(0.35, 0.55) * scale
    palm_c = np.array(wrist) + d * reach
    palm_r = 0.13 * scale
    mask = np.zeros((H, W), np.uint8)
    arm_end = palm_c - d * palm_r * 0.6
    arm = np.array(
        [
            np.array(wrist) + n * palm_r * 0.7 - d * scale,
            arm_end + n * palm_r * 0.75,
            arm_end - n * palm_r * 0.75,
            np.array(wrist) - n * palm_r * 0.7 - d * scale,
        ]
    )
    cv2.fillPoly(mask, [np.round(arm * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    _ellipse(mask, palm_c, (palm_r * 1.05, palm_r * 0.95), ang)
    for spread in (-0.72, -0.24, 0.24, 0.72):
        length = palm_r * (1.0 + 0.25 * (1 - abs(spread)))
        fa = ang + spread * 10
        fd = np.array([np.cos(np.deg2rad(fa)), np.sin(np.deg2rad(fa))])
        base = palm_c + n * spread * palm_r * 0.78 + d * palm_r * 0.45
        _ellipse(mask, base + fd * length * 0.55, (length * 0.68, palm_r * 0.23), fa)
    thumb_dir = ang - 55
    td = np.array([np.cos(np.deg2rad(thumb_dir)), np.sin(np.deg2rad(thumb_dir))])
    _ellipse(
        mask,
        palm_c - n * palm_r * 0.85 + td * palm_r * 0.45,
        (palm_r * 0.7, palm_r * 0.26),
        thumb_dir,
    )
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return {"bbox": None}
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    _paint_skin(frame, mask[y0:y1, x0:x1], x0, y0, rng)
    return {"bbox": [x0, y0, x1, y1]}
