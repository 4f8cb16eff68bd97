"""Every path that sets or changes a document's confidentiality level, asserting where the
document really is (catalog state, outbox table), never what the screen says."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kiosk_ui.app import create_app
from kiosk_ui.context import UiOptions
from tests.support.wait import wait_for


@pytest.fixture
def app(kiosk_factory):
    kiosk = kiosk_factory(workers=1)
    application = create_app(kiosk, UiOptions(idle_timeout_s=600))
    ops = application.state.ui.operators
    ops.add("1001", "Nguyễn Thị Lan", "operator", "1234", "test")
    ops.add("1002", "Trần Văn Nam", "operator", "1234", "test")
    ops.add("2001", "Phạm Thu Hà", "archivist", "2222", "test")
    ops.add("9001", "Lê Quốc Hùng", "maintainer", "9999", "test")
    return application


def signed_in(app, code="1001", pin="1234") -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1")
    r = client.post("/api/v1/session/login", json={"code": code, "pin": pin, "lang": "vi"})
    assert r.status_code == 200, r.text
    return client


def captured_for_review(app, client: TestClient) -> str:
    """One page captured with the sim camera, finished and processed: in review."""
    page = client.post("/api/v1/capture", json={}).json()["page"]
    doc_id = page["doc_id"]
    assert client.post(f"/api/v1/documents/{doc_id}/finish").status_code == 200
    cat = app.state.ui.kiosk.catalog
    assert wait_for(lambda: cat.get_document(doc_id)["state"] == "review", 120)
    return doc_id


def outbox_ids(cat) -> set[str]:
    return {r[0] for r in cat.db.execute("SELECT document_id FROM outbox").fetchall()}


@pytest.mark.parametrize("level", ["mat", "toi_mat"])
def test_api_seal_of_a_confidential_document_never_reaches_the_outbox(app, level):
    client = signed_in(app)
    doc_id = captured_for_review(app, client)
    r = client.post(
        f"/api/v1/documents/{doc_id}/seal", json={"confidentiality": level, "title": "Báo cáo"}
    )
    assert r.status_code == 200, r.text
    cat = app.state.ui.kiosk.catalog
    doc = cat.get_document(doc_id)
    assert doc["state"] == "sealed"
    assert doc["confidentiality"] == level
    assert doc_id not in outbox_ids(cat)
    actions = [a["action"] for a in cat.audit_records(doc_id)]
    assert "document.queued" not in actions
    assert r.json()["destination"]["route"] == "secure_usb"


def test_review_form_without_a_level_keeps_the_stored_one(app):
    """A document already classified (cover sheet, register) is not lowered by a clerk's
    form: lowering needs an archivist and a reason; the stored level is what routes."""
    from firmware.classification import set_level

    client = signed_in(app)
    doc_id = captured_for_review(app, client)
    cat = app.state.ui.kiosk.catalog
    set_level(cat, doc_id, "mat", "coversheet", source="coversheet", evidence=True)
    r = client.post(f"/api/v1/documents/{doc_id}/seal", json={"confidentiality": "thuong"})
    assert r.status_code == 403 and r.json()["code"] == "needs_archivist"
    assert cat.get_document(doc_id)["state"] == "review"
    r = client.post(f"/api/v1/documents/{doc_id}/seal", json={"title": "Tờ trình"})
    assert r.status_code == 200, r.text
    doc = cat.get_document(doc_id)
    assert (doc["state"], doc["confidentiality"]) == ("sealed", "mat")
    assert doc_id not in outbox_ids(cat)


def _xmp_level(doc) -> str | None:
    from provisioning.schemas import xmp_confidentiality

    return xmp_confidentiality(doc["pdf_path"])


def test_ordinary_seal_queues_and_the_xmp_says_thuong(app):
    client = signed_in(app)
    doc_id = captured_for_review(app, client)
    r = client.post(f"/api/v1/documents/{doc_id}/seal", json={"confidentiality": "thuong"})
    assert r.status_code == 200 and r.json()["destination"]["route"] == "upload_queue"
    cat = app.state.ui.kiosk.catalog
    doc = cat.get_document(doc_id)
    assert doc["state"] == "queued" and doc_id in outbox_ids(cat)
    assert _xmp_level(doc) == "thuong"
    assert "confidentiality" not in doc["metadata"]


# -- Tuyệt mật: refused, sticky, discarded -------------------------------------------------------
def test_top_secret_sticks_until_an_archivist_lowers_it_and_discard_removes_everything(app):
    kiosk = app.state.ui.kiosk
    cat = kiosk.catalog
    clerk = signed_in(app)
    doc_id = captured_for_review(app, clerk)
    page = cat.pages(doc_id)[0]
    r = clerk.post(f"/api/v1/documents/{doc_id}/seal", json={"confidentiality": "tuyet_mat"})
    assert r.status_code == 422 and r.json()["code"] == "top_secret_refused"
    assert cat.get_document(doc_id)["confidentiality"] == "tuyet_mat"
    # one tap on Thường then Lưu no longer seals it
    r = clerk.post(f"/api/v1/documents/{doc_id}/seal", json={"confidentiality": "thuong"})
    assert r.status_code == 403 and r.json()["code"] == "needs_archivist"
    r = clerk.post(f"/api/v1/documents/{doc_id}/seal", json={})
    assert r.status_code == 422 and r.json()["code"] == "top_secret_refused"
    assert cat.get_document(doc_id)["state"] == "review"
    # another operator does not see it, nor its pages or text
    other = signed_in(app, "1002")
    assert doc_id not in {d["id"] for d in other.get("/api/v1/documents/parked").json()}
    assert other.get(f"/api/v1/pages/{page['id']}/thumb.jpg").status_code == 403
    # an archivist may lower it, with a reason only
    boss = signed_in(app, "2001", "2222")
    r = boss.post(f"/api/v1/documents/{doc_id}/classification", json={"confidentiality": "mat"})
    assert r.status_code == 422 and r.json()["code"] == "reason_required"
    # the clerk discards the capture instead: frames, images, OCR text gone
    files = [Path(page[k]) for k in ("frame_path", "preview_path", "image_path", "ocr_path")]
    assert all(f.exists() for f in files)
    text_rows = cat.db.execute("SELECT COUNT(*) FROM page_text WHERE doc_id = ?", [doc_id])
    assert text_rows.fetchone()[0] == 1
    r = clerk.post(f"/api/v1/documents/{doc_id}/discard", json={"reason": "Tuyệt mật"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "discarded" and r.json()["removed"]["files_removed"] >= 4
    assert not any(f.exists() for f in files)
    assert not (kiosk.paths.spool / doc_id).exists() and not (kiosk.paths.work / doc_id).exists()
    text_rows = cat.db.execute("SELECT COUNT(*) FROM page_text WHERE doc_id = ?", [doc_id])
    assert text_rows.fetchone()[0] == 0
    actions = [a["action"] for a in cat.audit_records(doc_id)]
    assert "document.top_secret_refused" in actions and "document.discarded" in actions
    assert "document.content_removed" in actions and "document.delivered" not in actions
    # gone from the clerk's view as well (it was never sealed, and is no more)
    assert clerk.post(f"/api/v1/documents/{doc_id}/seal", json={}).status_code == 403
    assert cat.verify_audit().ok


def test_archivist_lowers_top_secret_with_a_reason_then_it_may_be_sealed(app):
    cat = app.state.ui.kiosk.catalog
    clerk = signed_in(app)
    doc_id = captured_for_review(app, clerk)
    clerk.post(f"/api/v1/documents/{doc_id}/seal", json={"confidentiality": "tuyet_mat"})
    boss = signed_in(app, "2001", "2222")
    r = boss.post(
        f"/api/v1/documents/{doc_id}/classification",
        json={"confidentiality": "toi_mat", "reason": "Nhầm độ mật, đã đối chiếu bản gốc"},
    )
    assert r.status_code == 200, r.text
    assert clerk.post(f"/api/v1/documents/{doc_id}/seal", json={}).status_code == 200
    doc = cat.get_document(doc_id)
    assert (doc["state"], doc["confidentiality"]) == ("sealed", "toi_mat")
    assert doc_id not in outbox_ids(cat) and _xmp_level(doc) == "toi_mat"
    (rec,) = [
        a
        for a in cat.audit_records(doc_id)
        if a["action"] == "document.classify" and a["details"]["from"] == "tuyet_mat"
    ]
    assert rec["actor"] == "2001" and rec["details"]["reason"].startswith("Nhầm")


def test_discard_is_for_unsealed_documents_only(app):
    clerk = signed_in(app)
    doc_id = captured_for_review(app, clerk)
    clerk.post(f"/api/v1/documents/{doc_id}/seal", json={})
    r = clerk.post(f"/api/v1/documents/{doc_id}/discard", json={})
    assert r.status_code == 409 and r.json()["code"] == "document_closed"
    assert app.state.ui.kiosk.catalog.get_document(doc_id)["state"] == "queued"


# -- reclassification after sealing ------------------------------------------------------------
def test_reclassify_ordinary_to_mat_pulls_it_from_the_outbox(app):
    cat = app.state.ui.kiosk.catalog
    clerk = signed_in(app)
    doc_id = captured_for_review(app, clerk)
    clerk.post(f"/api/v1/documents/{doc_id}/seal", json={"confidentiality": "thuong"})
    assert doc_id in outbox_ids(cat)
    r = clerk.post(f"/api/v1/documents/{doc_id}/classification", json={"confidentiality": "mat"})
    assert r.status_code == 403 and r.json()["code"] == "needs_archivist"
    maint = signed_in(app, "9001", "9999")  # a maintainer is not an archivist
    r = maint.post(f"/api/v1/documents/{doc_id}/classification", json={"confidentiality": "mat"})
    assert r.status_code == 403
    assert doc_id in outbox_ids(cat)
    boss = signed_in(app, "2001", "2222")
    old_sha = cat.get_document(doc_id)["sha256"]
    r = boss.post(f"/api/v1/documents/{doc_id}/classification", json={"confidentiality": "mat"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["change"]["pulled_from_outbox"] is True and "incident" not in body
    assert body["destination"]["route"] == "secure_usb"
    doc = cat.get_document(doc_id)
    assert (doc["state"], doc["confidentiality"]) == ("sealed", "mat")
    assert doc_id not in outbox_ids(cat)
    assert doc["sha256"] != old_sha and _xmp_level(doc) == "mat"  # sealed again: XMP says it
    from firmware.export.exporter import Exporter

    kiosk = app.state.ui.kiosk
    assert doc_id in {d["id"] for d in Exporter.for_kiosk(kiosk, backend=object()).pending()}


def test_reclassify_a_delivered_document_reports_the_incident(app):
    cat = app.state.ui.kiosk.catalog
    clerk = signed_in(app)
    doc_id = captured_for_review(app, clerk)
    clerk.post(f"/api/v1/documents/{doc_id}/seal", json={"confidentiality": "thuong"})
    from firmware.uplink.outbox import Outbox

    Outbox(cat).mark_delivered(doc_id, {"hub": "hub-test", "stored_as": "sha256/x"})
    boss = signed_in(app, "2001", "2222")
    r = boss.post(f"/api/v1/documents/{doc_id}/classification", json={"confidentiality": "mat"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["incident"] is True and "Sự cố" in body["message"]
    doc = cat.get_document(doc_id)
    assert (doc["state"], doc["confidentiality"]) == ("delivered", "mat")
    incidents = [
        a for a in cat.audit_records(doc_id) if a["action"] == "incident.classified_delivered"
    ]
    assert len(incidents) == 1 and incidents[0]["actor"] == "2001"
    # from now on only archivists see it
    assert signed_in(app, "1002").get(f"/api/v1/documents/{doc_id}").status_code == 403


def test_reclassify_mat_to_ordinary_needs_a_reason_then_queues_it(app):
    cat = app.state.ui.kiosk.catalog
    clerk = signed_in(app)
    doc_id = captured_for_review(app, clerk)
    clerk.post(f"/api/v1/documents/{doc_id}/seal", json={"confidentiality": "mat"})
    boss = signed_in(app, "2001", "2222")
    r = boss.post(f"/api/v1/documents/{doc_id}/classification", json={"confidentiality": "thuong"})
    assert r.status_code == 422 and r.json()["code"] == "reason_required"
    assert cat.get_document(doc_id)["state"] == "sealed" and doc_id not in outbox_ids(cat)
    r = boss.post(
        f"/api/v1/documents/{doc_id}/classification",
        json={"confidentiality": "thuong", "reason": "Hết thời hạn bảo mật"},
    )
    assert r.status_code == 200, r.text
    doc = cat.get_document(doc_id)
    assert (doc["state"], doc["confidentiality"]) == ("queued", "thuong")
    assert doc_id in outbox_ids(cat) and _xmp_level(doc) == "thuong"


# -- who may see what -------------------------------------------------------------------------
def test_each_route_shows_a_classified_document_to_archivists_only(app):
    cat = app.state.ui.kiosk.catalog
    clerk = signed_in(app)
    doc_id = captured_for_review(app, clerk)
    page = cat.pages(doc_id)[0]
    words = cat.document_text(doc_id).split()
    word = next(w for w in words if len(w) >= 4 and w.isalpha())
    # before sealing: the capturing clerk sees it, another operator does not
    clerk.post(f"/api/v1/documents/{doc_id}/seal", json={"confidentiality": "mat"})
    routes = {
        "document": f"/api/v1/documents/{doc_id}",
        "pdf": f"/api/v1/documents/{doc_id}/pdf",
        "thumb": f"/api/v1/pages/{page['id']}/thumb.jpg",
        "preview": f"/api/v1/pages/{page['id']}/preview.jpg",
    }
    html = {"page": f"/documents/{doc_id}", "review": f"/review/{doc_id}"}

    def sees(client) -> dict[str, bool]:
        out = {k: client.get(u).status_code == 200 for k, u in routes.items()}
        out.update(
            {k: client.get(u, follow_redirects=False).status_code == 200 for k, u in html.items()}
        )
        out["list"] = doc_id in {d["id"] for d in client.get("/api/v1/documents").json()}
        out["list_page"] = doc_id in client.get("/documents").text
        hits = client.get("/api/v1/search", params={"q": word}).json()
        out["search"] = doc_id in {h["id"] for h in hits}
        out["search_page"] = doc_id in client.get("/documents", params={"q": word}).text
        return out

    for who, client in (
        ("capturing clerk (sealed now)", clerk),
        ("other operator", signed_in(app, "1002")),
        ("maintainer", signed_in(app, "9001", "9999")),
    ):
        assert not any(sees(client).values()), (who, sees(client))
    assert all(sees(signed_in(app, "2001", "2222")).values())


def test_the_capturing_operator_sees_a_classified_document_until_it_is_sealed(app):
    from firmware.classification import set_level

    cat = app.state.ui.kiosk.catalog
    clerk = signed_in(app)
    doc_id = captured_for_review(app, clerk)
    set_level(cat, doc_id, "toi_mat", "1001", source="test")
    page = cat.pages(doc_id)[0]
    assert clerk.get(f"/api/v1/documents/{doc_id}").status_code == 200
    assert clerk.get(f"/api/v1/pages/{page['id']}/thumb.jpg").status_code == 200
    assert doc_id in {d["id"] for d in clerk.get("/api/v1/documents/parked").json()}
    other = signed_in(app, "1002")
    assert other.get(f"/api/v1/documents/{doc_id}").status_code == 403
    assert other.get(f"/api/v1/pages/{page['id']}/preview.jpg").status_code == 403
    assert doc_id not in {d["id"] for d in other.get("/api/v1/documents/parked").json()}
    assert other.post(f"/api/v1/documents/{doc_id}/seal", json={}).status_code == 403
    assert other.post(f"/api/v1/documents/{doc_id}/discard", json={}).status_code == 403
    assert cat.get_document(doc_id)["state"] == "review"


# -- a type added in the configuration is accepted at sealing ------------------------------------
def test_a_configured_document_type_is_accepted_at_sealing(kiosk_factory, make_settings):
    kiosk = kiosk_factory(
        settings=make_settings(metadata={"document_types": "ĐA=Đề án"}), workers=1
    )
    application = create_app(kiosk, UiOptions(idle_timeout_s=600))
    application.state.ui.operators.add("1001", "Nguyễn Thị Lan", "operator", "1234", "test")
    client = signed_in(application)
    doc_id = captured_for_review(application, client)
    assert "Đề án" in client.get(f"/review/{doc_id}").text
    r = client.post(f"/api/v1/documents/{doc_id}/seal", json={"doc_type": "XYZ"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_doc_type"
    r = client.post(f"/api/v1/documents/{doc_id}/seal", json={"doc_type": "ĐA", "title": "Đề án"})
    assert r.status_code == 200, r.text
    assert kiosk.catalog.get_document(doc_id)["metadata"]["doc_type"] == "ĐA"
