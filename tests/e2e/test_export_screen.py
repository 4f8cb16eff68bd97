"""Secure USB export on the touchscreen, in Chromium: an archivist signs in, opens Export,
finds the confidential documents preselected, plugs the (simulated) registered stick,
exports, follows each file's progress to "Có thể rút USB an toàn", and the files on the
stick open with the receiving office's ``openssl cms -decrypt``. A stranger's stick and a
stick that is also a keyboard are refused in Vietnamese, with the Export button disabled."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from drivers.usb.sim import SimStick, create_stick
from firmware.demo import export as demo_export
from tests.e2e.test_ui_screens import LAYOUT_JS
from tests.support import export as sup
from tests.support.ui import requires_browser, save_screenshot, sign_in, start_live_kiosk

pytestmark = [pytest.mark.integration, requires_browser]

TITLES = [
    "Báo cáo công tác bảo vệ bí mật nhà nước quý III năm 2025",
    "Nghị quyết về nhân sự Ban Chấp hành nhiệm kỳ 2025-2030",
]


@pytest.fixture(scope="module")
def live_export(tmp_path_factory):
    """A live kiosk configured as ``sohoa demo`` configures export, with two sealed
    confidential documents and one ordinary one."""
    tmp = tmp_path_factory.mktemp("export-kiosk")
    demo_export.prepare(tmp)
    lk = start_live_kiosk(tmp, export=demo_export.export_overrides(tmp))
    k = lk.kiosk
    docs = [
        sup.make_sealed(k.paths, k.catalog, level="mat", title=TITLES[0], size=400_000),
        sup.make_sealed(k.paths, k.catalog, level="toi_mat", title=TITLES[1], size=250_000),
    ]
    sup.make_sealed(k.paths, k.catalog, level="thuong", title="Công văn thường")
    yield lk, docs, tmp
    lk.stop()


def demo_stick(tmp: Path, name: str = demo_export.REGISTERED) -> SimStick:
    return SimStick(demo_export.sim_dir(tmp) / f"{name}.usb.json")


def test_archivist_exports_to_the_registered_stick(live_export, page):
    lk, docs, tmp = live_export
    sign_in(page, lk.url, "2001", "2468")
    page.click("#go-export")
    page.wait_for_url(lk.url + "/export")
    rows = page.locator("#export-docs li")
    assert rows.count() == 2  # the ordinary document is not offered
    assert page.eval_on_selector_all(
        "#export-docs input[name=doc]", "els => els.map(e => [e.value, e.checked])"
    ) == [[d["id"], True] for d in docs]
    assert TITLES[0] in page.inner_text("#export-docs")
    assert page.inner_text("#stick-title") == "Chưa cắm USB"
    assert page.is_disabled("#export-start")
    # Every state the rows go through is recorded, so the per-file progress can be checked.
    page.evaluate(
        """() => {
        window.sohoaRowStates = [];
        const seen = (li) => window.sohoaRowStates.push([li.dataset.doc, li.dataset.state]);
        new MutationObserver((ms) => ms.forEach((m) => seen(m.target)))
          .observe(document.querySelector('#export-docs'),
                   {subtree: true, attributes: true, attributeFilter: ['data-state']});
    }"""
    )
    page.click("[data-sim='registered']")
    page.wait_for_selector("#stick[data-status='ready']")
    assert "Sẵn sàng xuất 2 tài liệu" in page.inner_text("#stick-msg")
    page.wait_for_selector("#st-usb[data-state='present']", timeout=10000)
    # A stick writing ~300 KB/s: slow enough to watch the bars move.
    demo_stick(tmp).set_faults(slow_bytes_per_s=300_000)
    # said before the export: the local copies go once the stick was read back (issue 16)
    assert "xóa ngay" in page.inner_text("#retention-note")
    page.click("#export-start")
    page.wait_for_selector("#donotremove:not([hidden])")
    assert page.inner_text("#donotremove") == "Không rút USB"
    page.wait_for_selector("#safe:not([hidden])", timeout=60000)
    assert page.inner_text("#safe") == "Có thể rút USB an toàn"
    states = page.eval_on_selector_all(
        "#export-docs li", "els => els.map(e => [e.dataset.doc, e.dataset.state])"
    )
    assert states == [[d["id"], "verified"] for d in docs]
    seen = page.evaluate("window.sohoaRowStates")
    for d in docs:
        mine = [s for doc, s in seen if doc == d["id"]]
        assert "writing" in mine and mine[-1] == "verified", mine
    assert page.inner_text("#export-docs li >> nth=0").count("Đã xuất") == 1
    page.wait_for_selector("#st-usb[data-state='safe']", timeout=10000)
    layout = page.evaluate(LAYOUT_JS)
    assert layout["scrollWidth"] <= layout["innerWidth"], layout
    assert not layout["small"], layout["small"]
    save_screenshot(page, "export")
    # The receiving office opens the files with openssl and the demo office's key.
    key, _ = demo_export.recipient_paths(tmp)
    (folder,) = list(demo_stick(tmp).root.glob("sohoa-export-*"))
    for d in docs:
        res = subprocess.run(
            ["openssl", "cms", "-decrypt", "-binary", "-inform", "DER"]
            + ["-in", str(folder / f"{d['id']}.p7m"), "-inkey", str(key)],
            capture_output=True,
        )
        assert res.returncode == 0, res.stderr.decode()
        assert d["pdf_bytes"] in res.stdout  # the ZIP holds the PDF stored, byte for byte
    assert [lk.kiosk.catalog.get_document(d["id"])["state"] for d in docs] == ["purged"] * 2
    # Pulling the stick out (the hand-over is checked on the document's page below): the screen starts over, nothing left to export.
    page.click("[data-sim='none']")
    page.wait_for_selector("#export-empty")
    page.wait_for_selector("#st-usb[data-state='none']", timeout=10000)
    # The document says where it went: exported to USB (not "sent"), handed over to whom,
    # on which stick, when and by whom (issue 16).
    page.goto(lk.url + f"/documents/{docs[0]['id']}")
    assert page.inner_text("#doc-state") == "Đã xuất ra USB, đã xóa bản tại máy"
    handover = page.inner_text("#handover")
    assert demo_export.ALLOWED_STICK["serial"] in handover and "Trần Văn Minh" in handover


def test_unknown_and_composite_sticks_are_refused_in_vietnamese(live_export, page):
    lk, _, tmp = live_export
    k = lk.kiosk
    sup.make_sealed(k.paths, k.catalog, level="mat", title="Tờ trình mật")
    sign_in(page, lk.url, "2001", "2468")
    page.goto(lk.url + "/export")
    page.click("[data-sim='unregistered']")
    page.wait_for_selector("#stick[data-status='unauthorized']")
    assert page.inner_text("#stick-title") == "USB chưa được đăng ký"
    assert "chưa được đăng ký để xuất tài liệu mật" in page.inner_text("#stick-msg")
    assert page.is_disabled("#export-start")
    page.wait_for_selector("#st-usb[data-state='refused']", timeout=10000)
    page.click("[data-sim='none']")
    page.wait_for_selector("#stick[data-status='no_device']")
    # A "stick" that is also a keyboard, plugged by hand: the hot-plug reaches the screen.
    bad = create_stick(
        demo_export.sim_dir(tmp),
        "badusb",
        vid="0781",
        pid="5581",
        serial=demo_export.ALLOWED_STICK["serial"],  # a copied serial does not help it
        interfaces=["08:06:50", "03:01:01"],
    )
    try:
        page.wait_for_selector("#stick[data-reason='foreign_interface']", timeout=10000)
        assert "bàn phím/chuột (HID)" in page.inner_text("#stick-msg")
        assert page.is_disabled("#export-start")
    finally:
        bad.unplug()
    page.wait_for_selector("#stick[data-status='no_device']", timeout=10000)
