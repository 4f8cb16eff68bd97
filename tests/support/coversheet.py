"""Printed sheets as images for the sim camera: rendered from the real PDF, or a bare QR.

``pdf_pages`` rasterizes with poppler's ``pdftoppm`` (the path a printer driver would take),
so tests photograph exactly what ``sohoa coversheet`` printed.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import segno

A4_MM = (210.0, 297.0)


def pdf_pages(pdf: Path, dpi: int = 150) -> list[np.ndarray]:
    """Every page of ``pdf`` as an RGB uint8 image at ``dpi``."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(Path(tmp) / "p")],
            check=True,
            capture_output=True,
            timeout=120,
        )
        pages = sorted(Path(tmp).glob("p-*.png"), key=lambda p: int(p.stem.split("-")[-1]))
        return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in pages]


def qr_sheet(text: str, dpi: int = 150, qr_mm: float = 80.0) -> np.ndarray:
    """A white A4 sheet (RGB) with one QR code of ``text``: any payload, good or bad."""
    w, h = (round(v / 25.4 * dpi) for v in A4_MM)
    page = np.full((h, w, 3), 250, np.uint8)
    matrix = np.array(segno.make(text, error="m", mode="byte").matrix, np.uint8)
    side = round(qr_mm / 25.4 * dpi)
    qr = cv2.resize((1 - matrix) * 255, (side, side), interpolation=cv2.INTER_NEAREST)
    x0, y0 = (w - side) // 2, round(45 / 25.4 * dpi)
    page[y0 : y0 + side, x0 : x0 + side] = qr[..., None]
    return page


def flat_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """An image as a flatbed scanner would deliver it (no perspective, even light)."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return buf.tobytes()
