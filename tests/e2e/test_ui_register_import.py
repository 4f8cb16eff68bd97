"""Importing a register by touch: a tap shows a preview, only "Import" imports, the same
file again is "already imported", and an import can be undone (issue 16)."""

from __future__ import annotations

import pytest

from tests.support.register import sample_rows, write_csv
from tests.support.ui import requires_browser, sign_in

pytestmark = [pytest.mark.integration, requires_browser]


FILE = "#import-files [data-source='import/so-den-2021.csv']"


def tap(page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def entries(live) -> int:
    return live.kiosk.catalog.db.execute("SELECT COUNT(*) FROM register_entries").fetchone()[0]


def test_preview_confirm_refuse_the_same_file_and_undo(live, page):
    from firmware.register.sources import import_dir

    folder = import_dir(live.kiosk.settings)
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "so-den-2021.csv", sample_rows(40))
    before = entries(live)
    sign_in(page, live.url, "2001", "2468")
    page.goto(live.url + "/progress")
    page.wait_for_selector(FILE)
    page.locator(FILE).scroll_into_view_if_needed()
    tap(page, FILE)
    page.wait_for_selector("#import-preview:not([hidden])")
    assert page.inner_text("#pv-register") == "so-den-2021"
    assert page.inner_text("#pv-rows") == "40"
    assert "/" in page.inner_text("#pv-period")  # dd/mm/yyyy – dd/mm/yyyy
    assert entries(live) == before  # the tap imported nothing
    tap(page, "#import-confirm")
    page.wait_for_selector("#import-done:not([hidden])", timeout=60000)
    assert entries(live) == before + 40

    # the same file again, under any name: said, and refused by the server too
    tap(page, FILE)
    page.wait_for_selector("#import-preview:not([hidden])")
    page.wait_for_selector("#pv-previous:not([hidden])")
    assert "đã được nhập" in page.inner_text("#pv-previous")
    assert page.is_hidden("#import-confirm")
    job = page.evaluate(
        """async () => {
        let job = await (await fetch('/api/v1/register/import', {method: 'POST',
          headers: {'Content-Type': 'application/json'}, body: JSON.stringify({
          source: 'import/so-den-2021.csv', name: 'Sổ khác', direction: 'in'})})).json();
        while (job.state === 'running') {
          await new Promise((r) => setTimeout(r, 200));
          job = await (await fetch('/api/v1/register/import/' + job.id)).json();
        }
        return job; }"""
    )
    assert job["state"] == "failed" and job["error"]["code"] == "already_imported"
    assert entries(live) == before + 40

    # undo the import from the list (confirmed), audited
    page.on("dialog", lambda d: d.accept())
    page.goto(live.url + "/progress")
    page.wait_for_selector("#import-history [data-undo]")
    page.locator("#import-history [data-undo]").first.scroll_into_view_if_needed()
    tap(page, "#import-history [data-undo]")
    page.wait_for_selector("#import-history li small")
    assert entries(live) == before
    undone = [
        r for r in live.kiosk.catalog.audit_records() if r["action"] == "register.import_undone"
    ]
    assert len(undone) == 1 and undone[0]["actor"] == "2001"
    assert undone[0]["details"]["removed"] == 40
