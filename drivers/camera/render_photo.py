"""Turn a flat 300-dpi page into a photograph of it lying on a desk under the kiosk camera.

Every step models something the page pipeline must undo or detect: perspective (the camera
is never exactly overhead), rotation (the clerk never lays the page straight), a desk around
the page, uneven warm light (gradient, vignette, a shadow), lens blur, sensor noise. The
scene parameters are drawn as fractions of the frame, so the same ``rng`` seed renders the
same scene at 4000x3000 for the still and at 1024x768 for the live view.

Speed: all heavy steps are single OpenCV calls on uint8 images (warpPerspective, resize,
GaussianBlur, multiply, add); per-pixel fields (light, shadow, glare) are computed at low
resolution and upscaled, since they are smooth by nature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from drivers.camera.render_desk import DESK_KINDS, make_desk, paint_hand, paint_thumb

REFERENCE_WIDTH = 4000  # blur sigmas are given for a 12 MP frame and scaled to others
PHOTO_KINDS = (
    "document",
    "no_page",
    "hand",
    "black",
    "blurred",
    "glare",
    "dark",
    "cut_off",
    "blank",
)
_LIGHT_FIXED_POINT = 170.0  # illumination stored as uint8 = gain * 170 (gains up to 1.5)


@dataclass
class Photo:
    """A rendered frame with where the page ended up and the parameters that made it."""

    bgr: np.ndarray
    corners: list[list[float]] | None  # TL, TR, BR, BL in frame pixels (None: no page)
    effects: dict[str, Any]


def sample_effects(rng: np.random.Generator, kind: str = "document") -> dict[str, Any]:
    """Draw the scene parameters. Always draws the same sequence whatever ``kind`` is, so a
    scripted defect changes only the defect, not the rest of the scene."""
    e: dict[str, Any] = {
        "desk": DESK_KINDS[int(rng.integers(len(DESK_KINDS)))],
        "page_height_frac": float(rng.uniform(0.70, 0.85)),
        "rotation_deg": float(rng.uniform(-4.0, 4.0)),
        "keystone": float(rng.uniform(-0.035, 0.035)),
        "tilt": float(rng.uniform(-0.02, 0.02)),
        "offset": [float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))],
        "corner_jitter": [float(v) for v in rng.normal(0, 0.003, 8)],
        "light": {
            "gradient": float(rng.uniform(0.12, 0.32)),
            "gradient_angle_deg": float(rng.uniform(0, 360)),
            "vignette": float(rng.uniform(0.12, 0.30)),
            "exposure": float(rng.uniform(0.93, 1.04)),
            "warmth": float(rng.uniform(0.05, 0.15)),
            "hotspot": [float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8))],
            "shadow": float(rng.uniform(0.25, 0.5)),
            "shadow_dir_deg": float(rng.uniform(0, 360)),
        },
        "blur_sigma": float(rng.uniform(0.6, 1.2)),
        "noise": float(rng.uniform(1.8, 3.5)),
        "occlusion": bool(rng.random() < 0.2),
        "occlusion_at": [int(rng.integers(4)), float(rng.uniform(0.2, 0.8))],
        "cut_off_corner": int(rng.integers(4)),
        "cut_off_depth": float(rng.uniform(0.04, 0.09)),
        "glare_at": [float(rng.uniform(0.25, 0.75)), float(rng.uniform(0.25, 0.75))],
        "glare_size": float(rng.uniform(0.045, 0.065)),
        "desk_seed": int(rng.integers(2**31)),
        "noise_seed": int(rng.integers(2**31)),
    }
    if kind == "blurred":
        e["blur_sigma"] = float(rng.uniform(5.5, 7.0))
    elif kind == "dark":
        e["light"]["exposure"] = float(rng.uniform(0.12, 0.2))
        e["noise"] = float(rng.uniform(3.5, 5.0))
    if kind in ("blurred", "glare", "dark", "cut_off", "blank", "no_page", "hand", "black"):
        e["occlusion"] = False  # one defect at a time: the truth stays unambiguous
    return e


def _base_quad(e: dict[str, Any], height: int, rotation_deg: float) -> np.ndarray:
    ph = e["page_height_frac"] * height
    pw = ph / math.sqrt(2.0)
    k, t = e["keystone"], e["tilt"]
    # Keystone: the far (top) edge looks narrower; tilt: one side looks shorter.
    quad = np.array(
        [
            [-pw / 2 * (1 - k), -ph / 2 * (1 - t)],
            [pw / 2 * (1 - k), -ph / 2 * (1 + t)],
            [pw / 2 * (1 + k), ph / 2 * (1 + t)],
            [-pw / 2 * (1 + k), ph / 2 * (1 - t)],
        ]
    )
    quad += np.array(e["corner_jitter"]).reshape(4, 2) * ph
    a = math.radians(rotation_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return quad @ rot.T


def _cut_off(e: dict[str, Any], width: int, height: int) -> np.ndarray:
    """A page pushed sideways so exactly one corner leaves the frame.

    The page is turned 6-9 degrees the way that makes the chosen corner stick out beyond
    its neighbour on that side, then shifted until only that corner crosses the edge.
    """
    i = e["cut_off_corner"]
    side = -1.0 if i in (0, 3) else 1.0  # TL, BL leave on the left; TR, BR on the right
    best = None
    for sign in (-1.0, 1.0):
        quad = _base_quad(e, height, sign * (6.0 + 3.0 * abs(e["offset"][0])))
        xs = quad[:, 0] * side
        lead = xs[i] - np.max(np.delete(xs, i))  # how far the corner sticks out
        if best is None or lead > best[0]:
            best = (lead, quad)
    assert best is not None
    lead, quad = best
    depth = min(e["cut_off_depth"] * height, 0.6 * lead)
    edge_x = 0.0 if side < 0 else float(width)
    quad[:, 0] += edge_x - quad[i, 0] + side * depth
    quad[:, 1] += height / 2 - (quad[:, 1].max() + quad[:, 1].min()) / 2
    e["rotation_deg"] = float(
        math.degrees(math.atan2(quad[1, 1] - quad[0, 1], quad[1, 0] - quad[0, 0]))
    )
    return quad


def page_quad(e: dict[str, Any], width: int, height: int, cut_off: bool) -> np.ndarray:
    """Where the page corners land in the frame (TL, TR, BR, BL), float32 4x2."""
    if cut_off:
        return _cut_off(e, width, height).astype(np.float32)
    quad = _base_quad(e, height, e["rotation_deg"])
    # Centre within the room the frame leaves (keeping a 2 % margin).
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    margin = 0.02 * height
    room_x = max(0.0, (width - (hi[0] - lo[0])) / 2 - margin)
    room_y = max(0.0, (height - (hi[1] - lo[1])) / 2 - margin)
    cx = width / 2 - (hi[0] + lo[0]) / 2 + e["offset"][0] * room_x * 0.7
    cy = height / 2 - (hi[1] + lo[1]) / 2 + e["offset"][1] * room_y * 0.7
    quad += np.array([cx, cy])
    return quad.astype(np.float32)


def _illumination(e: dict[str, Any], width: int, height: int) -> np.ndarray:
    """Per-pixel BGR gain as uint8 fixed point (gain * 170), computed small then upscaled."""
    light = e["light"]
    w, h = max(16, width // 8), max(12, height // 8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xn, yn = xx / w - 0.5, yy / h - 0.5
    ang = math.radians(light["gradient_angle_deg"])
    gain = 1.0 + light["gradient"] * (xn * math.cos(ang) + yn * math.sin(ang))
    gain *= 1.0 - light["vignette"] * (xn**2 + yn**2) * 2.0
    hx, hy = light["hotspot"]
    gain *= 1.0 + 0.08 * np.exp(-((xx / w - hx) ** 2 + (yy / h - hy) ** 2) / 0.08)
    gain *= light["exposure"]
    warm = light["warmth"]
    gains = np.array([1.0 - warm, 1.0 - 0.45 * warm, 1.0], np.float32)  # B, G, R
    small = np.clip(gain[..., None] * gains * _LIGHT_FIXED_POINT, 0, 255).astype(np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _cast_shadow(desk: np.ndarray, e: dict[str, Any], quad: np.ndarray) -> np.ndarray:
    """Darken the desk where the (slightly lifted) page shades it, before the page is laid
    on top, so the shadow never darkens the page itself."""
    height, width = desk.shape[:2]
    strength = e["light"]["shadow"]
    if strength <= 0:
        return desk
    w, h = max(16, width // 4), max(12, height // 4)
    sa = math.radians(e["light"]["shadow_dir_deg"])
    off = np.array([math.cos(sa), math.sin(sa)]) * 0.012 * h
    q_small = quad * np.array([w / width, h / height], np.float32) + off
    shadow = np.zeros((h, w), np.float32)
    cv2.fillPoly(shadow, [np.round(q_small * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 0.008 * h + 1)
    keep = np.clip((1.0 - strength * shadow) * 255, 0, 255).astype(np.uint8)
    keep = cv2.resize(keep, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.multiply(desk, cv2.merge([keep, keep, keep]), scale=1.0 / 255)


def _glare(e: dict[str, Any], width: int, height: int, quad: np.ndarray) -> np.ndarray:
    """Additive specular patch (uint8, 3 channels) centred on the page: blown out at its core."""
    w, h = max(16, width // 8), max(12, height // 8)
    u, v = e["glare_at"]
    top = quad[0] + (quad[1] - quad[0]) * u
    bottom = quad[3] + (quad[2] - quad[3]) * u
    center = (top + (bottom - top) * v) * np.array([w / width, h / height])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sx, sy = e["glare_size"] * w * 1.3, e["glare_size"] * h
    d2 = ((xx - center[0]) / sx) ** 2 + ((yy - center[1]) / sy) ** 2
    add = np.clip(300.0 * np.exp(-d2 / 2.0), 0, 255).astype(np.uint8)
    add = cv2.resize(add, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.merge([add, add, add])


def _occlude(
    frame: np.ndarray, e: dict[str, Any], quad: np.ndarray, rng: np.random.Generator
) -> dict[str, Any]:
    side, along = e["occlusion_at"]
    a, b = quad[side], quad[(side + 1) % 4]
    point = a + (b - a) * along
    center = quad.mean(axis=0)
    inward = math.degrees(math.atan2(center[1] - point[1], center[0] - point[0]))
    return paint_thumb(frame, (float(point[0]), float(point[1])), inward, frame.shape[0], rng)


def _composite(desk: np.ndarray, page_bgr: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Lay the page onto the desk with anti-aliased edges.

    Warping onto a black background gives the page colour pre-multiplied by its coverage;
    warping an all-white image gives the coverage itself, so the result is
    ``desk * (1 - coverage) + warped`` in three saturating uint8 OpenCV calls.
    """
    height, width = desk.shape[:2]
    sh, sw = page_bgr.shape[:2]
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, quad)
    # Sample pixel centres: shift by half a pixel so the page edge lands on the quad.
    shift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]], np.float64)
    matrix = matrix @ np.linalg.inv(shift)
    warped = cv2.warpPerspective(
        page_bgr,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    ones = np.full((sh, sw), 255, np.uint8)
    cover = cv2.warpPerspective(
        ones,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    behind = cv2.merge([cv2.bitwise_not(cover)] * 3)
    return cv2.add(cv2.multiply(desk, behind, scale=1.0 / 255), warped)


def _noise(frame: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Add Gaussian sensor noise.

    Luminance only (one field shared by B, G, R): phone and Pi camera ISPs remove most
    chroma noise, and it costs a third of per-channel noise at 12 MP. OpenCV's RNG (seeded
    here; it is thread-local) fills the field far faster than numpy.
    """
    noise = np.empty(frame.shape[:2], np.int16)
    cv2.setRNGSeed(seed)
    # OpenCV takes Scalars for the mean and deviation; its generated stub only lists arrays.
    cv2.randn(noise, 0, sigma)  # type: ignore[call-overload]
    return cv2.add(frame, cv2.merge([noise, noise, noise]), dtype=cv2.CV_8U)


def photograph_scene(
    page_rgb: np.ndarray | None,
    rng: np.random.Generator,
    width: int,
    height: int,
    kind: str = "document",
    **overrides: Any,
) -> Photo:
    """Photograph ``page_rgb`` (RGB uint8, any size, A4 aspect) as a ``kind`` scene.

    ``overrides`` replace sampled parameters by name (e.g. ``desk="dark"``,
    ``rotation_deg=0``, ``blur_sigma=3``, ``occlusion=False``). For "no_page", "hand" and
    "black" the page is not used.
    """
    if kind not in PHOTO_KINDS:
        raise ValueError(f"unknown photo kind {kind!r}; expected one of {PHOTO_KINDS}")
    e = sample_effects(rng, kind)
    for key, value in overrides.items():
        if key == "light" and isinstance(value, dict):
            e["light"].update(value)
        else:
            e[key] = value
    scale = width / REFERENCE_WIDTH
    local = np.random.default_rng(e["desk_seed"])
    # BGR uint8 throughout; OpenCV's stubs type every result only as "a numeric array".
    frame: np.ndarray
    if kind == "black":
        # Lens covered: the sensor floor plus a little light leaking in at one side.
        frame = np.full((height, width, 3), 7, np.uint8)
        frame = cv2.multiply(frame, _illumination(e, width, height), scale=1.0 / _LIGHT_FIXED_POINT)
        frame = _noise(frame, 1.5, e["noise_seed"])
        return Photo(frame, None, {**e, "kind": kind})

    frame = make_desk(e["desk"], width, height, local)
    corners = None
    info: dict[str, Any] = {}
    quad = None
    if kind == "hand":
        info["hand_bbox"] = paint_hand(frame, local)["bbox"]
    elif kind != "no_page":
        if page_rgb is None:
            raise ValueError(f"kind {kind!r} needs a page image")
        quad = page_quad(e, width, height, cut_off=kind == "cut_off")
        ph = float(np.linalg.norm(quad[3] - quad[0]))
        factor = min(1.0, ph * 1.05 / page_rgb.shape[0])
        small = cv2.resize(page_rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        small = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        frame = _composite(_cast_shadow(frame, e, quad), small, quad)
        corners = [[float(x), float(y)] for x, y in quad]
        if e["occlusion"]:
            info["occlusion_bbox"] = _occlude(frame, e, quad, local)["bbox"]
    frame = cv2.multiply(frame, _illumination(e, width, height), scale=1.0 / _LIGHT_FIXED_POINT)
    if kind == "glare" and quad is not None:
        frame = cv2.add(frame, _glare(e, width, height, quad))
    sigma = e["blur_sigma"] * scale
    if sigma >= 0.3:
        frame = cv2.GaussianBlur(frame, (0, 0), sigma)
    frame = _noise(frame, e["noise"], e["noise_seed"])
    effects = {**e, **info, "kind": kind, "blur_sigma_frame_px": sigma}
    return Photo(frame, corners, effects)


def photograph(
    page_rgb: np.ndarray | None,
    rng: np.random.Generator,
    width: int,
    height: int,
    kind: str = "document",
    **effects: Any,
) -> tuple[np.ndarray, list | None]:
    """Photograph a page: returns (BGR frame, page corners TL,TR,BR,BL or None)."""
    photo = photograph_scene(page_rgb, rng, width, height, kind, **effects)
    return photo.bgr, photo.corners
