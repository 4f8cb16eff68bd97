"""Taps with a real finger (touch events in Chromium): a tap does only what it was aimed at.

The kiosk's screen is a touchscreen; Playwright's ``page.touchscreen.tap`` sends the same
touchstart/touchend pair Chromium gets from the panel, so pointerdown, pointerup and the
synthesized click arrive as on the kiosk (issue 16)."""

from __future__ import annotations

import pytest

from tests.support.ui import requires_browser, sign_in
from tests.support.wait import wait_for

pytestmark = [pytest.mark.integration, requires_browser]

THUMBS = "#thumbs .thumb"


def tap_centre(page, locator) -> None:
    box = locator.bounding_box()
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def clerk_actions(live, doc_id: str, after: int = 0) -> list[str]:
    """What the clerk (not the OCR worker) did to the document after audit record ``after``."""
    return [
        r["action"]
        for r in live.kiosk.catalog.audit_records(doc_id)
        if r["seq"] > after and r["actor"] == "1001"
    ]


def last_seq(live, doc_id: str) -> int:
    return max(r["seq"] for r in live.kiosk.catalog.audit_records(doc_id))


def test_tapping_a_thumbnail_only_opens_the_page(live, page):
    """Blocker: the viewer opened on finger-up and the click of the same tap landed on the
    viewer button now under the finger (rotate, keep, reorder were recorded)."""
    sign_in(page, live.url)
    page.goto(live.url + "/scan")
    page.wait_for_selector("#live[data-tone='ok']")
    for n in (1, 2, 3, 4):
        live.press_pedal()
        page.wait_for_function(f"document.querySelectorAll('{THUMBS}').length === {n}")
    first = page.eval_on_selector(THUMBS, "e => e.dataset.page")
    doc_id = live.kiosk.catalog.get_page(first)["doc_id"]
    # The capture's own records (each page queued for OCR, in the clerk's name) can trail
    # the thumbnail on a loaded machine: only what comes after them is the taps' doing.
    assert wait_for(lambda: clerk_actions(live, doc_id).count("page.queued") == 4, 60)
    seen = last_seq(live, doc_id)
    order = [p["id"] for p in live.kiosk.catalog.pages(doc_id)]
    turns = {p["id"]: p.get("rotation") for p in live.kiosk.catalog.pages(doc_id)}
    for n in range(4):
        tap_centre(page, page.locator(THUMBS).nth(n))
        page.wait_for_selector("#viewer:not([hidden])")
        assert f"{n + 1} /" in page.inner_text("#viewer-title")
        page.wait_for_timeout(400)  # any late click of the same tap has arrived
        assert page.is_visible("#viewer"), "the tap closed the viewer it opened"
        tap_centre(page, page.locator("#viewer [data-act='close']"))
        page.wait_for_selector("#viewer", state="hidden")
    assert clerk_actions(live, doc_id, seen) == []
    assert [p["id"] for p in live.kiosk.catalog.pages(doc_id)] == order
    assert {p["id"]: p.get("rotation") for p in live.kiosk.catalog.pages(doc_id)} == turns


@pytest.fixture(scope="module")
def to_review(live):
    """A two-page document whose OCR is done: the review screen can save it."""
    k = live.kiosk
    k.camera.new_document()
    doc = k.new_document("1001")
    for _ in range(2):
        k.capture("1001", doc["id"])
    k.finish(doc["id"], "1001")
    assert k.wait_idle(240)
    return doc["id"]


def test_after_saving_only_what_a_saved_document_allows_is_offered(live, page, to_review):
    """ "Add or retake pages" stayed after saving and answered "already saved"; the PDF
    opened Chromium's viewer in a new tab (no way back in kiosk mode)."""
    sign_in(page, live.url)
    page.goto(live.url + f"/review/{to_review}")
    page.wait_for_selector("#save:not([disabled])")
    assert page.is_visible("#add-pages")
    page.select_option("#m-type", "CV")
    tap_centre(page, page.locator("#save"))
    page.wait_for_selector("#saved:not([hidden])")
    assert live.kiosk.catalog.get_document(to_review)["state"] in {"sealed", "queued"}
    assert page.locator("#add-pages").count() == 0 or not page.is_visible("#add-pages")
    # the viewer of a saved document shows the page, not page edits
    tap_centre(page, page.locator(THUMBS).nth(0))
    page.wait_for_selector("#viewer:not([hidden])")
    for act in ("retake", "rotate", "delete", "earlier", "later", "accept"):
        assert not page.is_visible(f"#viewer [data-act='{act}']"), act
    tap_centre(page, page.locator("#viewer [data-act='close']"))
    page.wait_for_selector("#viewer", state="hidden")

    # the PDF opens inside the app, in the same tab, with a way back
    tabs = len(page.context.pages)
    tap_centre(page, page.locator("#saved #open-pdf"))
    page.wait_for_url(live.url + f"/documents/{to_review}/pdf?back=review")
    assert len(page.context.pages) == tabs
    n_pages = len(live.kiosk.catalog.pages(to_review))
    page.wait_for_function(
        f"Array.from(document.querySelectorAll('#pdf-pages img')).filter("
        f"i => i.complete && i.naturalWidth > 0).length === {n_pages}"
    )
    ratio = page.eval_on_selector("#pdf-pages img", "i => i.naturalHeight / i.naturalWidth")
    assert 1.3 < ratio < 1.5  # an A4 page from the sealed PDF, not a thumbnail
    tap_centre(page, page.locator("#pdf-back"))
    page.wait_for_url(live.url + f"/review/{to_review}")
    # and a saved document reopened still offers no page edits
    assert page.locator("#add-pages").count() == 0


def test_tapping_a_status_item_says_its_state_and_what_to_do(live, page):
    """The network's reason was only in a hover tooltip (no hover on a touchscreen)."""
    sign_in(page, live.url)
    page.wait_for_timeout(500)  # the first status answer has arrived
    tap_centre(page, page.locator("#st-net"))
    page.wait_for_selector("#status-detail:not([hidden])")
    assert "chưa đăng ký" in page.inner_text("#sd-state")  # this kiosk is not enrolled
    assert "CNTT tỉnh" in page.inner_text("#sd-todo")
    tap_centre(page, page.locator("#sd-close"))
    page.wait_for_selector("#status-detail", state="hidden")
    tap_centre(page, page.locator("#st-camera"))
    page.wait_for_selector("#status-detail:not([hidden])")
    assert page.inner_text("#sd-state") == "Hoạt động tốt"


def finger(page, locator, hold_s: float) -> None:
    """Finger down on ``locator``, held ``hold_s``, then up: raw CDP touch events."""
    box = locator.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    page.wait_for_timeout(hold_s * 1000)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_the_demo_pedal_on_screen_presses_and_holds_to_finish(live, page):
    """The demo's mock pedal had no control: press and hold-to-finish could not be tried."""
    import re

    sign_in(page, live.url)
    page.goto(live.url + "/scan")
    page.wait_for_selector("#live[data-tone='ok']")
    before = page.locator(THUMBS).count()
    finger(page, page.locator("#sim-pedal"), 0.15)  # a press: one page
    page.wait_for_function(f"document.querySelectorAll('{THUMBS}').length === {before + 1}")
    doc_id = live.kiosk.catalog.get_page(
        page.eval_on_selector_all(THUMBS, "els => els[els.length - 1].dataset.page")
    )["doc_id"]
    hold = live.kiosk.settings.pedal.long_press_s + 0.8
    finger(page, page.locator("#sim-pedal"), hold)  # held: the document is finished
    page.wait_for_url(re.compile(rf".*/review/{doc_id}"))
    assert live.kiosk.catalog.get_document(doc_id)["state"] in {"processing", "review"}
