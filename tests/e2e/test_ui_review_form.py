"""The review form in Chromium, tapped with a finger: it opens filled from page 1, the
register's suggestion is taken or refused in one tap, every field the archive needs is
there on one 1024x600 screen, and dates and numbers read the Vietnamese way. Each test
asserts what the catalog stored after sealing, not what the screen says."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.support.ui import requires_browser, sign_in
from tests.support.wait import wait_for

pytestmark = [pytest.mark.integration, requires_browser]

THUMBS = "#thumbs .thumb"
FIELDS = {
    "subject": "#m-title",
    "issuer": "#m-issuer",
    "doc_type": "#m-type",
    "number_symbol": "#m-number",
    "date": "#m-date",
}


def scan_to_review(live, page, pages: int = 1) -> str:
    """Scan ``pages`` pages with the pedal, tap Finish, wait until the form can be saved."""
    page.goto(live.url + "/scan")
    page.wait_for_selector("#live[data-tone='ok']")
    for n in range(1, pages + 1):
        live.press_pedal()
        page.wait_for_function(f"document.querySelectorAll('{THUMBS}').length === {n}")
    doc_id = live.kiosk.current_doc_id
    page.tap("#finish")
    page.wait_for_url(re.compile(r".*/review/D.*"))
    page.wait_for_selector("#save:not([disabled])", timeout=240_000)
    return doc_id


def truth_of(live, doc_id: str) -> dict:
    """What the sim camera printed on page 1 (the renderer's ground truth)."""
    first = live.kiosk.catalog.pages(doc_id)[0]
    path = live.kiosk.paths.frame_truth(doc_id, first["id"])
    return json.loads(path.read_text(encoding="utf-8"))["fields"]


def shown_date(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{d}/{m}/{y}"


def tap_keys(page, text: str) -> None:
    """Type on the on-screen keyboard with taps (capitals through the shift key)."""
    for ch in text:
        if ch.isalpha() and ch.isupper():
            page.tap("#osk [data-k='⇧']")
            page.tap(f"#osk .osk-letters [data-k='{ch.lower()}']")
        elif ch.isdigit() or ch == "/":
            page.tap(f"#osk .okey[data-k='{ch}']:visible")
        else:
            page.tap(f"#osk .osk-letters [data-k='{ch}']")


def clear_field(page, selector: str) -> None:
    # Tap the field's right end, as a clerk clearing it would: the caret lands after the
    # text, and the backspaces remove all of it (a tap in the middle leaves the tail).
    box = page.locator(selector).bounding_box()
    page.tap(selector, position={"x": box["width"] - 6, "y": box["height"] / 2})
    for _ in range(len(page.input_value(selector))):
        page.tap("#osk .okey[data-k='⌫']:visible")


def test_form_opens_filled_from_page_one_and_saving_stores_it(live, page):
    sign_in(page, live.url)
    doc_id = scan_to_review(live, page)
    truth = truth_of(live, doc_id)
    cat = live.kiosk.catalog
    cached = cat.get_document(doc_id)["metadata"].get("extraction")
    assert cached and cached["page_id"] == cat.pages(doc_id)[0]["id"]  # read once, kept

    # every field the archive needs is on the form, filled, on one screen without scrolling
    page.wait_for_function("document.querySelector('#m-number').value !== ''")
    form = page.request.get(live.url + f"/api/v1/documents/{doc_id}/form").json()
    for name, sel in FIELDS.items():
        box = page.locator(sel).bounding_box()
        assert box and box["y"] + box["height"] <= 600, f"{name} is below the screen"
        value = form["fields"][name]["value"]
        assert value, f"{name} was not filled: {form['fields']}"
        shown = shown_date(value) if name == "date" else value
        assert page.input_value(sel) == shown
        unsure = page.get_attribute(f".fld[data-field='{name}']", "data-unsure")
        assert (unsure == "1") == form["fields"][name]["unsure"]
    save = page.locator("#save").bounding_box()
    assert save["y"] + save["height"] <= 600
    # the reader got the page right (a 1600x1200 camera photo)
    assert page.input_value("#m-number") == truth["number_symbol"]
    assert page.input_value("#m-date") == shown_date(truth["date"])
    # the number field holds no grey example that looks like a value
    assert page.get_attribute("#m-number", "placeholder") in (None, "")

    page.tap("#save")
    page.wait_for_selector("#saved:not([hidden])", timeout=120_000)
    meta = cat.get_document(doc_id)["metadata"]
    assert meta["number_symbol"] == truth["number_symbol"]
    assert meta["date"] == truth["date"]
    assert meta["issuer"] == form["fields"]["issuer"]["value"]
    assert meta["subject"] == form["fields"]["subject"]["value"]
    assert meta["doc_type"] == form["fields"]["doc_type"]["value"]


def test_register_suggestion_taken_in_one_tap_or_refused(live, page, tmp_path):
    from firmware.register.importer import import_register
    from tests.support.register import write_csv

    sign_in(page, live.url)
    doc_id = scan_to_review(live, page)
    truth = truth_of(live, doc_id)
    y, m, d = truth["date"].split("-")
    reg = write_csv(
        tmp_path / "so-den.csv",
        [
            [
                7,
                truth["number_symbol"],
                f"{d}/{m}/{y}",
                "Cơ quan theo sổ đăng ký",
                "Trích yếu theo sổ đăng ký",
                truth["type"],
                "Thường",
            ]
        ],
    )
    import_register(live.kiosk.catalog, reg, name="Sổ đến 2025", direction="in", actor="test")
    page.reload()
    page.wait_for_selector("#save:not([disabled])")
    # the exact entry wins over the reader: the form opens with the register's values
    assert page.input_value("#m-title") == "Trích yếu theo sổ đăng ký"
    assert page.input_value("#m-issuer") == "Cơ quan theo sổ đăng ký"
    assert page.get_attribute(".fld[data-field='issuer']", "data-source") == "register"
    # one tap confirms the entry; another says the document is none of them
    page.wait_for_selector("#reg-candidates [data-entry]")
    page.tap("#reg-none")
    assert wait_for(
        lambda: live.kiosk.catalog.get_document(doc_id)["metadata"].get("register_none"), 5
    )
    page.tap("#reg-candidates [data-entry]")
    assert wait_for(
        lambda: live.kiosk.catalog.get_document(doc_id)["metadata"].get("register_entry_id"), 5
    )
    assert not live.kiosk.catalog.get_document(doc_id)["metadata"].get("register_none")
    page.tap("#save")
    page.wait_for_selector("#saved:not([hidden])", timeout=120_000)
    meta = live.kiosk.catalog.get_document(doc_id)["metadata"]
    assert meta["subject"] == "Trích yếu theo sổ đăng ký"
    assert meta["issuer"] == "Cơ quan theo sổ đăng ký"
    assert meta["number_symbol"] == truth["number_symbol"]
    linked = live.kiosk.catalog.db.execute(
        "SELECT document_id FROM register_entries WHERE number_symbol = ?",
        [truth["number_symbol"]],
    ).fetchone()
    assert linked[0] == doc_id


def test_typed_number_date_keypad_and_vietnamese_display(live, page):
    sign_in(page, live.url)
    doc_id = scan_to_review(live, page)
    # the date field opens a numeric keypad, not the letter keyboard
    clear_field(page, "#m-date")
    assert page.is_visible("#osk .osk-digits [data-k='7']")
    assert page.is_hidden("#osk .osk-letters [data-k='q']")
    tap_keys(page, "17/02/2022")
    page.tap("#osk .osk-digits [data-k='done']")
    assert page.input_value("#m-date") == "17/02/2022"
    # a number with its symbol, typed on the letter keyboard, is kept whole
    clear_field(page, "#m-number")
    assert page.is_visible("#osk .osk-letters [data-k='q']")
    tap_keys(page, "49-QĐ/UBKTTU")
    assert page.input_value("#m-number") == "49-QĐ/UBKTTU"
    # ă and the ngã tone key do not look alike at 1x
    a_breve = page.locator("#osk .osk-letters [data-k='ă']").screenshot()
    tilde = page.locator("#osk [data-tone='tilde']").screenshot()
    assert _unlike(a_breve, tilde) > 0.08
    page.tap("#osk .osk-letters [data-k='done']")
    page.tap("#save")
    page.wait_for_selector("#saved:not([hidden])", timeout=120_000)
    meta = live.kiosk.catalog.get_document(doc_id)["metadata"]
    assert meta["date"] == "2022-02-17"
    assert meta["number_symbol"] == "49-QĐ/UBKTTU"
    assert (meta["number"], meta["symbol"]) == ("49", "QĐ/UBKTTU")

    page.goto(live.url + "/documents")
    row = page.locator(f"#doclist a[data-doc='{doc_id}']")
    assert "49-QĐ/UBKTTU" in row.inner_text()
    assert row.locator(".doc-date").inner_text() == "17/02/2022"  # the document's date
    page.goto(live.url + f"/documents/{doc_id}")
    assert page.inner_text("#doc-number") == "49-QĐ/UBKTTU"
    assert page.inner_text("#doc-date") == "17/02/2022"
    # sizes with the decimal comma in the status bar
    page.wait_for_function("/\\d,\\d GB/.test(document.querySelector('#st-disk b').textContent)")


def _unlike(png_a: bytes, png_b: bytes) -> float:
    """Mean absolute difference (0..1) of two key images, scaled to the same size."""
    import cv2

    a = cv2.imdecode(np.frombuffer(png_a, np.uint8), cv2.IMREAD_GRAYSCALE)
    b = cv2.imdecode(np.frombuffer(png_b, np.uint8), cv2.IMREAD_GRAYSCALE)
    b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    return float(np.abs(a.astype(float) - b.astype(float)).mean() / 255)
