"""The pictures of a page the screens show: preview, thumbnail, and a stand-in for a frame
that cannot be decoded (a corrupt JPEG is shown as a grey page with a cross, never as a
broken image).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from firmware.store.catalog import NotFound
from kiosk_ui.context import Ui

THUMB_WIDTH = 240
#: Width of a rejected page's camera frame shown in the large view.
PREVIEW_FALLBACK_WIDTH = 1200
#: The OpenAPI description of a route answering with a JPEG.
JPEG = {"content": {"image/jpeg": {}}, "description": "JPEG image"}


def picture_path(page: dict[str, Any]) -> str:
    """The picture to show for a page: its preview, or for a page the gates rejected
    before any preview was made (no page found, too dark) the camera frame itself, so the
    clerk sees what went wrong instead of a broken image (issue 16)."""
    for key in ("preview_path", "frame_path"):
        path = page.get(key)
        if path and Path(path).exists():
            return path
    raise NotFound(page["id"])


#: Shown for a frame that cannot be decoded at all (a corrupt JPEG): grey with a cross.
def unreadable_picture(width: int) -> bytes:
    h = round(width * 1.41)
    img = np.full((h, width, 3), 200, np.uint8)
    cv2.line(
        img,
        (width // 4, h // 2 - width // 4),
        (3 * width // 4, h // 2 + width // 4),
        (0, 0, 200),
        8,
    )
    cv2.line(
        img,
        (3 * width // 4, h // 2 - width // 4),
        (width // 4, h // 2 + width // 4),
        (0, 0, 200),
        8,
    )
    return cv2.imencode(".jpg", img)[1].tobytes()


def page_picture(page: dict[str, Any], width: int) -> bytes:
    """The page's picture at most ``width`` px wide, as JPEG (see :func:`picture_path`)."""
    img = cv2.imread(picture_path(page), cv2.IMREAD_COLOR)
    if img is None:
        return unreadable_picture(width)
    h, w = img.shape[:2]
    if w > width:
        img = cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return buf.tobytes() if ok else unreadable_picture(width)


def thumbnail(ui: Ui, page: dict[str, Any]) -> bytes:
    path = picture_path(page)
    key = (path, Path(path).stat().st_mtime)
    cached = ui.thumbs.get(key)
    if cached is not None:
        return cached
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        return unreadable_picture(THUMB_WIDTH)
    h, w = img.shape[:2]
    if w > THUMB_WIDTH:
        img = cv2.resize(
            img, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), interpolation=cv2.INTER_AREA
        )
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])
    data = buf.tobytes() if ok else b""
    if len(ui.thumbs) > 500:
        ui.thumbs.clear()
    ui.thumbs[key] = data
    return data
