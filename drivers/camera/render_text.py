"""Typesetting of simulated documents on an A4 page at 300 dpi.

The layout follows the official formats closely (header columns, "Số" line, type name,
justified body with first-line indent, signature block with seal, "Nơi nhận") because the
metadata extractor locates fields by position and the OCR benchmark needs text of the real
size and density. Layout happens once per document (every page at once: the body flows
from page to page and the signature must land on the last one); drawing happens per page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw

from drivers.camera.corpus import BodyWriter, DocumentSpec, Paragraph, make_spec, nfc
from drivers.camera.render_fonts import font, pt_to_px
from drivers.camera.render_marks import (
    SEAL_RED,
    SIGNATURE_BLUE,
    multiply_ink,
    seal_mask,
    signature_mask,
)

PAGE_W, PAGE_H = 2480, 3508  # A4 at 300 dpi
MM = 300 / 25.4
# Decree 30 margins: top/bottom 20-25 mm, left 30-35 mm, right 15-20 mm.
LEFT, RIGHT = round(30 * MM), PAGE_W - round(20 * MM)
TOP, BOTTOM = round(20 * MM), PAGE_H - round(20 * MM)
TEXT_W = RIGHT - LEFT
BODY_PT = 14.0
BODY_PITCH = pt_to_px(BODY_PT) * 1.25
PARA_GAP = pt_to_px(6)
INDENT = round(12.7 * MM)
SIG_GAP = 330  # room for the handwritten signature and the seal, in pixels


@dataclass
class Line:
    """One printed line. ``parts`` are (x, text) runs drawn separately (justified words)."""

    text: str
    x: float
    y: float  # top of the ascender
    style: str = "regular"
    size: float = BODY_PT
    region: str = "body"  # header | body | footer | page_number
    underline: bool = False
    parts: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class PageLayout:
    lines: list[Line] = field(default_factory=list)
    rules: list[tuple[float, float, float, float]] = field(default_factory=list)  # x0,y,x1,thick
    stars: list[tuple[float, float]] = field(default_factory=list)  # "*" under Party issuer
    seal: tuple[float, float, int, str] | None = None  # cx, cy, radius, ring text
    signature: tuple[int, int, int, int] | None = None  # x, y, w, h


def _width(text: str, style: str, size: float) -> float:
    return font(style, size).getlength(text)


def _pitch(size: float) -> float:
    return pt_to_px(size) * 1.22


def _wrap(text: str, style: str, size: float, first_width: float, width: float) -> list[str]:
    """Greedy line breaking (what word processors do for justified official text)."""
    words = text.split()
    lines: list[str] = []
    current: list[str] = []
    limit = first_width
    for word in words:
        trial = " ".join([*current, word])
        if current and _width(trial, style, size) > limit:
            lines.append(" ".join(current))
            current = [word]
            limit = width
        else:
            current.append(word)
    if current:
        lines.append(" ".join(current))
    return lines


def _wrap_balanced(text: str, style: str, size: float, width: float) -> list[str]:
    """Wrap centred titles into lines of similar length (no one-word last line)."""
    rows = _wrap(text, style, size, width, width)
    if len(rows) < 2:
        return rows
    target = _width(text, style, size) / len(rows)
    for factor in (1.05, 1.12, 1.2, 1.3):
        trial = _wrap(text, style, size, target * factor, target * factor)
        if len(trial) == len(rows):
            return trial
    return rows


def _centered(
    text: str, cx: float, y: float, style: str, size: float, region: str, underline: bool = False
) -> Line:
    return Line(text, cx - _width(text, style, size) / 2, y, style, size, region, underline)


def _justify(text: str, x: float, width: float, style: str, size: float) -> list[tuple[float, str]]:
    words = text.split()
    if len(words) < 2:
        return [(x, text)]
    widths = [_width(w, style, size) for w in words]
    gap = (width - sum(widths)) / (len(words) - 1)
    parts, cursor = [], x
    for word, w in zip(words, widths, strict=True):
        parts.append((cursor, word))
        cursor += w + gap
    return parts


def _paragraph_lines(par: Paragraph) -> list[Line]:
    """Lines of one body paragraph with x positions; y is filled in by the page flow."""
    if par.style == "center":
        rows = _wrap(par.text, "bold", BODY_PT, TEXT_W * 0.85, TEXT_W * 0.85)
        return [_centered(r, LEFT + TEXT_W / 2, 0, "bold", BODY_PT, "body") for r in rows]
    if par.style == "heading":
        rows = _wrap(par.text, "bold", BODY_PT, TEXT_W - INDENT, TEXT_W)
        return [Line(r, LEFT + (INDENT if i == 0 else 0), 0, "bold") for i, r in enumerate(rows)]
    style = "italic" if par.style == "italic" else "regular"
    rows = _wrap(par.text, style, BODY_PT, TEXT_W - INDENT, TEXT_W)
    out = []
    for i, row in enumerate(rows):
        x = LEFT + (INDENT if i == 0 else 0)
        line = Line(row, x, 0, style)
        if i < len(rows) - 1:  # justified except the paragraph's last line
            line.parts = _justify(row, x, RIGHT - x, style, BODY_PT)
        out.append(line)
    return out


def _header(spec: DocumentSpec, page: PageLayout) -> float:
    """Lay out the page-1 header; return the y where the body starts."""
    party = spec.layout == "party"
    right_lines: list[tuple[str, str, float, bool]] = (
        [("ĐẢNG CỘNG SẢN VIỆT NAM", "bold", 14.0, True)]
        if party
        else [
            ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "bold", 13.0, False),
            ("Độc lập - Tự do - Hạnh phúc", "bold", 14.0, True),
        ]
    )
    issuer = spec.issuer.lines
    left_styles = ["regular"] * (len(issuer) - 1) + ["bold"]
    number_text = f"Số {spec.number_symbol}" if party else f"Số: {spec.number_symbol}"
    # Shrink the header until both columns fit side by side with a 60 px gutter.
    size = 13.0
    while True:
        wl = max(_width(t, s, size) for t, s in zip(issuer, left_styles, strict=True))
        wl = max(wl, _width(number_text, "regular", size))
        wr = max(_width(t, s, min(sz, size + 1)) for t, s, sz, _ in right_lines)
        wr = max(wr, _width(spec.place_date, "italic", 14.0))
        if wl + wr + 60 <= TEXT_W or size <= 10.5:
            break
        size -= 0.5
    left_room = TEXT_W - wr - 60
    subject_rows = (
        _wrap_balanced(spec.subject, "regular", 12.0, min(860.0, left_room))
        if spec.is_letter
        else []
    )
    wl = max([wl] + [_width(r, "regular", 12.0) for r in subject_rows])
    cl, cr = LEFT + max(wl, min(700.0, left_room)) / 2, RIGHT - wr / 2
    y = float(TOP)
    for text, style in zip(issuer, left_styles, strict=True):
        page.lines.append(_centered(text, cl, y, style, size, "header"))
        y += _pitch(size)
    if party:
        page.stars.append((cl, y + _pitch(size) * 0.35))
        y += _pitch(size) * 0.9
    else:
        rule = _width(issuer[-1], "bold", size) * 0.4
        page.rules.append((cl - rule / 2, y + 10, cl + rule / 2, 3))
        y += _pitch(size) * 0.5
    y_number = y
    page.lines.append(_centered(number_text, cl, y, "regular", size, "header"))
    y += _pitch(size)
    for row in subject_rows:
        page.lines.append(_centered(row, cl, y, "regular", 12.0, "header"))
        y += _pitch(12.0)
    yr = float(TOP)
    for text, style, sz, underline in right_lines:
        sz = min(sz, size + 1)
        page.lines.append(_centered(text, cr, yr, style, sz, "header", underline))
        yr += _pitch(sz) * (1.35 if underline else 1.0)
    yr = max(yr, y_number)
    page.lines.append(_centered(spec.place_date, cr, yr, "italic", 14.0, "header"))
    yr += _pitch(14.0)
    y = max(y, yr) + pt_to_px(14)

    if spec.is_letter:
        label = "Kính gửi: "
        items = spec.kinh_gui
        entries = [f"- {t}{';' if i < len(items) - 1 else '.'}" for i, t in enumerate(items)]
        if len(entries) == 1:
            entries = [entries[0][2:]]
        lw = _width(label, "regular", BODY_PT)
        block = lw + max(_width(e, "regular", BODY_PT) for e in entries)
        x0 = max(LEFT + INDENT, LEFT + (TEXT_W - block) / 2)
        for i, entry in enumerate(entries):
            x = x0 + lw
            line = Line((label if i == 0 else "") + entry, x0 if i == 0 else x, y, region="header")
            line.parts = ([(x0, label.strip())] if i == 0 else []) + [(x, entry)]
            page.lines.append(line)
            y += BODY_PITCH
        return y + PARA_GAP
    cx = LEFT + TEXT_W / 2
    page.lines.append(_centered(spec.type_name.upper(), cx, y, "bold", 15.0, "header"))
    y += _pitch(15.0)
    for row in _wrap_balanced(spec.subject, "bold", BODY_PT, TEXT_W * 0.8):
        page.lines.append(_centered(row, cx, y, "bold", BODY_PT, "header"))
        y += BODY_PITCH
    page.rules.append((cx - 160, y + 6, cx + 160, 3))
    return y + pt_to_px(14)


def _signature_height(spec: DocumentSpec) -> float:
    right = len(spec.signer_lines) * BODY_PITCH + SIG_GAP + BODY_PITCH
    left = _pitch(12.0) + len(spec.recipients) * _pitch(11.0)
    return max(right, left) + pt_to_px(14)


def _signature_block(spec: DocumentSpec, page: PageLayout, y: float) -> None:
    party = spec.layout == "party"
    cx = RIGHT - 480
    yy = y
    for text in spec.signer_lines:
        page.lines.append(_centered(text, cx, yy, "bold", BODY_PT, "footer"))
        yy += BODY_PITCH
    gap_top = yy
    yy += SIG_GAP
    page.lines.append(_centered(spec.signer_name, cx, yy, "bold", BODY_PT, "footer"))
    page.signature = (round(cx - 260), round(gap_top + 10), 560, SIG_GAP - 20)
    ring = " ".join(reversed(spec.issuer.lines)) if party else " ".join(spec.issuer.lines)
    page.seal = (cx - 170, gap_top - 40 + SIG_GAP / 2, 215, ring)

    label_style = "bold" if party else "bolditalic"
    page.lines.append(Line("Nơi nhận:", LEFT, y, label_style, 12.0, "footer", underline=party))
    yy = y + _pitch(12.0)
    for item in spec.recipients:
        page.lines.append(Line(item, LEFT, yy, "regular", 11.0, "footer"))
        yy += _pitch(11.0)


@lru_cache(maxsize=32)
def layout_document(
    doc_seed: int, layout: str, page_count: int
) -> tuple[DocumentSpec, tuple[PageLayout, ...]]:
    """Lay out all ``page_count`` pages: header on page 1, body flowing on, signature last.

    The body is drawn paragraph by paragraph from the seeded writer until it ends at a
    seeded fraction of the last page, so pages are full where they should be and the last
    page looks like a last page (text, then signature, then white space).
    """
    if page_count < 1:
        raise ValueError("page_count must be >= 1")
    spec = make_spec(doc_seed, layout)
    rng = np.random.default_rng([doc_seed, 7, page_count])
    writer = BodyWriter(spec, rng)
    pages = [PageLayout() for _ in range(page_count)]
    body_top = _header(spec, pages[0])
    for i in range(1, page_count):
        pages[i].lines.append(
            _centered(str(i + 1), LEFT + TEXT_W / 2, TOP - 110, "regular", 13.0, "page_number")
        )
    sig_h = _signature_height(spec)
    last_limit = BOTTOM - sig_h
    last_top = body_top if page_count == 1 else TOP + pt_to_px(6)
    target = last_top + rng.uniform(0.35, 0.9) * (last_limit - last_top)

    # Flow state: (page index, y). Paragraph lines are placed tentatively and kept only
    # if the document still ends on the last page above the signature block.
    state = (0, body_top)
    placed: list[list[tuple[int, Line]]] = []

    def try_place(par: Paragraph, st: tuple[int, float]):
        p, y = st
        out = []
        y += PARA_GAP if y > (body_top if p == 0 else TOP + 1) else 0
        for line in _paragraph_lines(par):
            limit = last_limit if p == page_count - 1 else BOTTOM
            if y + BODY_PITCH > limit:
                p += 1
                y = TOP + pt_to_px(6)
                if p >= page_count:
                    return None
            line.y = y
            out.append((p, line))
            y += BODY_PITCH
        return out, (p, y)

    while not (state[0] == page_count - 1 and state[1] >= target):
        for sentences in (None, 1, 1):
            result = try_place(writer.next(sentences), state)
            if result is not None:
                placed.append(result[0])
                state = result[1]
                break
        else:
            break
    result = try_place(writer.closing(), state)
    if result is not None:
        placed.append(result[0])
        state = result[1]
    for group in placed:
        for p, line in group:
            pages[p].lines.append(line)
    _signature_block(spec, pages[-1], state[1] + pt_to_px(12))
    return spec, tuple(pages)


def default_page_count(doc_seed: int) -> int:
    """Pages of a document when the caller does not choose: mostly one, sometimes 2-3."""
    r = np.random.default_rng([doc_seed, 3]).random()
    return 1 if r < 0.5 else 2 if r < 0.85 else 3


def reading_order(lines: list[Line]) -> list[Line]:
    """Top to bottom, left before right for lines on the same level (header columns)."""
    return sorted(lines, key=lambda ln: (round(ln.y / 20), ln.x))


def paper_color(doc_seed: int) -> tuple[int, int, int]:
    rng = np.random.default_rng([doc_seed, 11])
    base = rng.uniform(238, 250)
    return (round(base), round(base - rng.uniform(0, 4)), round(base - rng.uniform(2, 10)))


def draw_page(page: PageLayout, doc_seed: int, page_number: int) -> np.ndarray:
    """Rasterise one page layout: RGB uint8, 2480x3508, ink on slightly tinted paper."""
    canvas = Image.new("L", (PAGE_W, PAGE_H), 255)
    draw = ImageDraw.Draw(canvas)
    for line in page.lines:
        f = font(line.style, line.size)
        for x, text in line.parts or [(line.x, line.text)]:
            draw.text((x, line.y), text, font=f, fill=0, anchor="la")
        if line.underline:
            ascent, descent = f.getmetrics()
            uy = line.y + ascent + descent * 0.35
            draw.line(
                [(line.x, uy), (line.x + f.getlength(line.text), uy)],
                fill=0,
                width=max(2, round(f.size / 18)),
            )
    for x0, y, x1, thick in page.rules:
        draw.line([(x0, y), (x1, y)], fill=0, width=round(thick))
    star_font = font("regular", 13.0)
    for cx, cy in page.stars:
        draw.text((cx, cy), "*", font=star_font, fill=0, anchor="mm")
    ink = cv2.merge([np.asarray(canvas)] * 3)
    rng = np.random.default_rng([doc_seed, 13, page_number])
    # Paper is never flat white: faint low-frequency mottling (made small, upscaled).
    small = np.asarray(paper_color(doc_seed), np.float32) + rng.normal(0, 0.9, (16, 22, 1))
    paper = cv2.resize(
        np.clip(small, 0, 255).astype(np.uint8), (PAGE_W, PAGE_H), interpolation=cv2.INTER_CUBIC
    )
    # out = paper * ink + toner * (1 - ink), in saturating uint8 OpenCV arithmetic.
    toner = (28 / 255, 27 / 255, 32 / 255, 0)
    # OpenCV takes a Scalar (``toner``) as the second operand; the generated stubs of
    # OpenCV 4 list only arrays (those of 5.x accept it), and an array would multiply
    # element-wise instead of per channel.
    toned = cv2.multiply(cv2.bitwise_not(ink), toner)  # type: ignore[call-overload, unused-ignore]
    out = cv2.add(cv2.multiply(paper, ink, scale=1 / 255), toned)
    if page.signature is not None:
        x, y, w, h = page.signature
        multiply_ink(out, signature_mask(w, h, rng), SIGNATURE_BLUE, x, y)
    if page.seal is not None:
        cx, cy, radius, text = page.seal
        mask = seal_mask(radius, nfc(text), rng)
        multiply_ink(
            out, mask, SEAL_RED, round(cx - mask.shape[1] / 2), round(cy - mask.shape[0] / 2)
        )
    return out
