"""What a page shows in the thumbnails and the large view, by touch (issue 16): a rejected
frame shows its picture (not a broken image), a page the clerk kept is no longer marked
"!", a finished page does not say "Processing...", and the live view's guidance is in
Vietnamese."""

from __future__ import annotations

import pytest

from tests.support.ui import requires_browser, sign_in, start_live_kiosk

pytestmark = [pytest.mark.integration, requires_browser]

THUMBS = "#thumbs .thumb"
LOADED = "i => i.complete && i.naturalWidth > 0"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from drivers.camera.sim import SimCamera

    camera = SimCamera(seed=5, width=1600, height=1200, script=["no_page", "blurred"])
    lk = start_live_kiosk(tmp_path_factory.mktemp("kiosk"), camera=camera)
    yield lk
    lk.stop()


def tap(page, locator) -> None:
    box = locator.bounding_box()
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def open_page(page, n: int) -> None:
    tap(page, page.locator(THUMBS).nth(n))
    page.wait_for_selector("#viewer:not([hidden])")


def close_viewer(page) -> None:
    tap(page, page.locator("#viewer [data-act='close']"))
    page.wait_for_selector("#viewer", state="hidden")


def test_rejected_kept_and_finished_pages_show_what_they_are(live, page):
    cat = live.kiosk.catalog
    sign_in(page, live.url)
    page.goto(live.url + "/scan")
    # the camera sees no page: the guidance is the catalog's Vietnamese
    page.wait_for_function(
        "document.querySelector('#live-state').textContent.includes('Không tìm thấy trang')"
    )
    for n in (1, 2, 3):  # no page, blurred, a good page
        live.press_pedal()
        page.wait_for_function(f"document.querySelectorAll('{THUMBS}').length === {n}")
    ids = page.eval_on_selector_all(THUMBS, "els => els.map(e => e.dataset.page)")
    assert [cat.get_page(i)["state"] for i in ids[:2]] == ["rejected", "rejected"]
    assert not cat.get_page(ids[0]).get("preview_path")  # no page found: no preview made

    # the rejected frame: its picture, in the thumbnail and in the large view
    page.wait_for_function(f"(({LOADED}))(document.querySelectorAll('{THUMBS} img')[0])")
    open_page(page, 0)
    page.wait_for_function(f"(({LOADED}))(document.querySelector('#viewer-img'))")
    assert "Không tìm thấy trang" in page.inner_text("#viewer-issues")
    close_viewer(page)

    # keep the blurred page: once processed it is kept, not "!"
    open_page(page, 1)
    tap(page, page.locator("#viewer [data-act='accept']"))
    page.wait_for_selector("#viewer [data-act='accept']", state="hidden")
    close_viewer(page)
    live.kiosk.wait_idle(240)
    assert cat.get_page(ids[1])["state"] == "done"
    assert cat.get_page(ids[2])["state"] == "done"
    page.reload()
    page.wait_for_function(f"document.querySelectorAll('{THUMBS}').length === 3")
    badges = page.eval_on_selector_all(f"{THUMBS} .badge", "els => els.map(e => e.textContent)")
    assert badges == ["!", "✓", "✓"]
    # a finished page says nothing about processing
    for n in (1, 2):
        open_page(page, n)
        assert "Đang xử lý" not in page.inner_text("#viewer-issues")
        close_viewer(page)
