"""The whole walk-up flow in Chromium: sign in, three pedal presses, a retake, finish,
fill the form with the on-screen keyboard, save, find the document without diacritics."""

from __future__ import annotations

import re

import pytest

from firmware.store.textfold import fold
from tests.support.ui import requires_browser, sign_in

pytestmark = [pytest.mark.integration, requires_browser]

THUMBS = "#thumbs .thumb"


def osk_type(page, text: str) -> None:
    """Type on the on-screen keyboard: letters, then tone keys by name after the vowel."""
    tones = {"´": "acute", "`": "grave", "?": "hook", "~": "tilde", ".": "dot"}
    for ch in text:
        if ch in tones:
            page.click(f"#osk [data-tone='{tones[ch]}']")
        elif ch.isupper():
            page.click("#osk [data-k='⇧']")
            page.click(f"#osk [data-k='{ch.lower()}']")
        else:  # digits and "/" are on the letter keyboard and the date keypad
            page.click(f"#osk .okey[data-k='{ch}']:visible")


def osk_clear(page, selector: str) -> None:
    """Empty a pre-filled field with the keyboard's backspace."""
    page.click(selector)
    for _ in range(len(page.input_value(selector))):
        page.click("#osk .okey[data-k='⌫']:visible")


def thumb_ids(page) -> list[str]:
    return page.eval_on_selector_all(THUMBS, "els => els.map(e => e.dataset.page)")


def drag_thumb(page, src: int, dst: int) -> None:
    """Press on thumbnail ``src``, slide in small steps and lift over thumbnail ``dst``."""
    a = page.locator(THUMBS).nth(src).bounding_box()
    b = page.locator(THUMBS).nth(dst).bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 3, b["y"] + b["height"] / 2, steps=12)
    page.mouse.up()


def test_scan_three_pages_retake_finish_save_and_search(live, page):
    sign_in(page, live.url)
    assert "Nguyễn Thị Lan" in page.inner_text(".greeting")
    page.click("#go-scan")
    page.wait_for_url(live.url + "/scan")
    page.wait_for_selector("#live[data-tone='ok']")  # the page outline is green
    for n in (1, 2, 3):
        live.press_pedal()
        page.wait_for_function(f"document.querySelectorAll('{THUMBS}').length === {n}")
    page.wait_for_function("document.querySelector('#page-count').textContent === '3'")
    before = thumb_ids(page)
    doc_id = (
        page.eval_on_selector(THUMBS, "e => e.closest('#scan') && null")
        or (live.kiosk.catalog.get_page(before[0])["doc_id"])
    )
    # every capture was made for the signed-in clerk
    actors = {
        r["actor"]
        for r in live.kiosk.catalog.audit_records(doc_id)
        if r["action"] == "page.capture"
    }
    assert actors == {"1001"}

    # retake page 2 from the large view
    page.locator(THUMBS).nth(1).click()
    page.wait_for_selector("#viewer:not([hidden])")
    assert "2" in page.inner_text("#viewer-title")
    page.click("#viewer [data-act='retake']")
    page.wait_for_function(
        f"document.querySelectorAll('{THUMBS}').length === 3 && "
        f"document.querySelectorAll('{THUMBS}')[1].dataset.page !== {before[1]!r}"
    )
    after = thumb_ids(page)
    assert len(after) == 3 and after[0] == before[0] and after[2] == before[2]
    assert after[1] != before[1]
    assert live.kiosk.catalog.get_page(before[1])["state"] == "deleted"

    # drag page 3 before page 1 with a finger (pointer events, as on the touchscreen)
    drag_thumb(page, 2, 0)
    page.wait_for_function(
        f"document.querySelectorAll('{THUMBS}')[0].dataset.page === {after[2]!r}"
    )
    assert thumb_ids(page) == [after[2], after[0], after[1]]
    stored = [p["id"] for p in live.kiosk.catalog.pages(doc_id)]
    assert stored == [after[2], after[0], after[1]]
    assert page.is_hidden("#viewer")  # a drag is not a tap: the large view stays closed

    page.click("#finish")
    page.wait_for_url(re.compile(r".*/review/D.*"))
    try:
        page.wait_for_selector("#save:not([disabled])", timeout=240_000)  # OCR done
    except Exception as exc:  # say where the document got stuck
        cat = live.kiosk.catalog
        states = [(p["seq"], p["state"], p["error_code"]) for p in cat.pages(doc_id)]
        raise AssertionError(
            f"document {cat.get_document(doc_id)['state']}, pages {states}, "
            f"backlog {live.kiosk.backlog()}"
        ) from exc

    # the form, typed on the on-screen keyboard (accents by tone keys)
    osk_clear(page, "#m-title")  # the form opens filled from page 1
    page.wait_for_selector("#osk:not([hidden])")
    osk_type(page, "Công văn Ha`")
    osk_type(page, " Nôi.")
    assert page.input_value("#m-title") == "Công văn Hà Nội"
    page.click("#osk .okey[data-k='done']:visible")
    page.select_option("#m-type", "CV")
    osk_clear(page, "#m-date")
    osk_type(page, "10/04/2025")
    page.click("#osk .okey[data-k='done']:visible")
    # Tuyệt mật is refused with the reason
    page.click("label.level.refused")
    assert page.is_visible("#form-error")
    assert "Tuyệt mật" in page.inner_text("#form-error")
    page.click("label.level:has(input[value='thuong'])")
    page.click("#save")
    page.wait_for_selector("#saved:not([hidden])", timeout=120_000)
    assert "Chờ gửi" in page.inner_text("#saved-where")
    doc = live.kiosk.catalog.get_document(doc_id)
    assert doc["state"] == "queued"  # ordinary: sealed and routed to the uplink outbox
    assert doc["title"] == "Công văn Hà Nội"
    assert doc["metadata"]["doc_type"] == "CV" and doc["metadata"]["date"] == "2025-04-10"

    # search a word of the OCR text, typed without diacritics
    text = live.kiosk.catalog.document_text(doc_id)
    words = [w for w in re.findall(r"\w+", text) if len(w) >= 4 and fold(w) != w.lower()]
    assert words, text[:500]
    word = fold(max(words, key=len))
    page.click("#go-search") if page.is_visible("#go-search") else page.goto(live.url + "/")
    page.goto(live.url + "/documents")
    page.fill("#q", word)
    page.click("#search-go")
    page.wait_for_url(re.compile(r".*/documents\?q=.*"))
    assert page.locator(f"#doclist a[data-doc='{doc_id}']").count() == 1
    page.click(f"#doclist a[data-doc='{doc_id}']")
    assert page.locator("#open-pdf").count() == 1
    resp = page.request.get(live.url + f"/api/v1/documents/{doc_id}/pdf")
    assert resp.ok and resp.body()[:5] == b"%PDF-"
