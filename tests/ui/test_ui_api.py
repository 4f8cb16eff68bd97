"""The UI's JSON API and accounts without a browser: authentication on every call,
errors as {code, message} in the user's language, lockout, idle parking, refusals."""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from fastapi.testclient import TestClient

from firmware.errors import KioskError
from firmware.store.operators import Operators
from kiosk_ui.app import create_app
from kiosk_ui.context import UiOptions
from kiosk_ui.i18n import I18N_DIR, JS_MESSAGES, catalog

ROOT = Path(__file__).resolve().parents[2]
# Open by design: signing in, and the software update's notice, which covers the sign-in
# screen too (it says only which step and versions; the front door keeps it to loopback).
OPEN_ROUTES = {
    "/api/v1/session/login",
    "/api/v1/session/language",
    "/api/v1/session/logout",
    "/api/v1/update",
}


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def app(kiosk_factory):
    kiosk = kiosk_factory(workers=1)
    application = create_app(kiosk, UiOptions(idle_timeout_s=60))
    ops = application.state.ui.operators
    ops.add("1001", "Nguyễn Thị Lan", "operator", "1234", "test")
    ops.add("9001", "Lê Quốc Hùng", "maintainer", "9999", "test")
    return application


def signed_in(app, code="1001", pin="1234", lang="vi") -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1")
    r = client.post("/api/v1/session/login", json={"code": code, "pin": pin, "lang": lang})
    assert r.status_code == 200, r.text
    return client


def test_every_api_route_needs_a_session(app):
    client = TestClient(app, base_url="http://127.0.0.1")
    checked = 0
    for route_path, methods in app.openapi()["paths"].items():
        if route_path in OPEN_ROUTES:
            continue
        path = re.sub(r"\{[^}]+\}", "x", route_path)
        for method in methods:
            r = client.request(method.upper(), path, json={})
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json() == {"code": "not_signed_in", "message": "Hãy đăng nhập trước."}
            checked += 1
    assert checked >= 25


def test_errors_are_code_and_message_in_the_session_language(app):
    vi = signed_in(app)
    assert vi.get("/api/v1/documents/nope").json() == {
        "code": "not_found",
        "message": "Không tìm thấy.",
    }
    en = signed_in(app, lang="en")
    assert en.get("/api/v1/documents/nope").json()["message"] == "Not found."
    bad = en.post("/api/v1/pages/x/rotate", json={"quarter_turns": 9})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"
    assert en.put("/api/v1/session/language", json={"lang": "vi"}).status_code == 200
    assert en.get("/api/v1/documents/nope").json()["message"] == "Không tìm thấy."


def test_maintenance_needs_the_maintainer_role(app):
    clerk = signed_in(app)
    r = clerk.get("/api/v1/maintenance")
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert clerk.get("/maintenance", follow_redirects=False).headers["location"] == "/"
    boss = signed_in(app, "9001", "9999")
    report = boss.get("/api/v1/maintenance").json()
    names = {c["name"] for c in report["checks"]}
    assert {"camera", "pedal", "leds", "disk", "ocr"} <= names
    assert report["audit"][0]["seq"] > report["audit"][-1]["seq"]  # newest first


def test_pages_redirect_to_sign_in_and_render_vietnamese(app):
    client = TestClient(app, base_url="http://127.0.0.1")
    assert client.get("/", follow_redirects=False).headers["location"] == "/signin"
    html = client.get("/signin").text
    assert "Đăng nhập" in html and "Mã cán bộ" in html
    client = signed_in(app)
    home = client.get("/").text
    for word in ("Quét tài liệu", "Xuất ra USB bảo mật", "Tra cứu", "Tiến độ số hóa"):
        assert word in home


def test_capture_review_refuses_top_secret_and_bad_dates(app):
    client = signed_in(app)
    page = client.post("/api/v1/capture", json={}).json()["page"]
    assert page["seq"] == 1 and page["ok"] is True
    doc_id = page["doc_id"]
    thumb = client.get(f"/api/v1/pages/{page['id']}/thumb.jpg")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    r = client.post(f"/api/v1/documents/{doc_id}/seal", json={"confidentiality": "tuyet_mat"})
    assert r.status_code == 422 and r.json()["code"] == "top_secret_refused"
    assert "Tuyệt mật" in r.json()["message"]
    kiosk = app.state.ui.kiosk
    assert any(
        a["action"] == "document.top_secret_refused" for a in kiosk.catalog.audit_records(doc_id)
    )
    r = client.post(f"/api/v1/documents/{doc_id}/seal", json={"date": "31/02/2025"})
    assert r.status_code == 422 and r.json()["code"] == "bad_date"
    r = client.post(f"/api/v1/documents/{doc_id}/seal", json={"doc_type": "XYZ"})
    assert r.status_code == 422
    # still capturing: saving must wait for processing, and nothing was sealed
    r = client.post(f"/api/v1/documents/{doc_id}/seal", json={})
    assert r.status_code == 409 and r.json()["code"] == "not_ready"
    assert kiosk.catalog.get_document(doc_id)["state"] == "capturing"


def test_reorder_needs_every_page_once(app):
    client = signed_in(app)
    p1 = client.post("/api/v1/capture", json={}).json()["page"]
    p2 = client.post("/api/v1/capture", json={"doc_id": p1["doc_id"]}).json()["page"]
    doc = p1["doc_id"]
    r = client.put(f"/api/v1/documents/{doc}/order", json={"order": [p1["id"]]})
    assert r.status_code == 422 and r.json()["code"] == "bad_order"
    r = client.put(f"/api/v1/documents/{doc}/order", json={"order": [p2["id"], p1["id"]]})
    assert [p["id"] for p in r.json()] == [p2["id"], p1["id"]]
    assert [p["seq"] for p in r.json()] == [1, 2]


def test_sign_out_parks_the_open_document(app):
    client = signed_in(app)
    page = client.post("/api/v1/capture", json={}).json()["page"]
    r = client.post("/api/v1/session/logout", json={"reason": "signout"}).json()
    assert r["parked"] == page["doc_id"]
    kiosk = app.state.ui.kiosk
    assert kiosk.current_doc_id is None
    assert kiosk.catalog.get_document(page["doc_id"])["state"] == "capturing"
    client = signed_in(app)
    parked = client.get("/api/v1/documents/parked").json()
    assert [d["id"] for d in parked] == [page["doc_id"]]
    client.post(f"/api/v1/documents/{page['doc_id']}/resume")
    assert kiosk.current_doc_id == page["doc_id"]


# -- accounts ---------------------------------------------------------------------------
@pytest.fixture
def ops(kiosk_factory):
    clock = Clock()
    o = Operators(kiosk_factory().catalog, lockout_s=300, clock=clock)
    o.add("1001", "Nguyễn Thị Lan", "operator", "1234", "test")
    return o, clock


def test_pins_are_stored_as_argon2_hashes_only(ops):
    o, _ = ops
    row = o.db.execute("SELECT pin_hash FROM operators WHERE code='1001'").fetchone()
    assert row[0].startswith("$argon2id$") and "1234" not in row[0]
    assert o.authenticate("1001", "1234").name == "Nguyễn Thị Lan"


def test_five_failures_lock_the_code_until_the_lockout_ends(ops):
    o, clock = ops
    for _ in range(4):
        with pytest.raises(KioskError) as e:
            o.authenticate("1001", "0000")
        assert e.value.code == "bad_credentials"
    with pytest.raises(KioskError) as e:
        o.authenticate("1001", "0000")
    assert e.value.code == "locked_out" and e.value.status == 423
    with pytest.raises(KioskError) as e:
        o.authenticate("1001", "1234")
    assert e.value.code == "locked_out"
    clock.t += 301
    assert o.authenticate("1001", "1234").code == "1001"


def test_unknown_codes_lock_out_the_same_way(ops):
    o, _ = ops
    codes = []
    for _ in range(6):
        with pytest.raises(KioskError) as e:
            o.authenticate("5555", "1234")
        codes.append(e.value.code)
    assert codes == ["bad_credentials"] * 4 + ["locked_out"] * 2


def test_idle_sessions_end_with_reason_idle(ops):
    o, clock = ops
    token = o.open_session(o.authenticate("1001", "1234"), "vi")
    assert o.session(token, 60) is not None
    clock.t += 61
    assert o.session(token, 60) is None
    ends = o.db.execute("SELECT end_reason FROM sessions").fetchall()
    assert ends == [("idle",)]


@pytest.mark.parametrize(
    "code,pin,role",
    [("12", "1234", "operator"), ("1002", "12", "operator"), ("1003", "1234", "boss")],
)
def test_malformed_accounts_are_refused(ops, code, pin, role):
    o, _ = ops
    with pytest.raises(KioskError):
        o.add(code, "Tên", role, pin, "test")


# -- translations -----------------------------------------------------------------------
def test_every_message_has_a_vietnamese_translation():
    method_map, options_map = parse_mapping_cfg(io.StringIO((I18N_DIR / "babel.cfg").read_text()))
    keywords = {"_": None, "N_": None, "gettext": None}
    ids = {m[2] for m in extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)}
    ids |= set(JS_MESSAGES)
    assert len(ids) > 100
    vi = catalog("vi")
    missing = sorted(i for i in ids if not vi.get(i))
    assert not missing, missing
    # Vietnamese text really is Vietnamese (diacritics), not a copy of the English id
    accented = [
        v
        for v in vi.values()
        if "đ" in v.lower()
        or any(unicodedata.combining(c) for c in unicodedata.normalize("NFD", v))
    ]
    assert len(accented) > 0.8 * len(vi)


def test_choose_the_scanner_on_the_scan_screen_and_scan_a_batch(kiosk_factory):
    from tests.capture.test_scan_flow import _frame

    class Feeder:
        def iter_scan(self):
            yield _frame(False, "front", 1)
            yield _frame(False, "front", 2)

    kiosk = kiosk_factory(workers=1, scanner=Feeder())
    application = create_app(kiosk, UiOptions(idle_timeout_s=60))
    application.state.ui.operators.add("1001", "Nguyễn Thị Lan", "operator", "1234", "test")
    client = signed_in(application)
    page = client.get("/scan")
    assert "Máy quét" in page.text and 'data-source="camera"' in page.text
    r = client.put("/api/v1/capture-source", json={"source": "scanner"})
    assert r.json() == {"source": "scanner"}
    assert client.get("/api/v1/status").json()["capture_source"] == "scanner"
    pages = client.post("/api/v1/scan", json={}).json()["pages"]
    assert len(pages) == 2 and pages[0]["doc_id"] == pages[1]["doc_id"]
    assert [p["source"] for p in kiosk.catalog.pages(pages[0]["doc_id"])] == ["scanner"] * 2
    assert any(r["action"] == "capture.source" for r in kiosk.catalog.audit_records())
    kiosk.wait_idle(timeout=120)


def test_a_kiosk_without_scanner_refuses_the_scanner_source(app):
    client = signed_in(app)
    r = client.put("/api/v1/capture-source", json={"source": "scanner"})
    assert r.status_code == 409 and r.json()["code"] == "no_such_source"
    assert "Máy quét" not in client.get("/scan").text


def test_status_bar_shows_the_upload_queue_and_why_it_waits(app):
    """An ordinary sealed document waits in the outbox; before enrollment the Network item
    is off and says so in the clerk's language."""
    from tests.export.test_export_routing import _review_document

    kiosk = app.state.ui.kiosk
    kiosk.seal(_review_document(kiosk, "thuong"), "1001")
    st = signed_in(app).get("/api/v1/status").json()
    assert st["upload_queue"] == 1
    assert st["network"]["state"] == "off" and st["network"]["uplink"] == "not_enrolled"
    assert "chưa đăng ký" in st["network"]["summary_vi"]
    assert "not enrolled" in st["network"]["summary_en"]
