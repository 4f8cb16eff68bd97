"""Read the header of page 1 a second time, enlarged, for the lines the page pass missed.

Tesseract's layout analysis of a whole page sometimes drops a header line altogether:
measured on sim photos, "Số: 14/CT-BNV" under a short issuer line with its rule, or the
motto, were absent from the page's words while the same band, enlarged 1.5 times and read
alone, gives them. The band is the top of the page where the headings, issuer, number,
date and title stand; only lines with no word in common with the page pass are added
(their boxes mapped back to page pixels), so nothing read once is read twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

#: Top fraction of the page re-read (headings, issuer, number, date, type name, title).
HEADER_BAND = 0.30
SCALE = 1.5


def _overlaps(box: tuple[float, float, float, float], boxes: Sequence[tuple[float, ...]]) -> bool:
    x1, y1, x2, y2 = box
    area = max(1.0, (x2 - x1) * (y2 - y1))
    for b in boxes:
        ix = min(x2, b[2]) - max(x1, b[0])
        iy = min(y2, b[3]) - max(y1, b[1])
        if ix > 0 and iy > 0 and ix * iy > 0.2 * area:
            return True
    return False


def _read_lines(
    engine: Any, image: np.ndarray, dpi: int, x0: int, x1: int, y1: int
) -> list[list[Any]]:
    """Lines read in ``image[:y1, x0:x1]`` enlarged :data:`SCALE` times, boxes in page pixels."""
    from firmware.ocr.engine import Word

    big = cv2.resize(image[:y1, x0:x1], None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_CUBIC)
    res = engine.recognize(big, int(round(dpi * SCALE)))
    lines: dict[int, list[Any]] = {}
    for w in res.words:
        lines.setdefault(w.line, []).append(w)
    return [
        [
            Word(
                text=w.text,
                left=x0 + int(round(w.left / SCALE)),
                top=int(round(w.top / SCALE)),
                width=max(1, int(round(w.width / SCALE))),
                height=max(1, int(round(w.height / SCALE))),
                conf=w.conf,
                line=-1,
                baseline=int(round(w.baseline / SCALE)) if w.baseline is not None else None,
            )
            for w in ws
        ]
        for ws in lines.values()
    ]


def _is_number_line(ws: list[Any], width: int) -> bool:
    """A line beginning "Số" or "12/..." in the left part (a number quoted in the text
    does not count)."""
    import re

    from firmware.store.textfold import fold

    ws = sorted(ws, key=lambda w: w.left)
    text = fold(" ".join(w.text for w in ws))
    return ws[0].left < 0.45 * width and bool(re.match(r"^(?:s\W?[o0ô6e]\W*\s*)?\d+\s*[-/]", text))


def _is_date_line(ws: list[Any], width: int) -> bool:
    """A line of the right part with "... tháng ..." ("Hà Nội, ngày 05 tháng 3 năm 2024")."""
    from firmware.store.textfold import fold

    return any(w.left > 0.35 * width and fold(w.text).startswith("thang") for w in ws)


def _has_key_lines(words: list[Any], width: int, band_h: int) -> bool:
    """Whether the header has a number line and a date line: the two the column pass
    looks for."""
    lines: dict[int, list[Any]] = {}
    for w in words:
        if w.top < band_h:
            lines.setdefault(w.line, []).append(w)
    number = any(_is_number_line(ws, width) for ws in lines.values())
    date = any(_is_date_line(ws, width) for ws in lines.values())
    return number and date


def reread_header(engine: Any, image: np.ndarray, dpi: int, words: list[Any]) -> list[Any]:
    """Words of header lines found in the enlarged band and missing from ``words``.

    When the number or the date line is still missing after the band, each half of the band
    is read alone (measured on a 1600x1200 photo, bench seed 13: "Số: 285/HD-BNV" was absent
    from both the page and the band passes, and the left half alone read it); from a half,
    only a number or date line is taken, without the word across the cut (read in pieces:
    "S6: 15/TB-BNV Độc", the motto's first word cut, bench seed 17).

    ``engine`` is a :class:`firmware.ocr.engine.Engine`; the words returned are of its ``Word``
    type in page pixels, on new line numbers after the page's.
    """
    height, width = image.shape[:2]
    band_h = int(HEADER_BAND * height)
    known = [
        (w.left, w.top, w.left + w.width, w.top + w.height) for w in words if w.top < band_h * 1.1
    ]
    next_line = max((w.line for w in words), default=-1) + 1
    added: list[Any] = []

    def take(lines: list[list[Any]], keep: Any = lambda ws: ws) -> None:
        nonlocal next_line
        for ws in lines:
            ws = keep(ws)
            boxes = [(w.left, w.top, w.left + w.width, w.top + w.height) for w in ws]
            if not ws or any(_overlaps(b, known) for b in boxes):
                continue  # the page pass has this line (or part of it): keep its reading
            for w in ws:
                w.line = next_line
            known.extend(boxes)
            added.extend(ws)
            next_line += 1

    take(_read_lines(engine, image, dpi, 0, width, band_h))
    if not _has_key_lines([*words, *added], width, band_h):
        cut, margin = width // 2, width // 100

        def key_part(ws: list[Any], left: bool) -> list[Any]:
            """The words of a number or date line clear of the cut (the word across it is
            read in pieces); any other line is not taken from a half."""
            clear = [
                w
                for w in ws
                if (w.left + w.width < cut - margin if left else w.left > cut + margin)
            ]
            if clear and (_is_number_line(clear, width) or _is_date_line(clear, width)):
                return clear
            return []

        take(_read_lines(engine, image, dpi, 0, cut, band_h), lambda ws: key_part(ws, True))
        take(_read_lines(engine, image, dpi, cut, width, band_h), lambda ws: key_part(ws, False))
    return added
