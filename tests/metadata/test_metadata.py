"""The archival metadata model: validation with Vietnamese messages, number/symbol parsing,
document types from configuration, sequence numbers in record files, XMP round trip."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime

import numpy as np
import pikepdf
import pytest

from firmware.archive.seal import DocumentInfo, SealPage, seal_pdf, verify_sealed
from firmware.archive.xmp import ARCHIVAL_PROPERTIES
from firmware.metadata.model import ArchivalMetadata, MetadataError, parse_date, validate_metadata
from firmware.metadata.numbering import format_number_symbol, parse_number_symbol
from firmware.metadata.sequence import assign_sequence, record_items
from firmware.metadata.types import DocumentTypeError, parse_document_types, registry
from firmware.store.catalog import Catalog


@pytest.mark.parametrize(
    ("text", "number", "symbol", "kind", "code", "body"),
    [
        ("64-CV/TW", "64", "CV/TW", "party", "CV", "TW"),
        ("Số 64-CV/TW", "64", "CV/TW", "party", "CV", "TW"),
        ("12/QĐ-UBND", "12", "QĐ-UBND", "state", "QĐ", "UBND"),
        ("Số: 12 / QD - UBND", "12", "QĐ-UBND", "state", "QĐ", "UBND"),
        ("45/UBND-VP", "45", "UBND-VP", "state", "CV", "UBND"),
        ("30/2020/NĐ-CP", "30", "2020/NĐ-CP", "state", "NĐ", "CP"),
        ("08-QĐi/TW", "08", "QĐi/TW", "party", "QĐi", "TW"),
        ("5-CTr/BTCTU", "5", "CTr/BTCTU", "party", "CTr", "BTCTU"),
    ],
)
def test_parse_number_symbol(text, number, symbol, kind, code, body):
    p = parse_number_symbol(text)
    assert (p.number, p.symbol, p.kind, p.type_code, p.body) == (number, symbol, kind, code, body)
    assert format_number_symbol(p.number, p.symbol) == p.text


@pytest.mark.parametrize("text", ["", "abc", "64", "CV/TW", "64-/TW", "12/-UBND"])
def test_parse_number_symbol_rejects(text):
    assert parse_number_symbol(text) is None


def test_valid_metadata_derives_kind_type_and_archival_name():
    m = validate_metadata(
        {
            "number": "64-CV/TW",
            "date": "10/4/2025",
            "record_code": "H49.61.8.2025.05",
            "sequence": "7",
            "issuer": "  BAN CHẤP HÀNH   TRUNG ƯƠNG ",
            "keywords": "số hóa, lưu trữ",
            "copy_type": "Bản sao",
            "unknown_key": "ignored",
        }
    )
    assert (m.number, m.symbol, m.kind, m.doc_type) == ("64", "CV/TW", "party", "CV")
    assert m.date == dt.date(2025, 4, 10)
    assert m.issuer == "BAN CHẤP HÀNH TRUNG ƯƠNG"
    assert m.keywords == ["số hóa", "lưu trữ"]
    assert m.copy_type == "ban_sao"
    assert m.archival_code == "H49.61.8.2025.05.007"
    assert m.archival_name == "H49.61.8.2025.05.007.pdf"
    assert m.number_symbol == "64-CV/TW"
    assert m.access_mode == "cong_khai"
    assert m.type_name == "Công văn"


def test_state_number_and_type_names():
    m = validate_metadata({"number": "12/QĐ-UBND", "doc_type": "Quyết định"})
    assert (m.kind, m.doc_type, m.number_symbol) == ("state", "QĐ", "12/QĐ-UBND")
    letter = validate_metadata({"number": "45/UBND-VP"})
    assert (letter.doc_type, letter.symbol) == ("CV", "UBND-VP")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-04-10", dt.date(2025, 4, 10)),
        ("10/04/2025", dt.date(2025, 4, 10)),
        ("1/2/2021", dt.date(2021, 2, 1)),
        ("10.4.2025", dt.date(2025, 4, 10)),
        ("ngày 10 tháng 4 năm 2025", dt.date(2025, 4, 10)),
        ("Hà Nội, ngay 3 thang 12 nam 2020", dt.date(2020, 12, 3)),
        ("", None),
    ],
)
def test_date_formats(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    ("data", "field", "vi"),
    [
        ({"confidentiality": "Tuyệt mật"}, "confidentiality", "Tuyệt mật không được số hóa"),
        ({"confidentiality": "tuyet_mat"}, "confidentiality", "Tuyệt mật không được số hóa"),
        ({"date": "31/02/2024"}, "date", "Ngày không có thật"),
        ({"date": "2024/13/01"}, "date", "Ngày không đúng dạng"),
        ({"date": "01/01/2999"}, "date", "tương lai"),
        ({"number": "sáu tư"}, "number", "Số và ký hiệu không đúng dạng"),
        ({"doc_type": "XYZ"}, "doc_type", "Không có loại văn bản"),
        ({"record_code": "hồ sơ 1"}, "record_code", "Mã hồ sơ chỉ gồm"),
        ({"sequence": "0"}, "sequence", "Số thứ tự phải từ 1"),
        ({"confidentiality": "mat", "access_mode": "Công khai"}, "access_mode", "Tài liệu mật"),
        ({"party_org_code": "mã đảng"}, "party_org_code", "Mã không hợp lệ"),
        ({"copy_type": "bản nháp"}, "copy_type", "không nằm trong danh sách"),
    ],
)
def test_invalid_metadata_names_the_field_in_vietnamese(data, field, vi):
    with pytest.raises(MetadataError) as info:
        validate_metadata(data)
    issue = info.value.issues[0]
    assert issue.field == field
    assert vi in issue.message_vi
    assert issue.message_en and issue.message_en != issue.message_vi
    assert info.value.message_vi.startswith(
        {"number": "Số văn bản", "date": "Ngày văn bản"}.get(field, "")
    )


def test_confidential_documents_are_restricted_by_default():
    m = validate_metadata({"confidentiality": "Mật"})
    assert (m.confidentiality, m.access_mode) == ("mat", "han_che")
    defaulted = validate_metadata({}, confidentiality="toi_mat")
    assert defaulted.confidentiality == "toi_mat"


def test_configured_document_types_extend_the_builtin_list():
    types = parse_document_types("ĐA=Đề án; BC=Báo cáo định kỳ")
    codes = {t.code: t.name for t in types}
    assert codes["ĐA"] == "Đề án" and codes["BC"] == "Báo cáo định kỳ" and "NQ" in codes
    assert len(parse_document_types("")) == 15
    with pytest.raises(DocumentTypeError):
        parse_document_types("no equals sign")
    with pytest.raises(MetadataError):
        validate_metadata({"doc_type": "ĐA"})
    assert validate_metadata({"doc_type": "Đề án"}, types="ĐA=Đề án").doc_type == "ĐA"
    assert registry().lookup("quyet dinh").code == "QĐ"
    assert registry().lookup("QD").code == "QĐ"


def test_sequence_numbers_are_unique_and_idempotent(tmp_path):
    cat = Catalog(tmp_path / "catalog.db")
    docs = [cat.create_document("clerk")["id"] for _ in range(4)]
    code = "H49.61.8.2025.05"
    assert assign_sequence(cat, docs[0], code, "clerk") == 1
    assert assign_sequence(cat, docs[1], code, "clerk") == 2
    assert assign_sequence(cat, docs[0], code, "clerk") == 1  # a re-seal keeps its number
    assert assign_sequence(cat, docs[2], code, "clerk", requested=9) == 9
    with pytest.raises(MetadataError) as info:
        assign_sequence(cat, docs[3], code, "clerk", requested=2)
    assert "đã dùng" in info.value.message_vi
    assert assign_sequence(cat, docs[3], code, "clerk") == 10
    assert assign_sequence(cat, docs[1], "OTHER.2025.01", "clerk") == 1  # moved to another file
    assert [r["sequence"] for r in record_items(cat, code)] == [1, 9, 10]
    actions = [r["action"] for r in cat.audit_records()]
    assert actions.count("record.sequence") == 5
    assert cat.verify_audit().ok
    cat.close()


def test_xmp_carries_documented_archival_fields_and_round_trips(tmp_path):
    m = validate_metadata(
        {
            "number": "12/QĐ-UBND",
            "date": "2021-07-26",
            "issuer": "ỦY BAN NHÂN DÂN - TỈNH BẮC NINH",
            "subject": "Về việc ban hành <Quy chế> & hướng dẫn",
            "record_code": "H27.01.2021.03",
            "sequence": 4,
            "signer": "Nguyễn Văn An",
            "signer_title": "Chủ tịch",
            "confidentiality": "thuong",
            "party_member_code": "01.234.5678",
        }
    )
    props = m.xmp_properties()
    assert set(props) <= set(ARCHIVAL_PROPERTIES)
    info = DocumentInfo(
        "D1",
        "Quyết định 12",
        datetime(2025, 1, 2, tzinfo=UTC),
        "k1",
        subject=m.subject,
        archival=props,
    )
    page = SealPage(np.full((700, 500, 3), 240, np.uint8), 60, [])
    out = tmp_path / "d.pdf"
    seal_pdf([page], info, out)
    meta = verify_sealed(out)
    assert meta["archival"] == props
    # PDF/A: every sohoa property used is declared in the extension schema
    assert set(props) <= set(meta["extension_properties"])
    with pikepdf.open(out) as pdf:
        assert pdf.open_metadata().pdfa_status == "2B"
        xml = pdf.Root.Metadata.read_bytes().decode()
    assert "Trích yếu nội dung: subject summary" in xml
    assert ArchivalMetadata.from_xmp(meta["archival"]) == m
