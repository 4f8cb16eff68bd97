"""The confidentiality level set on the touchscreen in Chromium: each of the review
screen's four buttons, the Tuyệt mật refusal with its discard, and an archivist's
reclassification on the document screen. Each asserts where the document really is
(catalog state, outbox table, files on disk), not what the screen says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.ui import requires_browser, sign_in
from tests.support.wait import wait_for

pytestmark = [pytest.mark.integration, requires_browser]

THUMBS = "#thumbs .thumb"


def outbox(live) -> set[str]:
    cat = live.kiosk.catalog
    return {r[0] for r in cat.db.execute("SELECT document_id FROM outbox").fetchall()}


def scan_one_page_to_review(live, page) -> str:
    """Scan screen: one pedal press, Finish; wait on the review screen until Save is on."""
    page.goto(live.url + "/scan")
    page.wait_for_selector("#live[data-tone='ok']")
    n = page.locator(THUMBS).count()
    live.press_pedal()
    page.wait_for_function(f"document.querySelectorAll('{THUMBS}').length === {n + 1}")
    page_id = page.eval_on_selector_all(THUMBS, "els => els[els.length - 1].dataset.page")
    doc_id = live.kiosk.catalog.get_page(page_id)["doc_id"]
    page.tap("#finish")
    page.wait_for_url(re.compile(rf".*/review/{doc_id}"))
    page.wait_for_selector("#save:not([disabled])", timeout=240_000)
    return doc_id


def tap_level(page, code: str, form: str = "#meta-form") -> None:
    page.tap(f"{form} label.level:has(input[value='{code}'])")


@pytest.mark.parametrize("level", ["thuong", "mat", "toi_mat"])
def test_review_screen_level_buttons_route_the_document(live, page, level):
    sign_in(page, live.url)
    doc_id = scan_one_page_to_review(live, page)
    tap_level(page, level)
    page.tap("#save")
    page.wait_for_selector("#saved:not([hidden])", timeout=120_000)
    doc = live.kiosk.catalog.get_document(doc_id)
    assert doc["confidentiality"] == level
    if level == "thuong":
        assert doc["state"] == "queued" and doc_id in outbox(live)
    else:
        assert doc["state"] == "sealed" and doc_id not in outbox(live)
        assert "USB" in page.inner_text("#saved-where")
    from provisioning.schemas import xmp_confidentiality

    assert xmp_confidentiality(doc["pdf_path"]) == level


def test_review_screen_top_secret_is_refused_sticks_and_is_discarded(live, page):
    sign_in(page, live.url)
    doc_id = scan_one_page_to_review(live, page)
    cat = live.kiosk.catalog
    files = [
        Path(p[k])
        for p in cat.pages(doc_id)
        for k in ("frame_path", "preview_path", "image_path", "ocr_path")
    ]
    tap_level(page, "tuyet_mat")
    page.tap("#save")
    page.wait_for_selector("#top-secret-offer:not([hidden])")
    assert "Tuyệt mật" in page.inner_text("#form-error")
    doc = cat.get_document(doc_id)
    assert (doc["state"], doc["confidentiality"]) == ("review", "tuyet_mat")
    # one tap on Thường then Lưu does not seal it
    tap_level(page, "thuong")
    page.tap("#save")
    page.wait_for_function(
        "document.querySelector('#form-error').textContent.includes('lưu trữ viên')"
    )
    assert cat.get_document(doc_id)["state"] == "review" and doc_id not in outbox(live)
    # discard, confirmed in the dialog
    page.once("dialog", lambda d: d.accept())
    page.tap("#discard")
    page.wait_for_url(live.url + "/")
    assert wait_for(lambda: cat.get_document(doc_id)["state"] == "discarded", 10)
    assert files and not any(f.exists() for f in files)
    left = cat.db.execute("SELECT COUNT(*) FROM page_text WHERE doc_id = ?", [doc_id])
    assert left.fetchone()[0] == 0
    # not listed under unfinished work on the home screen
    assert page.locator(f"[href*='{doc_id}'], [data-resume='{doc_id}']").count() == 0


def test_archivist_reclassifies_on_the_document_screen(live, page):
    from tests.e2e.test_ui_flow import osk_type

    sign_in(page, live.url)
    doc_id = scan_one_page_to_review(live, page)
    tap_level(page, "thuong")
    page.tap("#save")
    page.wait_for_selector("#saved:not([hidden])", timeout=120_000)
    cat = live.kiosk.catalog
    assert cat.get_document(doc_id)["state"] == "queued"
    # a clerk gets no control to change it
    page.goto(f"{live.url}/documents/{doc_id}")
    assert page.locator("#reclassify").count() == 0
    page.context.clear_cookies()
    sign_in(page, live.url, "2001", "2468")
    page.goto(f"{live.url}/documents/{doc_id}")
    tap_level(page, "mat", "#reclassify")
    page.tap("#classify-save")
    page.wait_for_selector("#classify-result:not([hidden])", timeout=60_000)
    assert "hàng chờ" in page.inner_text("#classify-result")
    doc = cat.get_document(doc_id)
    assert (doc["state"], doc["confidentiality"]) == ("sealed", "mat")
    assert doc_id not in outbox(live)
    # lowering needs a reason, typed on the on-screen keyboard
    tap_level(page, "thuong", "#reclassify")
    page.tap("#classify-save")
    page.wait_for_function(
        "document.querySelector('#classify-result').textContent.includes('lý do')"
    )
    assert cat.get_document(doc_id)["confidentiality"] == "mat"
    page.tap("#c-reason")
    page.wait_for_selector("#osk:not([hidden])")
    osk_type(page, "het han")
    page.tap("#osk [data-k='done']")
    page.tap("#classify-save")
    page.wait_for_function(
        "document.querySelector('#classify-result').textContent.includes('Đã thay đổi')",
        timeout=60_000,
    )
    doc = cat.get_document(doc_id)
    assert (doc["state"], doc["confidentiality"]) == ("queued", "thuong")
    assert doc_id in outbox(live)
