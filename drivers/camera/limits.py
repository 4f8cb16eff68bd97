"""How big a frame may be, judged from its header before a single pixel is decoded.

Why before: a 1 MB PNG may declare 30000x30000 pixels, and OpenCV allocates the whole
2.7 GB picture (5.4 GB peak in the pipeline, a crash in ``cv2.warpPerspective``) before it
finds out what it holds. Pillow reads only the header on ``Image.open``, for every format
the kiosk accepts, so the check costs microseconds. The limit covers the largest document
cameras and phone sensors (48-64 MP) with room to spare; a 12 MP frame is 12 000 000.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

MAX_FRAME_PIXELS = 80_000_000


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) the image's header declares, or None if Pillow cannot tell.

    Pillow's own bomb check in ``Image.open`` would refuse a 30000x30000 header without
    saying its size, so the format's header parser is called directly (what
    ``Image.open`` does, minus that check): it reads the header, never the pixels."""
    Image.init()
    prefix = data[:16]
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        if accept is not None and not accept(prefix):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with factory(io.BytesIO(data), "") as img:
                    return img.size
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
                continue
            except Exception:  # noqa: BLE001 - a plugin choking on junk is "unknown"
                continue
    return None


def too_large(data: bytes) -> str | None:
    """A sentence (English) saying why ``data`` is too large to decode, or None."""
    size = declared_size(data)
    if size is None:
        return None
    w, h = size
    if w * h <= MAX_FRAME_PIXELS:
        return None
    return (
        f"the image declares {w}x{h} pixels ({w * h / 1e6:.0f} MP), more than the "
        f"{MAX_FRAME_PIXELS / 1e6:.0f} MP a frame may have"
    )


def too_large_vi(data: bytes) -> str:
    """The Vietnamese sentence for the screen (after :func:`too_large` said yes)."""
    size = declared_size(data) or (0, 0)
    return (
        f"Ảnh quá lớn ({size[0]}x{size[1]} điểm ảnh, tối đa "
        f"{MAX_FRAME_PIXELS / 1e6:.0f} triệu điểm ảnh); không xử lý được, hãy dùng ảnh khác."
    )
