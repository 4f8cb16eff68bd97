"""QR cover sheets and batch separators: the payload, the printed PDF, `sohoa coversheet`.

The printed PDF is checked the way an office would use it: opened by pikepdf (A4, fonts
embedded), its text read by pdftotext, its pages rendered by pdftoppm and the QR on each
rendered page decoded by the kiosk's own detector back to the sheet that was printed.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pikepdf
import pytest

from firmware.coversheet.payload import (
    ELLIPSIS,
    MAX_PAYLOAD_BYTES,
    CoverSheet,
    PayloadError,
    SeparatorSheet,
    decode,
    encode,
    fit,
)
from firmware.coversheet.printing import render_pdf
from firmware.coversheet.reader import find_qr, read_sheet
from tests.conftest import run_sohoa
from tests.support.coversheet import flat_jpeg, pdf_pages

pytestmark = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils not installed",
)

A4_PT = (595.2756, 841.8898)


def entry_sheet(**over) -> CoverSheet:
    values = dict(
        register="Sổ văn bản đến 2025",
        direction="đến",
        entry="1234",
        number="64-CV/TW",
        date="10/04/2025",
        issuer="Văn phòng Tỉnh ủy Hà Giang",
        subject="V/v triển khai số hóa | tài liệu # lưu trữ 100%",
        confidentiality="Mật",
    )
    values.update(over)
    return CoverSheet.build(**values)


# -- payload ------------------------------------------------------------------------------
def test_register_entry_round_trip_keeps_every_field():
    sheet = entry_sheet()
    payload = encode(sheet)
    assert payload.startswith("SOHOA1|D|")
    assert payload[-9] == "#" and int(payload[-8:], 16) >= 0  # CRC-32 of the rest
    back = decode(payload)
    assert back == sheet
    assert (back.number, back.symbol, back.doc_type) == ("64", "CV/TW", "CV")
    assert back.date == dt.date(2025, 4, 10)
    assert back.direction == "in" and back.confidentiality == "mat"
    assert back.subject == "V/v triển khai số hóa | tài liệu # lưu trữ 100%"
    assert back.register_key == "Sổ văn bản đến 2025:1234"
    meta = back.document_metadata()
    assert meta["number_symbol"] == "64-CV/TW" and meta["date"] == "2025-04-10"
    assert meta["register_entry"] == "1234" and meta["register_direction"] == "in"
    assert set(meta["field_sources"]) >= {"number", "symbol", "date", "issuer", "subject"}
    assert set(meta["field_sources"].values()) == {"coversheet"}


def test_record_file_and_separator_round_trip():
    rec = CoverSheet.build(record_code="H49.61.8.2019.05", sequence="7")
    assert decode(encode(rec)) == rec
    assert rec.sequence == 7 and "H49.61.8.2019.05 / 007" in rec.summary()
    sep = SeparatorSheet(3)
    assert encode(sep).startswith("SOHOA1|S|n=3#")
    assert decode(encode(sep)) == sep
    assert decode(encode(SeparatorSheet())) == SeparatorSheet()


def test_long_subject_is_shortened_to_fit_and_marked():
    long = "V/v " + "triển khai công tác số hóa tài liệu lưu trữ của Đảng bộ tỉnh " * 6
    sheet = fit(entry_sheet(subject=long))
    assert len(encode(sheet).encode()) <= MAX_PAYLOAD_BYTES
    assert sheet.subject.endswith(ELLIPSIS) and long.startswith(sheet.subject[:-1])
    assert decode(encode(sheet)).document_metadata()["coversheet"]["subject_shortened"]


@pytest.mark.parametrize(
    ("text", "code", "vi_words"),
    [
        ("https://vanban.hagiang.gov.vn/xac-thuc?id=8812", "foreign", "không phải tờ bìa"),
        ("SOHOA1|D|no=64|sy=CV/TW|dt=2025-04-10", "damaged", "bị hỏng"),  # no checksum
        ("SOHOA", "damaged", "bị hỏng"),
    ],
)
def test_foreign_and_malformed_payloads_are_refused_with_a_reason(text, code, vi_words):
    with pytest.raises(PayloadError) as err:
        decode(text)
    assert err.value.code == code
    assert vi_words in err.value.message_vi
    assert err.value.message_en


def test_truncated_altered_and_future_version_payloads_are_refused():
    payload = encode(entry_sheet())
    for cut in (len(payload) - 1, len(payload) - 9, len(payload) // 2, 12):
        with pytest.raises(PayloadError) as err:
            decode(payload[:cut])
        assert err.value.code == "damaged", cut
    altered = payload.replace("1234", "1235")
    with pytest.raises(PayloadError) as err:
        decode(altered)
    assert err.value.code == "damaged"
    body = "SOHOA2|D|no=64|sy=CV/TW"
    import zlib

    future = f"{body}#{zlib.crc32(body.encode()) & 0xFFFFFFFF:08x}"
    with pytest.raises(PayloadError) as err:
        decode(future)
    assert err.value.code == "version"
    assert "SOHOA2" in err.value.message_vi and "in lại" in err.value.message_vi


def _signed(body: str) -> str:
    import zlib

    return f"{body}#{zlib.crc32(body.encode()) & 0xFFFFFFFF:08x}"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("SOHOA1|X|n=1", "kind"),
        ("SOHOA1|D|no=64|sy=CV/TW|cf=tuyet_mat", "fields"),  # never digitized
        ("SOHOA1|D|no=64|sy=CV/TW|dt=2099-01-01", "fields"),  # in the future
        ("SOHOA1|D|cf=mat", "empty"),
        ("SOHOA1|S|n=abc", "damaged"),
    ],
)
def test_payloads_breaking_the_metadata_rules_are_refused(body, code):
    with pytest.raises(PayloadError) as err:
        decode(_signed(body))
    assert err.value.code == code


def test_unknown_optional_keys_are_ignored_within_version_1():
    assert decode(_signed("SOHOA1|D|rc=H49.61|zz=later")) == CoverSheet.build(record_code="H49.61")


# -- printed PDF ---------------------------------------------------------------------------
def test_pdf_is_a4_with_embedded_fonts_vietnamese_text_and_readable_qr(tmp_path):
    sheets = [entry_sheet(), CoverSheet.build(record_code="H49.61.8.2019.05", sequence=3)]
    sheets.append(SeparatorSheet(1))
    out = tmp_path / "sheets.pdf"
    printed = render_pdf(sheets, out)
    assert [p.page for p in printed] == [1, 2, 3]
    with pikepdf.open(out) as pdf:
        assert len(pdf.pages) == 3
        for page in pdf.pages:
            box = [float(v) for v in page.mediabox]
            assert box[2:] == pytest.approx(A4_PT, abs=0.5)
            fonts = page.Resources.Font
            assert len(fonts) >= 1
            for name in fonts:  # every font a TrueType subset embedded in the file
                assert "/FontFile2" in fonts[name].FontDescriptor, name
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "TỜ BÌA — KHÔNG LƯU" in text and "TỜ TÁCH LÔ — KHÔNG LƯU" in text
    assert "Văn phòng Tỉnh ủy Hà Giang" in text and "64-CV/TW" in text
    assert "H49.61.8.2019.05" in text and "TÁCH LÔ" in text
    for sheet, rgb in zip(sheets, pdf_pages(out, dpi=150), strict=True):
        found = find_qr(flat_jpeg(rgb))
        assert found.text is not None
        assert decode(found.text) == fit(sheet)


def test_same_sheets_print_to_the_same_bytes(tmp_path):
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    render_pdf([entry_sheet()], a)
    render_pdf([entry_sheet()], b)
    assert a.read_bytes() == b.read_bytes()


# -- sohoa coversheet -------------------------------------------------------------------------
def _decoded_pages(pdf: Path) -> list:
    out = []
    for rgb in pdf_pages(pdf, dpi=150):
        read = read_sheet(flat_jpeg(rgb))
        assert read.sheet is not None, read.error
        out.append(read.sheet)
    return out


def test_cli_prints_entries_with_register_and_record(tmp_path):
    out = tmp_path / "covers.pdf"
    r = run_sohoa(
        [
            "--data-dir",
            str(tmp_path / "var"),
            "coversheet",
            "--entry",
            "64-CV/TW|10/04/2025|CV|V/v triển khai số hóa tài liệu|Tỉnh ủy Hà Giang|Mật",
            "--entry",
            "12/QĐ-UBND|01/02/2024||Quyết định thành lập Ban chỉ đạo",
            "--register",
            "Sổ văn bản đến 2025",
            "--direction",
            "đến",
            "--record",
            "H49.61.8.2019.05",
            "--from-seq",
            "4",
            "-o",
            str(out),
        ]
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == str(out)
    first, second = _decoded_pages(out)
    assert (first.number_symbol, first.confidentiality, first.sequence) == ("64-CV/TW", "mat", 4)
    assert first.register == "Sổ văn bản đến 2025" and first.direction == "in"
    assert (second.number_symbol, second.doc_type, second.sequence) == ("12/QĐ-UBND", "QĐ", 5)
    assert second.record_code == "H49.61.8.2019.05"


def test_cli_separators_and_record_sheets(tmp_path):
    seps = tmp_path / "sep.pdf"
    r = run_sohoa(["coversheet", "--separator", "--count", "3", "-o", str(seps)])
    assert r.returncode == 0, r.stderr
    assert _decoded_pages(seps) == [SeparatorSheet(1), SeparatorSheet(2), SeparatorSheet(3)]
    recs = tmp_path / "rec.pdf"
    r = run_sohoa(
        ["coversheet", "--record", "H49.61.8.2019.05", "--from-seq", "9", "--count", "2"]
        + ["-o", str(recs)]
    )
    assert r.returncode == 0, r.stderr
    assert [s.sequence for s in _decoded_pages(recs)] == [9, 10]


def test_cli_skips_bad_entries_with_reasons_and_refuses_nothing_to_print(tmp_path):
    out = tmp_path / "c.pdf"
    r = run_sohoa(
        ["coversheet", "--entry", "64-CV/TW|10/04/2025|CV|Tốt", "--entry", "65-CV/TW|31/02/2025"]
        + ["--entry", "66-CV/TW|01/03/2025|CV|Tối mật||tuyet_mat", "-o", str(out)]
    )
    assert r.returncode == 2
    assert "31/02/2025" in r.stderr and "Ngày không có thật" in r.stderr
    assert "Tuyệt mật" in r.stderr
    assert [s.number_symbol for s in _decoded_pages(out)] == ["64-CV/TW"]
    r = run_sohoa(["coversheet", "-o", str(tmp_path / "none.pdf")])
    assert r.returncode == 1 and "--separator" in r.stderr
    assert not (tmp_path / "none.pdf").exists()


def test_cli_reads_a_register_table_in_csv(tmp_path):
    pytest.importorskip("firmware.register.reader")
    csv_path = tmp_path / "so-den.csv"
    csv_path.write_text(  # as Excel saves "CSV UTF-8": with a BOM, a title row first
        "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN\n\n"
        'Số đến,Ngày văn bản,"Số, ký hiệu",Cơ quan ban hành,Trích yếu nội dung,Độ mật\n'
        "1,10/04/2025,64-CV/TW,Tỉnh ủy Hà Giang,V/v số hóa tài liệu,Thường\n"
        "2,2025-05-02,12/QĐ-UBND,UBND tỉnh,Quyết định thành lập,Mật\n"
        "3,99/99/2025,13/QĐ-UBND,UBND tỉnh,Ngày sai,\n",
        encoding="utf-8-sig",
    )
    out = tmp_path / "csv.pdf"
    r = run_sohoa(
        ["coversheet", "--csv", str(csv_path), "--register", "Sổ đến 2025", "--direction", "in"]
        + ["-o", str(out)]
    )
    assert r.returncode == 2, r.stderr
    assert "dòng 6" in r.stderr  # the bad date, by its line in the file
    first, second = _decoded_pages(out)
    assert (first.entry, first.number_symbol, first.date) == ("1", "64-CV/TW", dt.date(2025, 4, 10))
    assert (second.entry, second.confidentiality, second.register) == ("2", "mat", "Sổ đến 2025")


def test_cli_prints_entries_of_an_imported_register(tmp_path):
    pytest.importorskip("firmware.register.importer")
    data = ["--data-dir", str(tmp_path / "var")]
    src = tmp_path / "reg.csv"
    src.write_text(
        "Số đến,Ngày văn bản,Số ký hiệu,Cơ quan ban hành,Trích yếu\n"
        + "".join(
            f"{i},0{i}/03/2024,{10 + i}-CV/TU,Huyện ủy Vị Xuyên,V/v báo cáo tháng {i}\n"
            for i in range(1, 6)
        ),
        encoding="utf-8",
    )
    r = run_sohoa(
        data + ["register", "import", str(src), "--name", "Sổ đến 2024", "--direction", "in"]
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "reg.pdf"
    r = run_sohoa(
        data + ["coversheet", "--register", "Sổ đến 2024", "--entries", "2-4", "-o", str(out)]
    )
    assert r.returncode == 0, r.stderr
    sheets = _decoded_pages(out)
    assert [s.entry for s in sheets] == ["2", "3", "4"]
    assert [s.number_symbol for s in sheets] == ["12-CV/TU", "13-CV/TU", "14-CV/TU"]
    assert {s.direction for s in sheets} == {"in"} and sheets[0].register == "Sổ đến 2024"
    r = run_sohoa(data + ["coversheet", "--register", "Sổ khác", "--entries", "1", "-o", str(out)])
    assert r.returncode == 1 and "Sổ đến 2024" in r.stderr
