"""Print cover sheets and batch separators: A4 PDF pages with the QR code and plain text.

Each page is meant to be printed at 100 % and laid on the paper documents, so its design
serves the camera and the clerk at once:

- the QR code is large (module size >= :data:`MIN_MODULE_MM`, at least :data:`MIN_QR_MM`
  wide) so a quarter-scale read of a 12 MP frame still finds it under uneven light;
- what the QR says is printed in words (Vietnamese, with diacritics, in the Times-metric
  Liberation Serif the rest of the project uses), with the subject in full when the QR
  carries it shortened, so a clerk can check the sheet against the document;
- "TỜ BÌA — KHÔNG LƯU" / "TỜ TÁCH LÔ — KHÔNG LƯU" in large type: nobody files it by mistake.

Drawn with reportlab (fonts embedded as subsets, vector QR from segno's matrix) into memory,
then written atomically: a half-written PDF never reaches the printer queue.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from firmware.coversheet.payload import (
    DIRECTIONS,
    CoverSheet,
    SeparatorSheet,
    Sheet,
    encode,
    fit,
)
from firmware.metadata.model import SEQUENCE_DIGITS
from firmware.metadata.types import registry
from firmware.routing import LABELS_EN, LABELS_VI, Level
from sohoa_common.atomic import atomic_write_bytes

#: Smallest QR module printed: 1.6 mm is ~3 px at quarter scale of a 12 MP frame of A4.
MIN_MODULE_MM = 1.6
MIN_QR_MM = 70.0
MAX_QR_MM = 110.0
MARGIN_MM = 15.0
FONT_REGULAR = "SohoaSerif"
FONT_BOLD = "SohoaSerif-Bold"


@dataclass(frozen=True)
class PrintedSheet:
    """One page of the PDF: the payload in its QR and the QR's size."""

    page: int
    payload: str
    qr_version: int
    qr_mm: float
    summary: str


@cache
def _fonts() -> None:
    """Register the project's serif faces with reportlab (once per process)."""
    from drivers.camera.render_fonts import font_path

    pdfmetrics.registerFont(TTFont(FONT_REGULAR, str(font_path("regular"))))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(font_path("bold"))))


def _qr(payload: str) -> segno.QRCode:
    # Error correction M at least, raised as far as the chosen version allows.
    return segno.make(payload, error="m", boost_error=True, micro=False, mode="byte")


def _draw_qr(c: Canvas, qr: segno.QRCode, x: float, y_top: float, size: float) -> None:
    """Dark modules as one filled path of row runs (no hairline gaps inside a run)."""
    matrix = [list(row) for row in qr.matrix]
    n = len(matrix)
    cell = size / n
    path = c.beginPath()
    for r, row in enumerate(matrix):
        col = 0
        while col < n:
            if row[col]:
                start = col
                while col < n and row[col]:
                    col += 1
                path.rect(x + start * cell, y_top - (r + 1) * cell, (col - start) * cell, cell)
            else:
                col += 1
    c.setFillGray(0)
    c.drawPath(path, stroke=0, fill=1)


def _centred(c: Canvas, text: str, y: float, font: str, size: float) -> None:
    c.setFont(font, size)
    c.drawCentredString(A4[0] / 2, y, text)


def _rows(sheet: CoverSheet) -> list[tuple[str, str]]:
    """(Vietnamese label / English label, value) lines printed under the QR."""
    rows: list[tuple[str, str]] = []
    if sheet.register or sheet.entry:
        words = DIRECTIONS.get(sheet.direction)
        kind = f" (văn bản {words[0]} / {words[1]})" if words else ""
        rows.append(("Sổ đăng ký / Register", f"{sheet.register}{kind}".strip()))
        if sheet.entry:
            rows.append(("Số đăng ký / Entry no.", sheet.entry))
    if sheet.key and sheet.key != f"{sheet.register}:{sheet.entry}":
        rows.append(("Mã mục sổ / Entry key", sheet.key))
    if sheet.number_symbol:
        rows.append(("Số, ký hiệu / Number", sheet.number_symbol))
    if sheet.date:
        rows.append(("Ngày văn bản / Date", f"{sheet.date:%d/%m/%Y}"))
    known = registry().code(sheet.doc_type) if sheet.doc_type else None
    if known is not None:
        rows.append(("Tên loại / Type", known.name))
    if sheet.issuer:
        rows.append(("Cơ quan ban hành / Issuer", sheet.issuer))
    if sheet.subject:
        rows.append(("Trích yếu / Subject", sheet.subject))
    if sheet.record_code:
        rows.append(("Mã hồ sơ / Record file", sheet.record_code))
        if sheet.sequence is not None:
            rows.append(("Số thứ tự / Sequence", f"{sheet.sequence:0{SEQUENCE_DIGITS}d}"))
    level = Level(sheet.confidentiality)
    rows.append(("Độ mật / Confidentiality", f"{LABELS_VI[level]} ({LABELS_EN[level]})"))
    return rows


def _draw_rows(c: Canvas, rows: list[tuple[str, str]], y: float) -> float:
    left = MARGIN_MM * mm + 5 * mm
    label_w = 62 * mm
    value_w = A4[0] - left - label_w - MARGIN_MM * mm
    size, lead = 12.5, 15.5
    for label, value in rows:
        c.setFont(FONT_BOLD, 10.5)
        c.drawString(left, y, label)
        lines = simpleSplit(value, FONT_REGULAR, size, value_w)[:6]
        c.setFont(FONT_REGULAR, size)
        for i, line in enumerate(lines):
            c.drawString(left + label_w, y - i * lead, line)
        y -= lead * max(1, len(lines)) + 3
    return y


def _paragraph(c: Canvas, text: str, y: float, font: str, size: float) -> float:
    width = A4[0] - 2 * MARGIN_MM * mm
    c.setFont(font, size)
    for line in simpleSplit(text, font, size, width):
        c.drawString(MARGIN_MM * mm, y, line)
        y -= size * 1.3
    return y


def _band(c: Canvas, title_vi: str, title_en: str) -> float:
    """The "do not archive" band across the top; returns the y below it."""
    w, h = A4
    top = h - MARGIN_MM * mm
    c.setLineWidth(3)
    c.rect(MARGIN_MM * mm, top - 30 * mm, w - 2 * MARGIN_MM * mm, 30 * mm, stroke=1, fill=0)
    _centred(c, title_vi, top - 14 * mm, FONT_BOLD, 26)
    _centred(c, title_en, top - 23 * mm, FONT_REGULAR, 12)
    return top - 36 * mm


def _page(c: Canvas, sheet: Sheet, page: int, total: int) -> PrintedSheet:
    w, h = A4
    short = fit(sheet)
    payload = encode(short)
    qr = _qr(payload)
    modules = qr.symbol_size(border=0)[0]
    qr_mm = min(MAX_QR_MM, max(MIN_QR_MM, modules * MIN_MODULE_MM))
    if isinstance(sheet, SeparatorSheet):
        y = _band(c, "TỜ TÁCH LÔ — KHÔNG LƯU", "BATCH SEPARATOR — NOT ARCHIVED")
        _centred(c, "TÁCH LÔ", y - 22 * mm, FONT_BOLD, 64)
        y -= 34 * mm
        if sheet.number is not None:
            _centred(c, f"Tờ số {sheet.number} / Sheet {sheet.number}", y, FONT_REGULAR, 14)
        y -= 10 * mm
    else:
        y = _band(c, "TỜ BÌA — KHÔNG LƯU", "COVER SHEET — NOT ARCHIVED")
    size = qr_mm * mm
    _draw_qr(c, qr, (w - size) / 2, y, size)
    y -= size + 10 * mm
    if isinstance(sheet, CoverSheet):
        y = _draw_rows(c, _rows(sheet), y)
        # fit() gives back a sheet of the kind it was given
        if isinstance(short, CoverSheet) and short.subject != sheet.subject:
            y = _paragraph(
                c,
                "Mã QR mang trích yếu rút gọn; hãy kiểm tra lại khi duyệt. / "
                "The QR carries a shortened subject; check it at review.",
                y - 2 * mm,
                FONT_REGULAR,
                9,
            )
        how_vi = (
            "Đặt tờ bìa này lên trên văn bản và chụp như một trang: máy tự tạo tài liệu mới "
            "với các thông tin trên. Tờ bìa không được lưu vào tài liệu số hóa; lấy tờ bìa "
            "ra rồi chụp các trang của văn bản."
        )
        how_en = (
            "Lay this sheet on top of the document and capture it like a page: the kiosk "
            "starts a new document with the details above. The sheet itself is not archived; "
            "remove it, then capture the document's pages."
        )
    else:
        how_vi = (
            "Đặt tờ này giữa hai văn bản khi quét liên tục: máy kết thúc văn bản đang quét "
            "(chuyển sang xử lý) và bắt đầu văn bản tiếp theo. Tờ tách lô không được lưu "
            "và có thể dùng lại nhiều lần."
        )
        how_en = (
            "Put this sheet between two documents when scanning continuously: the kiosk "
            "finishes the current document and starts the next. The sheet is not archived "
            "and can be used again."
        )
    y = _paragraph(c, how_vi, max(y - 4 * mm, 44 * mm), FONT_REGULAR, 11)
    _paragraph(c, how_en, y - 2 * mm, FONT_REGULAR, 9.5)
    c.setFont(FONT_REGULAR, 8)
    c.drawString(MARGIN_MM * mm, 10 * mm, f"Sohoa · {payload.split('|', 1)[0]} · QR v{qr.version}")
    c.drawRightString(w - MARGIN_MM * mm, 10 * mm, f"{page} / {total}")
    c.showPage()
    return PrintedSheet(page, payload, int(qr.version), qr_mm, sheet.summary("vi"))


def render_pdf(sheets: Sequence[Sheet], out: Path | str) -> list[PrintedSheet]:
    """Write one A4 page per sheet to ``out`` (atomically); returns what each page holds.

    The output is reproducible (reportlab's invariant mode): printing the same sheets
    twice gives the same file, so a sheet can be checked against an earlier print.
    """
    if not sheets:
        raise ValueError("no sheets to print")
    _fonts()
    buf = io.BytesIO()
    c = Canvas(
        buf,
        pagesize=A4,
        invariant=1,
        pageCompression=1,
        # types-reportlab types it as a float (a stub bug: it is the font's name)
        initialFontName=FONT_REGULAR,  # type: ignore[arg-type, unused-ignore]
    )
    c.setTitle("Sohoa — tờ bìa / cover sheets")
    c.setAuthor("Sohoa")
    c.setCreator("sohoa coversheet")
    c.setSubject("TỜ BÌA — KHÔNG LƯU")
    printed = [_page(c, s, i, len(sheets)) for i, s in enumerate(sheets, start=1)]
    c.save()
    atomic_write_bytes(out, buf.getvalue(), mode=0o644)
    return printed
