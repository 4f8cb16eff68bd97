"""Importing the document register: encodings, headers, dates, duplicates, XLSX, 50,000
rows, and that a failed or repeated import never leaves half a register."""

from __future__ import annotations

import datetime as dt
import sqlite3
import unicodedata

import pytest

from firmware.metadata.party_codes import parse_party_codes
from firmware.register.errors import RegisterFileError
from firmware.register.importer import import_register
from firmware.store.catalog import Catalog
from tests.support.register import HEADER, sample_rows, write_csv, write_xlsx


@pytest.fixture
def cat(tmp_path):
    c = Catalog(tmp_path / "catalog.db")
    yield c
    c.close()


def entries(cat, register="Sổ đến"):
    return list(
        cat.db.query(
            "SELECT e.* FROM register_entries e JOIN registers r ON r.id = e.register_id "
            "WHERE r.name = ? ORDER BY e.line",
            [register],
        )
    )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1258", "utf-16"])
def test_every_office_encoding_gives_the_same_nfc_text(cat, tmp_path, encoding):
    path = write_csv(tmp_path / "so.csv", sample_rows(30), encoding)
    if encoding == "cp1258":  # really Windows-1258: tone marks stored as combining bytes
        assert b"\xd2" in path.read_bytes() or b"\xde" in path.read_bytes()
    report = import_register(cat, path, name="Sổ đến", direction="in")
    assert report.encoding == encoding.replace("utf-16", "utf-16")
    assert (report.imported, report.rejected) == (30, [])
    assert report.header_line == 3  # title and blank line above the header are skipped
    rows = entries(cat)
    assert rows[0]["issuer"] in ("Tỉnh ủy Nam Định", "Ủy ban nhân dân tỉnh")
    for r in rows:
        for field in ("issuer", "subject"):
            assert r[field] == unicodedata.normalize("NFC", r[field])
    assert {r["doc_type"] for r in rows} == {"CV", "NQ", "QĐ"}
    assert rows[0]["subject"] == "V/v số hóa tài liệu lưu trữ đợt 1"


def test_bytes_that_are_no_known_encoding_are_refused(cat, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes("Số, ký hiệu;Ngày văn bản\n".encode() + b"\x81\x8d\x8e\x8f\x90\n")
    with pytest.raises(RegisterFileError) as err:
        import_register(cat, path, name="X", direction="in")
    assert err.value.code == "unknown_encoding" and "bảng mã" in err.value.message_vi


def test_missing_columns_are_named_and_nothing_is_written(cat, tmp_path):
    header = ["Số đến", "Cơ quan ban hành", "Trích yếu"]
    path = write_csv(tmp_path / "so.csv", [[1, "Tỉnh ủy", "V/v"]], header=header)
    with pytest.raises(RegisterFileError) as err:
        import_register(cat, path, name="Sổ đến", direction="in")
    assert err.value.code == "missing_columns"
    assert "«Ngày văn bản»" in err.value.message_vi and "«Số, ký hiệu»" in err.value.message_vi
    assert cat.db.execute("SELECT COUNT(*) FROM registers").fetchone()[0] == 0


def test_headers_without_diacritics_and_explicit_mapping(cat, tmp_path):
    header = ["So den", "So hieu VB", "Ngay van ban", "Trich yeu"]
    rows = [[1, "12/QĐ-UBND", "2021-03-04", "V/v a"]]
    path = write_csv(tmp_path / "so.csv", rows, header=header, title=False)
    with pytest.raises(RegisterFileError):
        import_register(cat, path, name="Sổ đến", direction="in")
    report = import_register(
        cat, path, name="Sổ đến", direction="in", mapping=["number_symbol=Số hiệu VB"]
    )
    assert report.columns["number_symbol"] == "So hieu VB" and report.imported == 1
    row = entries(cat)[0]
    assert (row["number"], row["symbol"], row["date"], row["doc_type"]) == (
        "12",
        "QĐ-UBND",
        "2021-03-04",
        "QĐ",
    )
    with pytest.raises(RegisterFileError) as err:
        import_register(cat, path, name="Sổ đến", direction="in", mapping=["nope=X"])
    assert err.value.code == "bad_mapping"


def test_dates_in_both_formats_duplicates_and_bad_rows_are_reported_by_line(cat, tmp_path):
    rows = [
        [1, "64-CV/TU", "10/04/2021", "Tỉnh ủy", "V/v một", "Công văn", "Thường"],
        [2, "65-CV/TU", "1/2/2021", "Tỉnh ủy", "V/v hai", "Công văn", ""],
        [3, "12/QĐ-UBND", "2021-02-03", "UBND", "V/v ba", "", "Mật"],
        [4, "64 - CV/TU", "10/4/2021", "Tỉnh ủy", "V/v một (lặp)", "Công văn", ""],
        [5, "70-CV/TU", "31/02/2021", "Tỉnh ủy", "V/v ngày sai", "", ""],
        [6, "71-CV/TU", "", "Tỉnh ủy", "V/v thiếu ngày", "", ""],
        [7, "72-CV/TU", "03/04/2021", "Tỉnh ủy", "V/v", "", "Bí mật lắm"],
        [],
        [8, "73-CV/TU", "10/04/2099", "Tỉnh ủy", "V/v tương lai", "", ""],
    ]
    path = write_csv(tmp_path / "so.csv", rows)
    report = import_register(cat, path, name="Sổ đến", direction="in")
    assert report.imported == 3 and report.rows == 8
    got = {r.line: r.reason_vi for r in report.rejected}
    assert got[7].startswith("Trùng với dòng 4")
    assert "Ngày không có thật" in got[8]
    assert got[9] == "Thiếu ngày văn bản"
    assert "Độ mật" in got[10]
    assert "tương lai" in got[12]
    assert all(r.reason_en for r in report.rejected)
    dates = [r["date"] for r in entries(cat)]
    assert dates == ["2021-04-10", "2021-02-01", "2021-02-03"]
    assert entries(cat)[2]["confidentiality"] == "mat"


def test_reimport_is_idempotent_and_dry_run_writes_nothing(cat, tmp_path):
    path = write_csv(tmp_path / "so.csv", sample_rows(50))
    dry = import_register(cat, path, name="Sổ đến", direction="in", dry_run=True)
    assert dry.imported == 50 and dry.dry_run
    assert cat.db.execute("SELECT COUNT(*) FROM register_entries").fetchone()[0] == 0
    first = import_register(cat, path, name="Sổ đến", direction="in")
    again = import_register(cat, path, name="Sổ đến", direction="in")
    assert (first.imported, again.imported, again.already_present) == (50, 0, 50)
    bigger = write_csv(tmp_path / "so2.csv", sample_rows(60))
    more = import_register(cat, bigger, name="Sổ đến", direction="in")
    assert (more.imported, more.already_present) == (10, 50)
    assert cat.db.execute("SELECT COUNT(*) FROM register_entries").fetchone()[0] == 60
    imports = [r for r in cat.audit_records() if r["action"] == "register.import"]
    assert [r["details"]["imported"] for r in imports] == [50, 0, 10]
    with pytest.raises(RegisterFileError) as err:
        import_register(cat, path, name="Sổ đến", direction="out")
    assert err.value.code == "direction_mismatch"


def test_xlsx_with_title_rows_and_real_date_cells(cat, tmp_path):
    rows = sample_rows(20)
    rows[0][2] = dt.datetime(2022, 5, 17)  # Excel date cell
    rows[1][0] = 2.0  # Excel number cell
    path = write_xlsx(tmp_path / "so.xlsx", rows)
    report = import_register(cat, path, name="Sổ đến", direction="in")
    assert (report.kind, report.imported, report.rejected) == ("xlsx", 20, [])
    got = entries(cat)
    assert got[0]["date"] == "2022-05-17" and got[1]["entry_no"] == "2"


def test_a_failure_while_writing_leaves_nothing_half_imported(cat, tmp_path):
    path = write_csv(tmp_path / "so.csv", sample_rows(12000))

    def progress(phase, done, total):
        if phase == "write" and done >= 5000:
            raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError):
        import_register(cat, path, name="Sổ đến", direction="in", progress=progress)
    assert cat.db.execute("SELECT COUNT(*) FROM register_entries").fetchone()[0] == 0
    assert cat.db.execute("SELECT COUNT(*) FROM registers").fetchone()[0] == 0


def test_unknown_party_codes_are_rejected_rows(cat, tmp_path):
    codes = parse_party_codes("code,kind\nTCD.001,org\nDV.123,member\n", "codes.csv")
    header = [*HEADER, "Mã tổ chức đảng", "Mã đảng viên"]
    rows = [
        [1, "1-CV/TU", "01/02/2021", "Tỉnh ủy", "V/v", "", "", "TCD.001", "DV.123"],
        [2, "2-CV/TU", "01/02/2021", "Tỉnh ủy", "V/v", "", "", "TCD.999", ""],
    ]
    path = write_csv(tmp_path / "so.csv", rows, header=header)
    report = import_register(cat, path, name="Sổ đến", direction="in", party_codes=codes)
    assert report.imported == 1
    assert "Mã tổ chức đảng TCD.999 không có trong danh sách" in report.rejected[0].reason_vi
    assert entries(cat)[0]["party_member_code"] == "DV.123"


def test_fifty_thousand_rows_import_in_one_go_with_progress(cat, tmp_path):
    path = write_csv(tmp_path / "big.csv", sample_rows(50_000), "utf-8-sig")
    seen: list[tuple[str, int]] = []
    report = import_register(
        cat, path, name="Sổ đến", direction="in", progress=lambda p, d, t: seen.append((p, d))
    )
    assert report.imported == 50_000 and not report.rejected
    reads = [d for p, d in seen if p == "read"]
    writes = [d for p, d in seen if p == "write"]
    assert len(reads) >= 50 and reads == sorted(reads)
    assert writes[-1] == 50_000
    print(f"50,000 rows imported in {report.seconds:.2f} s")
    assert cat.db.execute("SELECT COUNT(*) FROM register_entries").fetchone()[0] == 50_000


def test_the_same_file_is_refused_when_asked_and_an_import_can_be_undone(cat, tmp_path):
    """Issue 16: the same file under another register name doubled the register."""
    from firmware.register.history import imports, previous_import, undo_import

    path = write_csv(tmp_path / "so.csv", sample_rows(30))
    first = import_register(cat, path, name="Sổ đến", direction="in")
    dry = import_register(cat, path, name="so", direction="in", dry_run=True)
    assert dry.previous is not None and dry.previous["register"] == "Sổ đến"
    assert dry.date_from <= dry.date_to
    with pytest.raises(RegisterFileError) as err:
        import_register(cat, path, name="so", direction="in", refuse_same_file=True)
    assert err.value.code == "already_imported"
    count = "SELECT COUNT(*) FROM register_entries"
    assert cat.db.execute(count).fetchone()[0] == 30
    other = write_csv(tmp_path / "other.csv", sample_rows(5, start=500))
    import_register(cat, other, name="Sổ đến", direction="in")
    # an entry linked to a scanned document stops the undo of its import
    seq = next(i["seq"] for i in imports(cat) if i["file"] == "so.csv")
    eid = cat.db.execute("SELECT MIN(id) FROM register_entries").fetchone()[0]
    doc = cat.create_document("t")
    with cat.transaction() as db:
        db.execute("UPDATE register_entries SET document_id = ? WHERE id = ?", [doc["id"], eid])
    with pytest.raises(RegisterFileError) as err:
        undo_import(cat, seq, "2001")
    assert err.value.code == "import_in_use"
    with cat.transaction() as db:
        db.execute("UPDATE register_entries SET document_id = NULL WHERE id = ?", [eid])
    out = undo_import(cat, seq, "2001")
    assert out["removed"] == 30 == first.imported
    assert cat.db.execute(count).fetchone()[0] == 5  # the other import stays
    assert previous_import(cat, first.sha256) is None
    assert import_register(cat, path, name="so", direction="in", refuse_same_file=True).imported
    with pytest.raises(RegisterFileError):
        undo_import(cat, seq, "2001")  # once only
    assert cat.verify_audit().ok
