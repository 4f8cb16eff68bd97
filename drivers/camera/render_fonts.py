"""Fonts for the simulated documents: Times-metric serif faces with full Vietnamese coverage.

Official documents are set in Times New Roman; Liberation Serif has the same metrics (so
line breaks and page fill match real documents) and precomposed glyphs for every
Vietnamese letter, so Pillow's basic layout (no libraqm needed) renders NFC text correctly.
DejaVu Serif is the fallback on systems without Liberation.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

DPI = 300

_CANDIDATES = {
    "regular": ("liberation2/LiberationSerif-Regular.ttf", "dejavu/DejaVuSerif.ttf"),
    "bold": ("liberation2/LiberationSerif-Bold.ttf", "dejavu/DejaVuSerif-Bold.ttf"),
    "italic": ("liberation2/LiberationSerif-Italic.ttf", "dejavu/DejaVuSerif-Italic.ttf"),
    "bolditalic": (
        "liberation2/LiberationSerif-BoldItalic.ttf",
        "dejavu/DejaVuSerif-BoldItalic.ttf",
    ),
}
_FONT_ROOTS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/TTF"))


def pt_to_px(points: float) -> float:
    """Typographic points to pixels at the page resolution (300 dpi)."""
    return points * DPI / 72.0


@lru_cache(maxsize=8)
def font_path(style: str) -> Path:
    """The first installed file for ``style`` (regular, bold, italic, bolditalic)."""
    for rel in _CANDIDATES[style]:
        for root in _FONT_ROOTS:
            path = root / rel
            if path.exists():
                return path
    raise FileNotFoundError(
        f"no serif font for style {style!r}: install fonts-liberation2 (apt install "
        "fonts-liberation2) or fonts-dejavu-core"
    )


@lru_cache(maxsize=64)
def font(style: str, size_pt: float) -> ImageFont.FreeTypeFont:
    """``style`` face at ``size_pt`` points for a 300-dpi page (cached: loading is slow)."""
    size_px = max(1, round(pt_to_px(size_pt)))
    return ImageFont.truetype(str(font_path(style)), size_px, layout_engine=ImageFont.Layout.BASIC)
