"""Matching scanned documents to the register (OCR damage, ambiguity), the sealing hook,
selection warnings, custody of originals and Party code validation at sealing."""

from __future__ import annotations

import pytest

from firmware.errors import KioskError
from firmware.register import custody, matching, selection
from firmware.register.hooks import after_seal, review_info
from firmware.register.importer import import_register
from firmware.register.keys import number_symbol_key
from firmware.store.catalog import Catalog
from tests.support.register import write_csv

ROWS = [
    [
        1,
        "64-CV/TU",
        "10/04/2021",
        "Tỉnh ủy Nam Định",
        "V/v số hóa tài liệu lưu trữ",
        "Công văn",
        "",
    ],
    [2, "10/QĐ-UBND", "05/01/2021", "UBND tỉnh", "Quyết định về thành lập hội đồng", "", ""],
    [3, "101-NQ/TU", "05/01/2021", "Tỉnh ủy Nam Định", "Nghị quyết về công tác cán bộ", "", ""],
    [4, "11-CV/TU", "10/04/2021", "Tỉnh ủy Nam Định", "V/v khác", "Công văn", ""],
]


@pytest.fixture
def cat(tmp_path):
    c = Catalog(tmp_path / "catalog.db")
    import_register(c, write_csv(tmp_path / "so.csv", ROWS), name="Sổ đến 2021", direction="in")
    yield c
    c.close()


@pytest.mark.parametrize(
    "ocr",
    ["Số: 64-CV/TU", "64 - CV / TU", "6 4-CV/TU", "64-CV/TƯ", "064-CV/TU", "Số 64-cv/tu"],
)
def test_ocr_damage_keeps_the_number_symbol_key(ocr):
    assert number_symbol_key(ocr) == number_symbol_key("64-CV/TU")


def test_lookalike_letters_and_digits_share_a_key():
    assert number_symbol_key("1O/QD-UBND") == number_symbol_key("10/QĐ-UBND")
    assert number_symbol_key("l0/QĐ-UBND") == number_symbol_key("10/QĐ-UBND")
    assert number_symbol_key("164-CV/TU") != number_symbol_key("64-CV/TU")


def test_exact_match_first_then_fuzzy_candidates(cat):
    got = matching.candidates(cat, number_symbol="1O/QD-UBND", date="2021-01-05")
    assert got[0].exact and got[0].entry["number_symbol"] == "10/QĐ-UBND"
    assert got[0].score > 0.95
    # the resolution of the same day is a (weaker) candidate, not an exact one
    assert [c.exact for c in got[1:]] == [False] * (len(got) - 1)
    # a digit lost by OCR: no exact match, but the right entry comes first
    fuzzy = matching.candidates(cat, number_symbol="6-CV/TU", date="2021-04-10")
    assert not any(c.exact for c in fuzzy)
    assert fuzzy[0].entry["number_symbol"] == "64-CV/TU"
    # date misread by one digit: same key, still found with a lower score
    misdated = matching.candidates(cat, number_symbol="64-CV/TU", date="2021-04-16")
    assert misdated[0].entry["number_symbol"] == "64-CV/TU" and not misdated[0].exact
    assert matching.candidates(cat, number_symbol="999-XY/ZZ", date="1999-01-01") == []


def _sealed_doc(cat, meta, actor="1001"):
    doc = cat.create_document(actor, metadata=meta)
    for target in ("capturing", "processing", "review", "sealing", "sealed"):
        doc = cat.transition_document(doc["id"], target, actor)
    return doc


def test_sealing_links_the_one_exact_entry_and_returns_the_original(cat, make_settings):
    settings = make_settings()
    doc = cat.create_document("1001")
    out = custody.not_returned(cat)
    assert [c["document_id"] for c in out] == [doc["id"]] and out[0]["out_by"] == "1001"
    for target in ("capturing", "processing", "review", "sealing", "sealed"):
        doc = cat.transition_document(doc["id"], target, "1001")
    cat.update_document(
        doc["id"], "1001", "test", metadata={"number_symbol": "Số: 64-CV/TU", "date": "2021-04-10"}
    )
    res = after_seal(cat, settings, cat.get_document(doc["id"]), "1001")
    assert (
        res["linked"]["number_symbol"] == "64-CV/TU" and res["linked"]["document_id"] == doc["id"]
    )
    assert custody.not_returned(cat) == []
    assert custody.history(cat, document_id=doc["id"])[0]["return_reason"] == "sealed"
    # the same entry scanned twice: not linked again, the conflict is audited
    twin = _sealed_doc(cat, {"number": "64", "symbol": "CV/TU", "date": "2021-04-10"})
    assert after_seal(cat, settings, twin, "1001")["linked"] is None
    assert any(r["action"] == "register.match_conflict" for r in cat.audit_records(twin["id"]))


def test_ambiguous_matches_wait_for_the_clerk(cat, make_settings):
    settings = make_settings()
    doc = _sealed_doc(cat, {"number_symbol": "6-CV/TU", "date": "2021-04-10"})
    assert after_seal(cat, settings, doc, "1001")["linked"] is None
    amb = [r for r in cat.audit_records(doc["id"]) if r["action"] == "register.match_ambiguous"]
    assert amb and amb[0]["details"]["candidates"]
    info = review_info(cat, settings, doc)
    first = info["candidates"][0]["entry"]
    from firmware.register.hooks import choose_entry

    choose_entry(cat, doc["id"], first["id"], "1001")  # sealed: linked at once
    assert matching.linked_entry(cat, doc["id"])["id"] == first["id"]


def test_discarding_returns_the_original_and_entries_can_be_checked_out(cat):
    doc = cat.create_document("1001")
    cat.transition_document(doc["id"], "discarded", "1001")
    assert custody.not_returned(cat) == []
    entry_id = matching.candidates(cat, number_symbol="11-CV/TU", date="2021-04-10")[0].entry["id"]
    custody.check_out_entry(cat, entry_id, "2001")
    with pytest.raises(KioskError):
        custody.check_out_entry(cat, entry_id, "2001")
    assert [c["number_symbol"] for c in custody.not_returned(cat)] == ["11-CV/TU"]
    assert custody.return_entry(cat, entry_id, "2001") == 1
    assert custody.not_returned(cat) == []


def test_selection_rules_from_config_and_catalog_warn_and_audit(cat, make_settings):
    settings = make_settings(selection={"periods": "2015-2020", "document_types": "NQ"})
    rules = selection.all_rules(cat, settings)
    assert selection.check(rules, date="2018-03-01", doc_type="NQ").inside is True
    outside = selection.check(rules, date="2021-04-10", doc_type="CV")
    assert outside.inside is False and "ngoài danh mục" in outside.message_vi
    selection.add_rule(
        cat, "2001", date_from="2021", date_to="2021", doc_types="CV", direction="in"
    )
    rules = selection.all_rules(cat, settings)
    assert selection.check(rules, date="2021-04-10", doc_type="CV", direction="in").inside
    assert selection.check(rules, date="2021-04-10", doc_type="CV", direction="out").inside is False
    doc = _sealed_doc(cat, {"number_symbol": "999-BC/TU", "date": "2021-06-01", "doc_type": "BC"})
    after_seal(cat, settings, doc, "1001")
    warned = [r for r in cat.audit_records(doc["id"]) if r["action"] == "selection.outside"]
    assert warned and "outside the selection" in warned[0]["details"]["warning"]
    info = review_info(cat, settings, doc)
    assert info["selection"]["inside"] is False


def test_sealing_on_the_kiosk_links_validates_party_codes_and_returns_the_original(
    kiosk_factory, make_settings, tmp_path
):
    codes = tmp_path / "ma-dang.csv"
    codes.write_text("Mã,Loại,Tên\nTCD.001,tổ chức,Đảng bộ xã A\nDV.123,đảng viên,Nguyễn Văn B\n")
    settings = make_settings(
        metadata={"party_codes_file": str(codes)}, selection={"periods": "2015-2016"}
    )
    kiosk = kiosk_factory(settings=settings, workers=1)
    import_register(
        kiosk.catalog, write_csv(tmp_path / "so.csv", ROWS), name="Sổ đến", direction="in"
    )
    doc = kiosk.new_document("1001")
    kiosk.capture("1001", doc["id"])
    assert [c["document_id"] for c in custody.not_returned(kiosk.catalog)] == [doc["id"]]
    kiosk.finish(doc["id"], "1001")
    assert kiosk.wait_idle(180)
    meta = {"number": "64-CV/TU", "date": "2021-04-10", "party_org_code": "TCD.404"}
    with pytest.raises(KioskError) as err:
        kiosk.seal(doc["id"], "1001", metadata=meta)
    assert err.value.code == "metadata_invalid"
    assert "Mã tổ chức đảng TCD.404 không có trong danh sách" in err.value.message_vi
    assert kiosk.catalog.get_document(doc["id"])["state"] == "review"
    assert custody.not_returned(kiosk.catalog)  # still out: nothing was sealed
    sealed = kiosk.seal(doc["id"], "1001", metadata={**meta, "party_org_code": "TCD.001"})
    assert sealed["state"] in ("sealed", "queued")
    linked = matching.linked_entry(kiosk.catalog, doc["id"])
    assert linked is not None and linked["number_symbol"] == "64-CV/TU"
    assert custody.not_returned(kiosk.catalog) == []
    actions = [r["action"] for r in kiosk.catalog.audit_records(doc["id"])]
    assert "register.link" in actions and "selection.outside" in actions
