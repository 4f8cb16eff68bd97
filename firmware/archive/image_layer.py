"""The archival image layer of a page: resampled to the archival dpi and JPEG-encoded.

Shared by the OCR workers (which produce the layer while the page is in memory) and by
:mod:`firmware.archive.seal` (which embeds it). Kept apart from the PDF writer so a worker does not
load pikepdf and lxml just to encode a JPEG: on a 2 GB Pi every worker's megabytes count.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def encode_archival_jpeg(image_bgr: np.ndarray, src_dpi: int, dst_dpi: int, quality: int) -> bytes:
    """The image layer of one page (BGR uint8 in), exactly as the sealed PDF embeds it."""
    return encode_jpeg(image_bgr, True, src_dpi, dst_dpi, quality)[0]


def encode_jpeg(
    pixels: np.ndarray, is_bgr: bool, src_dpi: int, dst_dpi: int, quality: int
) -> tuple[bytes, int, int]:
    """Resample to ``dst_dpi`` and JPEG-encode; return (bytes, width_px, height_px).

    INTER_AREA when shrinking (it averages, so thin strokes and sensor noise do not alias
    into detail that JPEG pays for); cubic when enlarging. 4:2:0 chroma subsampling (the red
    seal survives it at 200 dpi), optimized Huffman tables, and progressive scans: about 9 %
    smaller on text pages because EOB runs code the white paper cheaply, and every PDF 1.3+
    reader decodes them.
    """
    h, w = pixels.shape[:2]
    nw = max(1, round(w * dst_dpi / src_dpi))
    nh = max(1, round(h * dst_dpi / src_dpi))
    if (nw, nh) != (w, h):
        interp = cv2.INTER_AREA if nw < w else cv2.INTER_CUBIC
        pixels = cv2.resize(pixels, (nw, nh), interpolation=interp)
    if is_bgr:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(
        buf,
        "JPEG",
        quality=quality,
        subsampling=2,  # 4:2:0
        optimize=True,
        progressive=True,
        dpi=(dst_dpi, dst_dpi),
    )
    return buf.getvalue(), nw, nh


# --- text layer ----------------------------------------------------------------------------
