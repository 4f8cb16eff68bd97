"""A document that left the kiosk (delivered, exported) is final (issue #14): it cannot be
re-linked to another register entry, and ``capture`` with its id is refused instead of
silently opening a new document."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from firmware.errors import KioskError
from firmware.register import matching
from firmware.register.importer import import_register
from kiosk_ui.app import create_app
from kiosk_ui.context import UiOptions
from tests.support.register import write_csv

ROWS = [
    [1, "64-CV/TU", "10/04/2021", "Tỉnh ủy", "V/v số hóa", "Công văn", ""],
    [2, "11-CV/TU", "10/04/2021", "Tỉnh ủy", "V/v khác", "Công văn", ""],
]
PATH = ["capturing", "processing", "review", "sealing", "sealed", "queued", "delivered"]


@pytest.fixture
def delivered(kiosk_factory, tmp_path):
    """(kiosk, delivered document id, its entry id, the other entry id)."""
    kiosk = kiosk_factory(workers=1)
    cat = kiosk.catalog
    import_register(cat, write_csv(tmp_path / "so.csv", ROWS), name="Sổ đến", direction="in")
    e1, e2 = (r[0] for r in cat.db.execute("SELECT id FROM register_entries ORDER BY id"))
    doc = cat.create_document("1001")
    for state in PATH[:5]:
        cat.transition_document(doc["id"], state, "1001")
    matching.link(cat, e1, doc["id"], "1001", score=1.0, how="clerk")
    for state in PATH[5:]:
        cat.transition_document(doc["id"], state, "system")
    return kiosk, doc["id"], e1, e2


def test_a_delivered_document_cannot_be_relinked_through_the_api(delivered):
    kiosk, doc_id, e1, e2 = delivered
    app = create_app(kiosk, UiOptions(idle_timeout_s=60))
    app.state.ui.operators.add("1001", "Nguyễn Thị Lan", "operator", "1234", "test")
    c = TestClient(app, base_url="http://127.0.0.1")
    assert c.post("/api/v1/session/login", json={"code": "1001", "pin": "1234"}).status_code == 200
    r = c.put(f"/api/v1/documents/{doc_id}/register-entry", json={"entry_id": e2})
    assert r.status_code == 409 and r.json()["code"] == "document_left_kiosk"
    assert matching.linked_entry(kiosk.catalog, doc_id)["id"] == e1
    assert matching.entry(kiosk.catalog, e2)["document_id"] is None
    r = c.put(f"/api/v1/documents/{doc_id}/register-entry", json={"entry_id": None})
    assert r.status_code == 409
    assert matching.linked_entry(kiosk.catalog, doc_id)["id"] == e1


def test_capture_with_a_delivered_documents_id_is_refused(delivered):
    kiosk, doc_id, _, _ = delivered
    before = kiosk.catalog.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    with pytest.raises(KioskError) as e:
        kiosk.capture("1001", doc_id)
    assert e.value.code == "document_closed" and e.value.status == 409
    assert "tài liệu mới" in e.value.message_vi
    assert kiosk.catalog.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == before
    assert kiosk.catalog.pages(doc_id) == []
