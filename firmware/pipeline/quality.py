"""Stage 6: decide whether the clerk must retake the page, and say why in their words.

All measurements are made on the page after the perspective warp, at a fixed analysis
resolution (``ANALYSIS_DPI``), so thresholds mean the same thing whatever the camera's
distance or the preview size:

- ``brightness``: median grey level of the paper *before* flattening (0-255);
- ``glare_fraction``: share of the page blown out in every channel *and* standing above the
  page's smooth lighting (a quadratic fit of the paper level), i.e. a lamp's reflection
  that hides text; a brightly but evenly lit sheet that clips is not glare;
- ``ink_fraction``: share of the flattened page that is ink (clearly darker than the paper),
  margins excluded; a blank back page has almost none;
- ``sharpness``: how steep the ink edges are, measured only on the text. It is the 90th
  percentile of the gradient magnitude on ink edges divided by the ink/paper contrast, in
  1/pixel at the analysis resolution; for an edge blurred by a Gaussian of sigma s pixels it
  is about 0.4 / s. A page with three words is as sharp as a page with thirty lines, and
  faded ink is not mistaken for blur.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from .messages import message

#: Resolution of the page image on which quality is measured (A4 -> 661x935 pixels): about
#: 3 px/mm, so 13 pt text has a 7 px x-height, enough to judge blur, and every camera this
#: kiosk supports (>= 2 MP with the page filling most of the frame) resolves it.
ANALYSIS_DPI = 80
#: Grey level below which a flattened pixel counts as ink (paper is ~255 after flattening;
#: 200 still catches blurred or faded strokes, so a blurred page is not mistaken for blank).
INK_LEVEL = 200
#: Level from which a pixel of the un-flattened page counts as blown out (all channels).
GLARE_LEVEL = 248
#: Grey levels by which a reflection stands above the page's smooth lighting.
GLARE_BUMP = 8.0
#: Ink pixels needed before blur can be judged at all.
MIN_EDGE_PIXELS = 150


@dataclass
class QualityIssue:
    """One reason the page is not good, with the words to show the clerk."""

    code: str  # blurred | glare | cut_off | too_dark | blank | no_page | corrupt
    severity: str  # "error": clerk must retake | "warning": shown, page kept
    message_vi: str
    message_en: str
    score: float  # the measured value that triggered it

    @classmethod
    def make(cls, code: str, severity: str, score: float) -> QualityIssue:
        vi, en = message(code)
        return cls(code, severity, vi, en, float(score))


@dataclass
class QualityReport:
    """Every issue found plus the raw measurements (for logs, tuning and the UI)."""

    issues: list[QualityIssue] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing forces a retake (warnings such as a blank page are allowed)."""
        return not any(i.severity == "error" for i in self.issues)

    @property
    def codes(self) -> list[str]:
        return [i.code for i in self.issues]

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "issues": [asdict(i) for i in self.issues],
            "metrics": {k: float(v) for k, v in self.metrics.items()},
        }


def _inner(img: np.ndarray, margin: float = 0.04) -> np.ndarray:
    h, w = img.shape[:2]
    my, mx = int(margin * h), int(margin * w)
    return img[my : h - my, mx : w - mx]


def measure_sharpness(flat_gray: np.ndarray) -> float:
    """Contrast-normalised edge steepness of the ink (see module doc); -1 if no ink.

    Ink is found relative to the darkest ink present, so a blurred page (whose thin strokes
    never get darker than mid-grey) is still measured, and judged blurred, rather than
    skipped as "no text".
    """
    g = _inner(flat_gray).astype(np.float32)
    paper = float(np.median(g))
    darkest = float(np.percentile(g, 0.5))
    contrast = paper - darkest
    if contrast < 25.0:
        return -1.0
    ink = g < paper - 0.5 * contrast
    if ink.sum() < MIN_EDGE_PIXELS:
        return -1.0
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)  # exact: a power of two
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    mag = cv2.magnitude(gx, gy)
    near_ink = cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    edge = near_ink & (mag > 0.1 * contrast)
    if edge.sum() < MIN_EDGE_PIXELS:
        return 0.0
    return float(np.percentile(mag[edge], 90) / contrast)


def _smooth_light(bg: np.ndarray) -> np.ndarray:
    """Least-squares quadratic surface through the paper level, ignoring bright bumps.

    A lamp's fall-off, a tilt of the light and vignetting are all smooth; a reflection is a
    bump on top of them. Points far above the fit are dropped and the fit repeated, so the
    bump does not lift the surface it is measured against.
    """
    h, w = bg.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = (xx / max(w - 1, 1) - 0.5).ravel(), (yy / max(h - 1, 1) - 0.5).ravel()
    a = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    v = bg.ravel().astype(np.float64)
    keep = v < 250  # clipped paper says nothing about the light's true level
    fit = np.full_like(v, float(np.median(v)))
    for _ in range(3):
        if keep.sum() < 12:
            break
        ak = a[keep]
        coef = np.linalg.solve(ak.T @ ak + 1e-6 * np.eye(6), ak.T @ v[keep])
        fit = a @ coef
        keep = (v < 250) & (v - fit < 6.0)
    return fit.reshape(h, w)


def _min_channel(img: np.ndarray) -> np.ndarray:
    b, g, r = cv2.split(img)
    return cv2.min(cv2.min(b, g), r)


def measure_glare(raw: np.ndarray, background: np.ndarray) -> float:
    """Fraction of the page that is blown out *and* stands above the page's smooth lighting.

    A reflection clips every channel (it is the lamp's own colour) and sits on a bump of the
    paper level; a brightly lit but evenly exposed sheet may clip too, but it follows the
    smooth light, so it is not called glare.
    """
    blown: np.ndarray = (_min_channel(_inner(raw, 0.03)) >= GLARE_LEVEL).astype(np.uint8)
    blown = cv2.morphologyEx(blown, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    if not blown.any():
        return 0.0
    # The least exposed channel: under warm light the paper's blue stays below clipping, so
    # a (neutral) reflection still shows as a bump there when red and green are saturated.
    bg = _min_channel(_inner(background, 0.03)).astype(np.float32)
    if bg.shape[0] < 8 or bg.shape[1] < 8:
        return 0.0
    coarse = cv2.resize(bg, (bg.shape[1] // 3, bg.shape[0] // 3), interpolation=cv2.INTER_AREA)
    light = cv2.resize(
        _smooth_light(coarse), (bg.shape[1], bg.shape[0]), interpolation=cv2.INTER_LINEAR
    )
    bump: np.ndarray = ((bg - light) > GLARE_BUMP).astype(np.uint8)
    bump = cv2.resize(bump, (blown.shape[1], blown.shape[0]), interpolation=cv2.INTER_NEAREST)
    return float(cv2.countNonZero(cv2.bitwise_and(blown, bump))) / blown.size


def measure_ink(flat_gray: np.ndarray) -> float:
    """Fraction of the (inner) flattened page that is ink."""
    return float((_inner(flat_gray) < INK_LEVEL).mean())


def assess_page(
    raw: np.ndarray,
    flat: np.ndarray,
    background: np.ndarray,
    cfg,
    cut_off: bool = False,
) -> QualityReport:
    """Run every gate on a warped page at ``ANALYSIS_DPI``.

    ``raw`` is the warped page before flattening, ``flat`` after, ``background`` the
    per-channel paper estimate from :func:`flatten.estimate_background`; ``cfg`` is a
    ``PipelineConfig``.
    """
    flat_gray = cv2.cvtColor(flat, cv2.COLOR_BGR2GRAY)
    bg_gray = cv2.cvtColor(background, cv2.COLOR_BGR2GRAY)
    brightness = float(np.median(_inner(bg_gray)))
    metrics = {
        "brightness": brightness,
        "glare_fraction": measure_glare(raw, background),
        "ink_fraction": measure_ink(flat_gray),
        "sharpness": measure_sharpness(flat_gray),
    }
    issues: list[QualityIssue] = []
    if cut_off:
        issues.append(QualityIssue.make("cut_off", "error", 1.0))
    if brightness < cfg.dark_threshold:
        issues.append(QualityIssue.make("too_dark", "error", brightness))
    if metrics["glare_fraction"] > cfg.glare_fraction:
        issues.append(QualityIssue.make("glare", "error", metrics["glare_fraction"]))
    if metrics["ink_fraction"] < cfg.blank_ink_fraction:
        issues.append(QualityIssue.make("blank", "warning", metrics["ink_fraction"]))
    elif 0 <= metrics["sharpness"] < cfg.blur_threshold:
        issues.append(QualityIssue.make("blurred", "error", metrics["sharpness"]))
    return QualityReport(issues, metrics)


def frame_report(code: str, metrics: dict[str, float] | None = None) -> QualityReport:
    """Report for a frame without a usable page (``no_page``, ``corrupt``)."""
    return QualityReport([QualityIssue.make(code, "error", 1.0)], dict(metrics or {}))
