"""Sign-in rules in the browser: lockout, idle sign-out that parks (never loses) the open
document, and the Vietnamese/English switch."""

from __future__ import annotations

import time

import pytest

from tests.support.ui import requires_browser, sign_in, start_live_kiosk

pytestmark = [pytest.mark.integration, requires_browser]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    lk = start_live_kiosk(
        tmp_path_factory.mktemp("session"), idle_timeout_s=5, idle_warning_s=3, lockout_s=120
    )
    yield lk
    lk.stop()


def type_keys(page, digits: str) -> None:
    for ch in digits:
        page.click(f"#keypad [data-key='{ch}']")


def test_five_wrong_pins_lock_the_code_even_for_the_right_pin(live, page):
    page.goto(live.url + "/signin")
    type_keys(page, "2001")
    page.click("#signin-next")
    for n in range(5):  # after a wrong PIN the code stays, the keypad asks for the PIN again
        type_keys(page, "0000")
        with page.expect_response("**/api/v1/session/login"):
            page.click("#signin-next")
        if n < 4:  # each wrong PIN says how many tries are left (issue 16)
            page.wait_for_function(
                "t => document.querySelector('#signin-error').textContent.includes(t)",
                arg=f"Còn {4 - n} lần thử",
            )
    assert "tạm khóa" in page.inner_text("#signin-error")
    # once locked: for how long, and whom to ask
    assert "phút" in page.inner_text("#signin-error")
    assert "kỹ thuật viên" in page.inner_text("#signin-error")
    type_keys(page, "2001")  # a lockout also clears the code
    page.click("#signin-next")
    type_keys(page, "2468")  # the right PIN
    with page.expect_response("**/api/v1/session/login") as resp:
        page.click("#signin-next")
    assert resp.value.status == 423
    assert "tạm khóa" in page.inner_text("#signin-error")
    assert page.url.endswith("/signin")
    actions = [r["action"] for r in live.kiosk.catalog.audit_records()]
    assert actions.count("operator.signin_failed") >= 5, actions
    assert "operator.locked" in actions and "operator.signin_refused" in actions


def test_idle_sign_out_parks_the_document_and_keeps_every_page(live, page):
    sign_in(page, live.url)
    page.click("#go-scan")
    for n in (1, 2):
        live.press_pedal()
        page.wait_for_function(f"document.querySelectorAll('#thumbs .thumb').length === {n}")
    doc_id = live.kiosk.current_doc_id
    assert doc_id
    page.wait_for_selector("#idle-warning:not([hidden])", timeout=20_000)
    page.wait_for_url(live.url + "/signin?reason=idle", timeout=20_000)
    assert "Đã tự đăng xuất do không sử dụng" in page.inner_text("#idle-notice")
    doc = live.kiosk.catalog.get_document(doc_id)
    assert doc["state"] == "capturing" and doc["page_count"] == 2
    assert live.kiosk.current_doc_id is None
    assert any(r["action"] == "document.parked" for r in live.kiosk.catalog.audit_records(doc_id))
    # nobody is signed in: the pedal does not capture; the refusal is the signal to wait for
    events = live.kiosk.events.subscribe()
    try:
        live.press_pedal()
        refusal = _next_event(events, "error", timeout=10)
    finally:
        live.kiosk.events.unsubscribe(events)
    assert refusal["code"] == "not_signed_in"
    assert live.kiosk.current_doc_id is None
    assert live.kiosk.catalog.get_document(doc_id)["page_count"] == 2
    # sign in again, the document waits under "unfinished work"; resume and add a page
    sign_in(page, live.url)
    page.click(f"[data-resume='{doc_id}']")
    page.wait_for_url(live.url + "/scan")
    page.wait_for_function("document.querySelectorAll('#thumbs .thumb').length === 2")
    live.press_pedal()
    page.wait_for_function("document.querySelectorAll('#thumbs .thumb').length === 3")
    assert live.kiosk.catalog.get_document(doc_id)["page_count"] == 3


def test_language_switch_is_kept_for_the_session(live, page):
    page.goto(live.url + "/signin")
    assert page.inner_text("h1") == "Đăng nhập"
    page.click("#lang-switch")
    page.wait_for_selector("html[lang='en']")
    assert page.inner_text("h1") == "Sign in"
    sign_in(page, live.url, "9001", "9999")
    assert "Scan a document" in page.inner_text(".tiles") or "Continue scanning" in page.inner_text(
        ".tiles"
    )
    page.goto(live.url + "/progress")
    assert page.inner_text("h1") == "Digitization progress"
    # API errors follow the session's language
    resp = page.request.get(live.url + "/api/v1/documents/nope")
    assert resp.status == 404 and resp.json() == {"code": "not_found", "message": "Not found."}
    page.click("#lang-switch")
    page.wait_for_selector("html[lang='vi']")
    assert page.inner_text("h1") == "Tiến độ số hóa"
    resp = page.request.get(live.url + "/api/v1/documents/nope")
    assert resp.json()["message"] == "Không tìm thấy."


def _next_event(events, kind: str, timeout: float) -> dict:
    """The next event of ``kind`` on a subscription of the kiosk's event bus."""
    import queue

    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = events.get(timeout=left)
        except queue.Empty:
            break
        if event.get("kind") == kind:
            return event
    raise AssertionError(f"no {kind!r} event within {timeout} s")
