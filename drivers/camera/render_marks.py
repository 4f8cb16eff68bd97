"""Hand-made marks on a document: the red round seal (con dấu) and a blue signature.

They matter to the pipeline beyond looks: the seal is the reddest, most saturated thing on
the page (colour handling, binarisation must not turn it into text), and the signature is a
blue stroke that OCR must ignore. Both are returned as alpha masks so the page renderer can
multiply them onto the paper like real ink (text under a seal stays readable).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image, ImageDraw

from drivers.camera.render_fonts import font

SEAL_RED = (205, 35, 45)
SIGNATURE_BLUE = (25, 45, 150)


def _star(cx: float, cy: float, r_out: float, r_in: float, rot: float = -math.pi / 2):
    pts = []
    for i in range(10):
        r = r_out if i % 2 == 0 else r_in
        a = rot + i * math.pi / 5
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return np.array(pts, dtype=np.float32)


def _fill_star(canvas: np.ndarray, cx: float, cy: float, r: float) -> None:
    # Sub-pixel precision (shift=4) keeps the small star symmetric and anti-aliased.
    pts = np.round(_star(cx, cy, r, r * 0.40) * 16).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 255, lineType=cv2.LINE_AA, shift=4)


def seal_mask(radius: int, text: str, rng: np.random.Generator) -> np.ndarray:
    """Alpha mask (float32 0..1, square of side 2*radius+8) of a round seal.

    Outer and inner rings, ``text`` in capitals around the upper 300 degrees, small stars at
    the bottom and a large star in the centre; then uneven ink coverage, because a real
    stamp never inks evenly and detectors tuned on flat red discs fail on real seals.
    """
    size = 2 * radius + 8
    c = size / 2
    canvas = Image.new("L", (size, size), 0)
    arr = np.zeros((size, size), np.uint8)
    cv2.circle(
        arr,
        (round(c), round(c)),
        radius - round(radius * 0.03),
        255,
        max(3, round(radius * 0.055)),
        cv2.LINE_AA,
    )
    cv2.circle(
        arr,
        (round(c), round(c)),
        round(radius * 0.66),
        255,
        max(2, round(radius * 0.025)),
        cv2.LINE_AA,
    )
    _fill_star(arr, c, c, radius * 0.42)
    for side in (-1, 1):
        a = math.pi / 2 + side * math.radians(12)
        _fill_star(
            arr, c + radius * 0.8 * math.cos(a), c + radius * 0.8 * math.sin(a), radius * 0.07
        )
    canvas.paste(Image.fromarray(arr))

    # Text around the ring: each glyph rendered upright, rotated to the tangent, pasted.
    glyph_font = font("bold", radius * 0.17 * 72 / 300)
    text_r = radius * 0.815
    span = math.radians(290)
    n = max(1, len(text))
    for i, ch in enumerate(text):
        if ch == " ":
            continue
        # Angle measured clockwise from the top of the seal.
        theta = -span / 2 + span * (i + 0.5) / n
        gx = c + text_r * math.sin(theta)
        gy = c - text_r * math.cos(theta)
        box = glyph_font.getbbox(ch)
        # FreeType boxes are whole pixels; Pillow types them as float for other fonts.
        gw, gh = int(box[2] - box[0] + 4), int(box[3] - box[1] + 4)
        glyph = Image.new("L", (gw, gh), 0)
        ImageDraw.Draw(glyph).text((2 - box[0], 2 - box[1]), ch, font=glyph_font, fill=255)
        glyph = glyph.rotate(-math.degrees(theta), resample=Image.Resampling.BICUBIC, expand=True)
        x0, y0 = round(gx - glyph.width / 2), round(gy - glyph.height / 2)
        region = canvas.crop((x0, y0, x0 + glyph.width, y0 + glyph.height))
        canvas.paste(Image.fromarray(np.maximum(np.asarray(region), np.asarray(glyph))), (x0, y0))

    alpha = np.asarray(canvas, dtype=np.float32) / 255.0
    # Uneven inking: a smooth low-frequency field plus fine speckle.
    low = cv2.resize(
        rng.uniform(0.55, 1.15, (6, 6)).astype(np.float32),
        (size, size),
        interpolation=cv2.INTER_CUBIC,
    )
    speckle = rng.uniform(0.75, 1.0, (size, size)).astype(np.float32)
    return np.clip(alpha * low * speckle, 0.0, 1.0) * 0.9


def _smooth(rng: np.random.Generator, t: np.ndarray, terms: int, scale: float) -> np.ndarray:
    """A random smooth function of ``t``: a few sines with random frequency and phase."""
    out = np.zeros_like(t)
    for _ in range(terms):
        out += rng.uniform(-1, 1) * np.sin(
            2 * math.pi * rng.uniform(0.5, 3.0) * t + rng.uniform(0, 6.3)
        )
    return out * scale / terms


def signature_mask(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Alpha mask (float32 0..1) of a cursive-looking signature filling ``width x height``.

    A pen point circling while it drifts right, with randomly varying loop size, height and
    slant (so it reads as handwriting, not a coil), then a flourish underneath. Nothing in
    it resembles printed letters for OCR to pick up.
    """
    arr = np.zeros((height, width), np.uint8)
    t = np.linspace(0.0, 1.0, 900)
    loops = rng.uniform(3.0, 5.5)
    theta = 2 * math.pi * loops * t + rng.uniform(0, 6.3) + _smooth(rng, t, 3, 2.0)
    rx = width * (0.05 + np.abs(_smooth(rng, t, 3, 0.06)))
    ry = height * (0.12 + np.abs(_smooth(rng, t, 3, 0.28)))
    drift = width * (0.08 + 0.6 * t + _smooth(rng, t, 2, 0.04))
    slant = rng.uniform(0.2, 0.6)
    y = height * (0.45 + _smooth(rng, t, 2, 0.12)) + ry * np.sin(theta)
    x = drift + rx * np.cos(theta) + slant * (height * 0.45 - y)
    thick = max(3, round(height * 0.014))
    pts = np.round(np.stack([x, y], axis=1) * 16).astype(np.int32)
    cv2.polylines(arr, [pts], False, 255, thick, cv2.LINE_AA, shift=4)
    # Flourish: from the end of the strokes sweeping back left under the name.
    s = np.linspace(0.0, 1.0, 200)
    x_end, y_end = x[-1], y[-1]
    fx = x_end + (width * rng.uniform(0.05, 0.25) - x_end) * s
    fy = (
        y_end
        + (height * rng.uniform(0.7, 0.85) - y_end) * np.sin(math.pi * s / 2)
        + height * 0.04 * np.sin(2 * math.pi * s)
    )
    pts = np.round(np.stack([fx, fy], axis=1) * 16).astype(np.int32)
    cv2.polylines(arr, [pts], False, 255, max(2, thick - 1), cv2.LINE_AA, shift=4)
    return arr.astype(np.float32) / 255.0 * 0.92


def multiply_ink(
    page: np.ndarray, alpha: np.ndarray, color: tuple[int, int, int], x: int, y: int
) -> None:
    """Multiply ``color`` ink with coverage ``alpha`` onto ``page`` (RGB uint8) in place.

    Multiplication is how translucent ink on paper behaves: black text under the red seal
    stays black, white paper turns red.
    """
    h, w = alpha.shape
    H, W = page.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x0 >= x1 or y0 >= y1:
        return
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x, None]
    region = page[y0:y1, x0:x1].astype(np.float32)
    tint = np.asarray(color, np.float32) / 255.0
    region *= 1.0 - a * (1.0 - tint)
    page[y0:y1, x0:x1] = np.clip(region, 0, 255).astype(np.uint8)
