"""Continuous scanning in Chromium: a cover sheet and a separator under the camera, pedal
presses only. The scan screen says what it read and follows the new document instead of
jumping to the review of the one the separator finished."""

from __future__ import annotations

import pytest

from firmware.coversheet.payload import CoverSheet, SeparatorSheet
from firmware.coversheet.printing import render_pdf
from tests.support.coversheet import pdf_pages
from tests.support.ui import requires_browser, sign_in
from tests.support.wait import wait_for

pytestmark = [pytest.mark.integration, requires_browser]

THUMBS = "#thumbs .thumb"


def count_is(n: int) -> str:
    return f"document.querySelectorAll('{THUMBS}').length === {n}"


def test_cover_sheet_and_separator_with_the_pedal(live, page, tmp_path):
    pdf = tmp_path / "sheets.pdf"
    cover = CoverSheet.build(number="64-CV/TW", date="10/04/2025", subject="V/v số hóa")
    render_pdf([cover, SeparatorSheet(1)], pdf)
    cover_img, separator_img = pdf_pages(pdf, dpi=150)
    cam = live.kiosk.camera

    sign_in(page, live.url)
    page.click("#go-scan")
    page.wait_for_url(live.url + "/scan")
    page.wait_for_selector("#live[data-tone='ok']")

    cam.lay_sheet(cover_img, "cover")
    live.press_pedal()
    page.wait_for_selector("#sheet-note:not([hidden])")
    assert "Đã đọc tờ bìa: Số 64-CV/TW" in page.inner_text("#sheet-note")
    first = live.kiosk.current_doc_id
    for n in (1, 2):
        live.press_pedal()
        page.wait_for_function(count_is(n))

    cam.lay_sheet(separator_img, "separator")
    live.press_pedal()
    page.wait_for_function("document.querySelector('#sheet-note').textContent.includes('Tách lô')")
    page.wait_for_function(count_is(0))
    live.press_pedal()
    page.wait_for_function(count_is(1))
    second = live.kiosk.current_doc_id
    assert second != first
    # Once the first document reaches review, one more page: its event comes after that
    # document's "review" event, so by then the screen has seen it and stayed.
    assert wait_for(lambda: live.kiosk.catalog.get_document(first)["state"] == "review", 120)
    live.press_pedal()
    page.wait_for_function(count_is(2))
    assert page.url == live.url + "/scan"
    assert live.kiosk.catalog.get_document(first)["page_count"] == 2
    assert live.kiosk.catalog.get_document(first)["metadata"]["number_symbol"] == "64-CV/TW"
    assert live.kiosk.catalog.get_document(second)["page_count"] == 2
