"""Unfinished work says when, whose and what (a thumbnail), mine apart from others'; the
originals not returned say number, date and subject, and can be marked returned (issue 16)."""

from __future__ import annotations

import re

import pytest

from tests.support.ui import requires_browser, sign_in

pytestmark = [pytest.mark.integration, requires_browser]


def tap(page, selector: str) -> None:
    loc = page.locator(selector).first
    loc.scroll_into_view_if_needed()
    box = loc.bounding_box()
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@pytest.fixture(scope="module")
def parked(live):
    k = live.kiosk
    made = {}
    for code in ("1001", "2001"):
        k.camera.new_document()
        doc = k.new_document(code)
        k.capture(code, doc["id"])
        made[code] = doc["id"]
    k.catalog.update_document(
        made["1001"],
        "1001",
        "document.classify",
        metadata={"number": "64-CV/TW", "date": "2025-04-10", "subject": "Về việc số hóa"},
    )
    k.new_document("9001")  # the current document (no page): not listed as unfinished
    return made


def test_parked_work_mine_apart_with_time_owner_and_thumbnail(live, page, parked):
    sign_in(page, live.url, "2001", "2468")
    mine = page.inner_text("#parked")
    others = page.inner_text("#parked-others")
    assert page.locator("#parked li").count() == 1
    assert "Nguyễn Thị Lan" in others and "Trần Văn Minh" in mine
    assert re.search(r"\d\d/\d\d \d\d:\d\d", others)
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.parked-thumb')).every("
        "i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator(".parked-thumb").count() == 2


def test_originals_out_read_as_documents_and_can_be_returned(live, page, parked):
    sign_in(page, live.url, "2001", "2468")
    page.goto(live.url + "/progress")
    row = page.locator("#custody li", has_text="64-CV/TW")
    assert "10/04/2025" in row.inner_text() and "Về việc số hóa" in row.inner_text()
    custody_id = row.get_attribute("data-custody")
    tap(page, f"#custody li[data-custody='{custody_id}'] [data-return]")
    page.wait_for_selector(f"#custody li[data-custody='{custody_id}']", state="detached")
    rec = live.kiosk.catalog.db.execute(
        "SELECT returned_at, returned_by FROM custody WHERE id = ?", [int(custody_id)]
    ).fetchone()
    assert rec[0] and rec[1] == "2001"
    assert any(
        r["action"] == "custody.return" and r["actor"] == "2001"
        for r in live.kiosk.catalog.audit_records(parked["1001"])
    )


def test_a_parked_document_is_discarded_after_a_confirmation(live, page, parked):
    """Pages captured by mistake stayed under "Việc đang dở" for ever (issue 16): the row
    has "Hủy"; the first tap asks, a refusal keeps everything, a confirmation discards the
    document, deletes its pages' files and audits who did it."""
    from pathlib import Path

    cat = live.kiosk.catalog
    doc_id = parked["2001"]
    files = [Path(p["frame_path"]) for p in cat.pages(doc_id)]
    assert files and all(f.exists() for f in files)
    sign_in(page, live.url, "2001", "2468")
    button = f"#parked [data-discard='{doc_id}']"
    assert page.inner_text(button) == "Hủy"
    asked: list[str] = []

    def refuse(dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", refuse)
    tap(page, button)
    for _ in range(100):  # the dialog came and was answered
        if asked:
            break
        page.wait_for_timeout(100)
    assert asked and "Hủy tài liệu này?" in asked[0]
    assert cat.get_document(doc_id)["state"] != "discarded"
    assert page.locator(button).count() == 1

    page.once("dialog", lambda d: d.accept())
    tap(page, button)
    page.wait_for_selector(button, state="detached")
    assert cat.get_document(doc_id)["state"] == "discarded"
    assert not any(f.exists() for f in files)
    actions = [(r["action"], r["actor"]) for r in cat.audit_records(doc_id)]
    assert ("document.discarded", "2001") in actions
    assert ("document.content_removed", "2001") in actions
    # The emptied panel reloads itself; a reload of ours it overtakes is aborted: reload again.
    from playwright.sync_api import Error as PlaywrightError

    for attempt in range(3):
        try:
            page.reload()
            break
        except PlaywrightError as exc:
            if "ERR_ABORTED" not in str(exc) or attempt == 2:
                raise
    assert page.locator(f"[data-doc='{doc_id}'], [data-discard='{doc_id}']").count() == 0
