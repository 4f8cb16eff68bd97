"""Degraded photos, as a clerk meets them (issue 16): a kiosk whose folder camera is fed the
sim camera's degraded captures (blurred, dark, glare, cut off, no page). After each pedal
press the screen itself says, in Vietnamese, that this page must be retaken, why, and what
to do, without the clerk having to open the page; one tap on "Chụp lại" retakes it in place
and the note goes away once the page is good."""

from __future__ import annotations

import unicodedata

import pytest

from kiosk_ui import labels
from kiosk_ui.i18n import Translator
from tests.support.ui import requires_browser, save_screenshot, sign_in, start_live_kiosk

pytestmark = [pytest.mark.integration, requires_browser]

THUMBS = "#thumbs .thumb"
NOTE = "#retake-note"
#: the sim camera's degraded kinds, then the good photo the retake picks up
SCRIPT = ["blurred", "dark", "glare", "cut_off", "no_page", "document"]
EXPECT = {
    "blurred": "blurred",
    "dark": "too_dark",
    "glare": "glare",
    "cut_off": "cut_off",
    "no_page": "no_page",
}
VI = Translator("vi")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from drivers.camera.folder import FolderCamera
    from drivers.camera.sim import SimCamera

    photos = tmp_path_factory.mktemp("photos")
    sim = SimCamera(seed=21, width=1600, height=1200, script=list(SCRIPT))
    sim.open()
    for n, kind in enumerate(SCRIPT, 1):
        (photos / f"{n:02d}-{kind}.jpg").write_bytes(sim.capture().jpeg)
    sim.close()
    lk = start_live_kiosk(tmp_path_factory.mktemp("kiosk"), camera=FolderCamera(photos))
    yield lk
    lk.stop()


def tap(page, locator) -> None:
    box = locator.bounding_box()
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def vietnamese(text: str) -> bool:
    return "đ" in text.lower() or any(
        unicodedata.combining(c) for c in unicodedata.normalize("NFD", text)
    )


def test_each_degraded_photo_asks_for_a_retake_in_vietnamese(live, page):
    cat = live.kiosk.catalog
    sign_in(page, live.url)
    page.goto(live.url + "/scan")
    page.wait_for_selector("#live-state")
    assert page.is_hidden(NOTE)
    ids: list[str] = []
    for n, kind in enumerate(SCRIPT[:-1], 1):
        live.press_pedal()
        page.wait_for_function(f"document.querySelectorAll('{THUMBS}').length === {n}")
        new = page.eval_on_selector_all(THUMBS, "els => els.map(e => e.dataset.page)")[-1]
        ids.append(new)
        page.wait_for_function(
            f"(n => {{ const e = document.querySelector('{NOTE}');"
            " return !e.hidden && e.dataset.page === n; })",
            arg=new,
        )
        stored = cat.get_page(new)
        assert stored["state"] == "rejected", (kind, stored["quality"])
        codes = [i["code"] for i in stored["quality"]["issues"] if i["severity"] == "error"]
        assert EXPECT[kind] in codes, (kind, codes)
        text = page.inner_text(NOTE)
        assert f"Trang {n} cần chụp lại" in text, text
        for code in codes:  # the catalog's Vietnamese wording of each reason, on screen
            assert VI._(labels.QUALITY[code]) in text, (kind, code, text)
        assert vietnamese(text)
        for english in ("retake", "page", "found", "dark", "glare", "blurred", "cut"):
            assert english not in text.lower(), (kind, text)
        button = page.locator(f"{NOTE} [data-act='retake']").bounding_box()
        assert button and button["width"] >= 48 and button["height"] >= 48
        finish = page.locator("#finish").bounding_box()  # Finish stays on the screen
        assert finish and finish["y"] + finish["height"] <= 600
        if kind == "dark":
            save_screenshot(page, "03b-scan-retake")

    # one tap on "Chụp lại" takes the next photo (a good page) in place of page 5
    button = page.locator(f"{NOTE} [data-act='retake']")
    assert "Chụp lại" in button.inner_text()
    tap(page, button)
    page.wait_for_selector(NOTE, state="hidden")
    pages = cat.pages(cat.get_page(ids[0])["doc_id"])
    assert len(pages) == 5 and ids[4] not in [p["id"] for p in pages]
    assert pages[-1]["state"] != "rejected"
    assert [p["state"] for p in pages[:4]] == ["rejected"] * 4
    assert page.eval_on_selector_all(THUMBS, "els => els.length") == 5
