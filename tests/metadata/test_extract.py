"""Field extraction from page-1 OCR words: crafted word lists (clean and OCR-damaged) for
both layouts, then real sim pages through the real Tesseract engine and the CLI."""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import UTC, datetime

import cv2
import pytest

from firmware.metadata.extract import extract_fields, segments
from firmware.metadata.types import registry

W, H = 2480, 3508  # A4 at 300 dpi
CHAR = 24  # rough advance of one character at 13-14 pt


def words_for(rows: list[tuple[int, list[tuple[int, str]]]], conf: float = 93) -> list[dict]:
    """OCR-like words: each row is (top, [(left, text of a run), ...]); runs are split into
    words; every row is one Tesseract line (columns side by side share the line)."""
    out = []
    for line, (top, runs) in enumerate(rows):
        for left, text in runs:
            x = left
            for word in text.split():
                width = len(word) * CHAR
                out.append(
                    {
                        "text": word,
                        "left": x,
                        "top": top,
                        "width": width,
                        "height": 44,
                        "conf": conf,
                        "line": line,
                    }
                )
                x += width + 14
    return out


def party_letter(
    number="Số 64-CV/TW",
    date="Hà Nội, ngày 10 tháng 4 năm 2025",
    heading="ĐẢNG CỘNG SẢN VIỆT NAM",
    issuer=("BAN CHẤP HÀNH TRUNG ƯƠNG",),
):
    rows = [(238, [(420, issuer[0]), (1500, heading)])]
    y = 304
    for extra in issuer[1:]:
        rows.append((y, [(480, extra)]))
        y += 66
    rows += [
        (y + 10, [(690, "*")]),
        (y + 80, [(520, number), (1300, date)]),
        (y + 150, [(400, "V/v tăng cường công tác số hóa")]),
        (y + 210, [(470, "tài liệu lưu trữ")]),
        (y + 330, [(700, "Kính gửi: Các tỉnh ủy, thành ủy")]),
        (y + 430, [(505, "Thực hiện Chỉ thị số 12-CT/TW ngày 05 tháng 3 năm 2019 của Ban")]),
        (y + 500, [(356, "Bí thư, đề nghị các cấp ủy tổ chức thực hiện tốt các nội dung sau")]),
    ]
    return rows


def state_decision(
    number="Số: 12/QĐ-UBND", date="Bắc Ninh, ngày 26 tháng 7 năm 2021", heading="QUYẾT ĐỊNH"
):
    return [
        (238, [(452, "ỦY BAN NHÂN DÂN"), (1280, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")]),
        (304, [(495, "TỈNH BẮC NINH"), (1350, "Độc lập - Tự do - Hạnh phúc")]),
        (410, [(496, number), (1250, date)]),
        (532, [(1240 - len(heading) * CHAR // 2, heading)]),
        (
            616,
            [
                (735, "Về việc ban hành Quy chế công tác"),
            ],
        ),
        (690, [(900, "văn thư, lưu trữ")]),
        (815, [(704, "CHỦ TỊCH ỦY BAN NHÂN DÂN TỈNH BẮC NINH")]),
        (920, [(507, "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;")]),
    ]


def test_party_letter_fields_and_confidences():
    ext = extract_fields(words_for(party_letter()), page_width=W, page_height=H)
    got = {k: v["value"] for k, v in ext.to_dict().items()}
    assert got == {
        "kind": "party",
        "type": "Công văn",
        "number": "64",
        "symbol": "CV/TW",
        "date": "2025-04-10",
        "issuer": "BAN CHẤP HÀNH TRUNG ƯƠNG",
        "subject": "V/v tăng cường công tác số hóa tài liệu lưu trữ",
    }
    assert all(0.8 <= v["confidence"] <= 1 for v in ext.to_dict().values())
    assert ext.to_metadata()["doc_type"] == "CV"
    assert ext.place == "Hà Nội"


def test_state_decision_fields():
    ext = extract_fields(words_for(state_decision()), page_width=W, page_height=H)
    got = {k: v["value"] for k, v in ext.to_dict().items()}
    assert got["kind"] == "state"
    assert got["type"] == "Quyết định"
    assert (got["number"], got["symbol"]) == ("12", "QĐ-UBND")
    # the body quotes another date: the header date is the one that counts
    assert got["date"] == "2021-07-26"
    assert got["issuer"] == "ỦY BAN NHÂN DÂN - TỈNH BẮC NINH"
    # the subject runs over two lines and stops before the deciding authority
    assert got["subject"] == "Về việc ban hành Quy chế công tác văn thư, lưu trữ"


def test_state_letter_without_type_code():
    rows = state_decision(number="Số: 45/UBND-VP", heading="")
    rows[3:6] = [(500, [(400, "V/v báo cáo số liệu số hóa")])]
    ext = extract_fields(words_for(rows), page_width=W, page_height=H)
    assert ext.type.value == "Công văn"
    assert (ext.number.value, ext.symbol.value) == ("45", "UBND-VP")
    assert ext.subject.value == "V/v báo cáo số liệu số hóa"


@pytest.mark.parametrize(
    ("number", "date", "want_number", "want_date"),
    [
        # missing spaces, as Tesseract merges tight italics
        ("Số 64-CV/TW", "Hà Nội, ngày 26tháng 4năm 2025", "64", "2025-04-26"),
        # O for 0 and l for 1 in the digits
        ("Số l2O-CV/TW", "Hà Nội, ngày O5 tháng l1 năm 2O24", "120", "2024-11-05"),
        # diacritics lost everywhere, spaces around the separators
        ("So 7 - CV / TW", "Ha Noi, ngay 3 thang 2 nam 2021", "7", "2021-02-03"),
        # dashes of other shapes
        ("Số 15–CV/TW", "Hà Nội, ngày 1 tháng 10 năm 2022", "15", "2022-10-01"),
    ],
)
def test_damaged_number_and_date(number, date, want_number, want_date):
    ext = extract_fields(
        words_for(party_letter(number=number, date=date)), page_width=W, page_height=H
    )
    assert (ext.number.value, ext.symbol.value) == (want_number, "CV/TW")
    assert ext.date.value == want_date


def test_lost_diacritics_are_restored_in_issuer_and_type():
    rows = state_decision(heading="QUYET DINH")
    rows[0] = (238, [(452, "UY BAN NHAN DAN"), (1280, "CONG HOA XA HOI CHU NGHIA VIET NAM")])
    rows[1] = (304, [(495, "TINH BAC NINH"), (1350, "Doc lap - Tu do - Hanh phuc")])
    rows[2] = (410, [(496, "So: 12/QD-UBND"), (1250, "Bac Ninh, ngay 26 thang 7 nam 2021")])
    ext = extract_fields(words_for(rows), page_width=W, page_height=H)
    assert ext.kind.value == "state"
    assert ext.type.value == "Quyết định"
    assert ext.symbol.value == "QĐ-UBND"  # the canonical code, Đ restored
    assert ext.issuer.value == "ỦY BAN NHÂN DÂN - TỈNH BẮC NINH"
    assert ext.date.value == "2021-07-26"


def test_columns_run_together_are_cut_at_the_heading():
    """A long issuer name leaves a narrow gutter: Tesseract returns one line, one segment."""
    rows = party_letter()
    rows[0] = (238, [(356, "ĐẢNG BỘ THÀNH PHỐ ĐÀ NẴNG ĐẢNG CỘNG SẢN VIỆT NAM")])
    ext = extract_fields(words_for(rows), page_width=W, page_height=H)
    assert ext.kind.value == "party"
    assert ext.issuer.value == "ĐẢNG BỘ THÀNH PHỐ ĐÀ NẴNG"


def test_body_code_is_checked_against_the_issuer_initials():
    rows = state_decision(number="Số: 80/QĐ-SGDDT")
    rows[0] = (238, [(380, "UBND THÀNH PHỐ HÀ NỘI"), (1280, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")])
    rows[1] = (304, [(400, "SỞ GIÁO DỤC VÀ ĐÀO TẠO"), (1350, "Độc lập - Tự do - Hạnh phúc")])
    ext = extract_fields(words_for(rows), page_width=W, page_height=H)
    assert ext.symbol.value == "QĐ-SGDĐT"
    assert ext.extras["number_symbol"] == "80/QĐ-SGDĐT"


def test_camera_photo_misreads_of_issue_16_are_repaired():
    """Three readings of Tesseract on sim camera photos (bench/extract_accuracy.py, seed 11):
    a quote read after the last word of the issuer ("VŨ THƯ’") dropped that word; a dash
    after the symbol ("S6351-CV/TW -") lost the number and put "-" into the issuer; a bold
    "Đ" read as "B" in the body code ("245-CV/BU" under "ĐẢNG ỦY XÃ ĐA TỐN")."""
    rows = state_decision(number="Số: 54/PNV-VX", date="Vũ Thư, ngày 01 tháng 7 năm 2020")
    rows[0] = (238, [(382, "UBND HUYỆN VŨ THƯ’"), (1026, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")])
    rows[1] = (291, [(456, "PHÒNG NỘI VỤ"), (1246, "Độc lập - Tự do - Hạnh phúc")])
    ext = extract_fields(words_for(rows), page_width=W, page_height=H)
    assert ext.issuer.value == "UBND HUYỆN VŨ THƯ - PHÒNG NỘI VỤ"

    ext = extract_fields(
        words_for(party_letter(number="S6351-CV/TW -")), page_width=W, page_height=H
    )
    assert ext.extras["number_symbol"] == "351-CV/TW"
    assert ext.issuer.value == "BAN CHẤP HÀNH TRUNG ƯƠNG"

    rows = party_letter(number="Số 245-CV/BU", issuer=("HUYỆN ỦY GIA LÂM", "ĐẢNG ỦY XÃ ĐA TỐN"))
    ext = extract_fields(words_for(rows), page_width=W, page_height=H)
    assert ext.issuer.value == "HUYỆN ỦY GIA LÂM - ĐẢNG ỦY XÃ ĐA TỐN"
    assert ext.extras["number_symbol"] == "245-CV/ĐU"


def test_place_run_together_and_subject_box_touching_the_heading():
    """Bench seed 17 (1600x1200): "HÀ NỘI" read as one word with a wrong letter ("HANOL");
    the subject's first line, whose marks reach up, has a box that starts inside the type
    heading's box (it was left out and the subject lost)."""
    rows = state_decision(number="Số: 67/CT-PNV", heading="CHỈ THỊ")
    rows[0] = (238, [(380, "UBND THÀNH PHỐ HANOL"), (1280, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")])
    rows[1] = (304, [(400, "SỞ GIÁO DỤC VÀ ĐÀO TẠO"), (1350, "Độc lập - Tự do - Hạnh phúc")])
    rows[2] = (410, [(496, "Số: 67/CT-PNV"), (1250, "Hà Nội, ngày 14 tháng 8 năm 2024")])
    rows[4] = (532 + 30, rows[4][1])  # the subject's box begins above the heading's bottom
    rows[5] = (640, rows[5][1])
    ext = extract_fields(words_for(rows), page_width=W, page_height=H)
    assert ext.issuer.value == "UBND THÀNH PHỐ HÀ NỘI - SỞ GIÁO DỤC VÀ ĐÀO TẠO"
    assert ext.type.value == "Chỉ thị"
    assert ext.subject.value == "Về việc ban hành Quy chế công tác văn thư, lưu trữ"


def test_low_ocr_confidence_lowers_field_confidence():
    good = extract_fields(words_for(party_letter(), conf=95), page_width=W, page_height=H)
    poor = extract_fields(words_for(party_letter(), conf=55), page_width=W, page_height=H)
    assert poor.number.value == good.number.value
    assert poor.number.confidence < good.number.confidence - 0.3
    assert set(poor.low_confidence(0.8)) >= {"number", "symbol", "date"}
    assert good.low_confidence(0.8) == []


def test_nothing_found_gives_empty_fields():
    ext = extract_fields(words_for([(300, [(400, "Một trang không có tiêu đề nào")])]))
    assert all(v == {"value": None, "confidence": 0.0} for v in ext.to_dict().values())
    assert extract_fields([]).to_metadata() == {}


def test_configured_types_are_recognised():
    rows = state_decision(number="Số: 3/ĐA-UBND", heading="ĐỀ ÁN")
    types = registry("ĐA=Đề án")
    ext = extract_fields(words_for(rows), page_width=W, page_height=H, types=types)
    assert (ext.type.value, ext.type_code, ext.symbol.value) == ("Đề án", "ĐA", "ĐA-UBND")


def test_segments_split_columns_on_wide_gaps():
    segs = segments(words_for([(238, [(400, "TỈNH ỦY"), (1500, "ĐẢNG CỘNG SẢN VIỆT NAM")])]))
    assert [s.text for s in segs] == ["TỈNH ỦY", "ĐẢNG CỘNG SẢN VIỆT NAM"]


# --- real pages, real OCR -------------------------------------------------------------


@pytest.fixture(scope="module")
def engine():
    from firmware.ocr.engine import Engine, OcrError, find_tessdata

    try:
        eng = Engine(find_tessdata(), "vie+eng")
    except OcrError as exc:
        pytest.skip(f"Tesseract data missing: {exc}")
    yield eng
    eng.close()


@pytest.mark.parametrize(("seed", "layout"), [(11, "party"), (14, "state")])
def test_rendered_pages_through_real_ocr(engine, seed, layout):
    from drivers.camera.render import render_page

    page = render_page(seed, 1, layout, page_count=1)
    ocr = engine.recognize(cv2.cvtColor(page.rgb, cv2.COLOR_RGB2BGR), 300)
    ext = extract_fields(ocr.words, page_width=W, page_height=H)
    truth = page.fields
    assert ext.kind.value == layout
    assert ext.extras["number_symbol"] == truth["number_symbol"]
    assert ext.date.value == truth["date"]
    assert ext.type.value == truth["type"]
    assert ext.issuer.value == truth["issuer"]
    assert ext.number.confidence > 0.8 and ext.date.confidence > 0.8


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_cli_extract_on_a_pdf(tmp_path, make_settings, capsys, monkeypatch):
    from drivers.camera.render import render_page
    from firmware.archive.seal import DocumentInfo, SealPage, seal_pdf
    from firmware.cli.metadata import register

    page = render_page(12, 1, "state", page_count=1)
    pdf = tmp_path / "doc.pdf"
    info = DocumentInfo("D1", "t", datetime(2025, 1, 2, tzinfo=UTC), "k")
    seal_pdf(
        [SealPage(cv2.cvtColor(page.rgb, cv2.COLOR_RGB2BGR), 300, [])],
        info,
        pdf,
        image_dpi=300,
        jpeg_quality=90,
    )
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["extract", str(pdf), "--compact"])
    monkeypatch.setenv("SOHOA_DATA_DIR", str(tmp_path / "var"))
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"kind", "type", "number", "symbol", "date", "issuer", "subject"}
    assert all(set(v) == {"value", "confidence"} for v in out.values())
    assert out["kind"]["value"] == "state"
    assert out["date"]["value"] == page.fields["date"]
    assert f"{out['number']['value']}/{out['symbol']['value']}" == page.fields["number_symbol"]


def test_cli_extract_reports_unreadable_input(tmp_path, capsys, monkeypatch):
    from firmware.cli.metadata import register

    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["extract", str(bad)])
    monkeypatch.setenv("SOHOA_DATA_DIR", str(tmp_path / "var"))
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "không phải ảnh" in err and "not a readable image" in err


def test_the_ocr_engine_silences_leptonica_chatter():
    """Leptonica's "Error in boxClipToRectangle" lines must not flood the kiosk's journal;
    a fresh process (the OCR worker's situation) is checked through Leptonica itself:
    ``setMsgSeverity`` answers the level that was set before."""
    import subprocess
    import sys

    code = (
        "import ctypes\n"
        "from firmware.ocr.engine import Engine, find_tessdata\n"
        "Engine(find_tessdata(), 'vie+eng')\n"
        "maps = open('/proc/self/maps').read().split()\n"
        "lib = next(p for p in maps if '/' in p and 'lept' in p.rsplit('/', 1)[-1])\n"
        "print(ctypes.CDLL(lib).setMsgSeverity(6))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "6"  # L_SEVERITY_NONE was already in force
