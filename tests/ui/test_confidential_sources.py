"""The level from the other paths that set it: ``sohoa scan --level`` (real subprocess),
a QR cover sheet carrying Mật (photographed by the sim camera), a register entry marked
Mật (imported register). Each asserts the catalog state, the outbox and the sealed XMP."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from firmware.coversheet.payload import CoverSheet
from firmware.coversheet.printing import render_pdf
from provisioning.schemas import xmp_confidentiality
from tests.conftest import SIM_H, SIM_W, run_sohoa
from tests.support.coversheet import pdf_pages
from tests.support.wait import wait_for
from tests.ui.test_confidential_paths import app as app  # noqa: PLC0414 - the fixture
from tests.ui.test_confidential_paths import captured_for_review, outbox_ids, signed_in

SMALL = {"SOHOA_CAMERA__WIDTH": str(SIM_W), "SOHOA_CAMERA__HEIGHT": str(SIM_H)}


def _catalog_rows(data: Path) -> tuple[list[tuple], set[str]]:
    db = sqlite3.connect(data / "catalog.db")
    try:
        docs = db.execute("SELECT id, state, confidentiality, pdf_path FROM documents").fetchall()
        out = {r[0] for r in db.execute("SELECT document_id FROM outbox")}
    finally:
        db.close()
    return docs, out


@pytest.mark.integration
@pytest.mark.parametrize("level", ["mat", "thuong"])
def test_cli_scan_with_a_level(tmp_path, level):
    data = tmp_path / "var"
    args = ["--data-dir", str(data), "scan", "--camera", "sim", "--pages", "1"]
    r = run_sohoa([*args, "--level", level, "--out", str(tmp_path / "out")], env=SMALL)
    assert r.returncode == 0, r.stderr
    docs, queued = _catalog_rows(data)
    ((doc_id, state, stored, pdf),) = docs
    assert stored == level
    assert xmp_confidentiality(pdf) == level
    if level == "mat":
        assert (state, queued) == ("sealed", set())
        assert "route: secure_usb" in r.stderr
    else:
        assert (state, queued) == ("queued", {doc_id})


@pytest.mark.integration
def test_cli_scan_refuses_top_secret(tmp_path):
    data = tmp_path / "var"
    args = ["--data-dir", str(data), "scan", "--camera", "sim", "--pages", "1"]
    r = run_sohoa([*args, "--level", "tuyet_mat", "--out", str(tmp_path / "out")], env=SMALL)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "Tuyệt mật" in r.stderr
    ((_, state, stored, pdf),) = _catalog_rows(data)[0]
    assert (state, stored, pdf) == ("review", "tuyet_mat", None)
    assert not (tmp_path / "out").exists()  # nothing was copied out


def test_a_cover_sheet_carrying_mat_keeps_the_document_off_the_wan(
    app, sim_camera_factory, tmp_path
):
    kiosk = app.state.ui.kiosk
    sheet = CoverSheet.build(number="5-CV/TU", date="02/01/2024", confidentiality="mat")
    render_pdf([sheet], tmp_path / "sheet.pdf")
    (image,) = pdf_pages(tmp_path / "sheet.pdf", dpi=150)
    kiosk.camera.lay_sheet(image)
    clerk = signed_in(app)
    out = clerk.post("/api/v1/capture", json={}).json()
    assert out["page"] is None and out["sheet"]["confidentiality"] == "mat"
    doc_id = out["sheet"]["doc_id"]
    cat = kiosk.catalog
    assert cat.get_document(doc_id)["confidentiality"] == "mat"
    assert "confidentiality" not in cat.get_document(doc_id)["metadata"]
    page = clerk.post("/api/v1/capture", json={"doc_id": doc_id}).json()["page"]
    assert page["doc_id"] == doc_id
    clerk.post(f"/api/v1/documents/{doc_id}/finish")
    assert wait_for(lambda: cat.get_document(doc_id)["state"] == "review", 120)
    # the clerk's form shows the level the sheet gave (the radio is checked)
    html = clerk.get(f"/review/{doc_id}").text
    assert 'value="mat" checked' in html
    r = clerk.post(f"/api/v1/documents/{doc_id}/seal", json={"confidentiality": "mat"})
    assert r.status_code == 200, r.text
    doc = cat.get_document(doc_id)
    assert (doc["state"], doc["confidentiality"]) == ("sealed", "mat")
    assert doc_id not in outbox_ids(cat)
    assert xmp_confidentiality(doc["pdf_path"]) == "mat"
    sources = [
        a["details"]["source"]
        for a in cat.audit_records(doc_id)
        if a["action"] == "document.classify"
    ]
    assert sources == ["coversheet"]


def _register_with_a_secret_entry(app, tmp_path, number: str, date: str) -> int:
    from firmware.register.importer import import_register
    from tests.support.register import write_csv

    rows = [
        [1, "7-CV/TU", "03/02/2021", "Tỉnh ủy", "V/v thường", "Công văn", "Thường"],
        [2, number, date, "Tỉnh ủy", "V/v công tác bảo vệ bí mật", "Công văn", "Mật"],
    ]
    cat = app.state.ui.kiosk.catalog
    import_register(cat, write_csv(tmp_path / "so.csv", rows), name="Sổ đến", direction="in")
    return cat.db.execute(
        "SELECT id FROM register_entries WHERE confidentiality = 'mat'"
    ).fetchone()[0]


def test_choosing_a_register_entry_marked_mat_classifies_the_document(app, tmp_path):
    entry_id = _register_with_a_secret_entry(app, tmp_path, "12-CV/TU", "05/03/2021")
    clerk = signed_in(app)
    doc_id = captured_for_review(app, clerk)
    cat = app.state.ui.kiosk.catalog
    r = clerk.put(f"/api/v1/documents/{doc_id}/register-entry", json={"entry_id": entry_id})
    assert r.status_code == 200, r.text
    assert cat.get_document(doc_id)["confidentiality"] == "mat"
    r = clerk.post(
        f"/api/v1/documents/{doc_id}/seal", json={"number": "12-CV/TU", "date": "05/03/2021"}
    )
    assert r.status_code == 200, r.text
    doc = cat.get_document(doc_id)
    assert (doc["state"], doc["confidentiality"]) == ("sealed", "mat")
    assert doc_id not in outbox_ids(cat) and xmp_confidentiality(doc["pdf_path"]) == "mat"


def test_a_register_match_found_at_sealing_raises_the_level_before_routing(app, tmp_path):
    """The clerk taps Thường, but the register entry the document matches says Mật."""
    _register_with_a_secret_entry(app, tmp_path, "12-CV/TU", "05/03/2021")
    clerk = signed_in(app)
    doc_id = captured_for_review(app, clerk)
    cat = app.state.ui.kiosk.catalog
    r = clerk.post(
        f"/api/v1/documents/{doc_id}/seal",
        json={"confidentiality": "thuong", "number": "12-CV/TU", "date": "05/03/2021"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["destination"]["route"] == "secure_usb"
    doc = cat.get_document(doc_id)
    assert (doc["state"], doc["confidentiality"]) == ("sealed", "mat")
    assert doc_id not in outbox_ids(cat) and xmp_confidentiality(doc["pdf_path"]) == "mat"
    linked = cat.db.execute(
        "SELECT document_id FROM register_entries WHERE confidentiality = 'mat'"
    ).fetchone()[0]
    assert linked == doc_id
