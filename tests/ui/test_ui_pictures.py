"""The page pictures the screens show: a thumbnail is an area-averaged reduction of the page
(the default bilinear one samples a 4000-pixel frame and aliases its fine print into noise)."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np

from kiosk_ui.pictures import THUMB_WIDTH, thumbnail


def test_a_thumbnail_averages_fine_detail_instead_of_sampling_it(tmp_path):
    # one-pixel black and white columns, five of them to each thumbnail pixel
    width = 5 * THUMB_WIDTH
    img = np.zeros((400, width, 3), np.uint8)
    img[:, ::2] = 255
    path = tmp_path / "preview.png"
    cv2.imwrite(str(path), img)
    ui = SimpleNamespace(thumbs={})
    data = thumbnail(ui, {"id": "p1", "preview_path": str(path)})
    thumb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert thumb.shape == (80, THUMB_WIDTH)
    # averaged: every pixel between grey levels 102 and 153 (3 or 2 white columns of 5);
    # sampled, the columns would alternate between black and white
    middle = thumb[10:-10, 10:-10].astype(float)
    assert middle.min() > 90 and middle.max() < 165, (middle.min(), middle.max())
