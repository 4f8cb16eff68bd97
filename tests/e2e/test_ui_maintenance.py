"""The maintainer acts from the maintenance screen, by touch, each action audited (issue 16:
"the maintainer can look but not act"): unlock a locked-out clerk, a new PIN, disable an
account, add an operator without typing a code or PIN, run the checks again."""

from __future__ import annotations

import pytest

from firmware.errors import KioskError
from tests.support.ui import requires_browser, sign_in

pytestmark = [pytest.mark.integration, requires_browser]


def tap(page, selector: str) -> None:
    loc = page.locator(selector).first
    loc.scroll_into_view_if_needed()
    box = loc.bounding_box()
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def audited(live, action: str) -> list[dict]:
    return [
        r
        for r in live.kiosk.catalog.audit_records()
        if r["action"] == action and r["actor"] == "9001"
    ]


def test_maintainer_unlocks_resets_disables_adds_and_rechecks(live, page):
    ops = live.app.state.ui.operators
    for _ in range(ops.max_failures):  # the clerk locks herself out
        with pytest.raises(KioskError):
            ops.authenticate("1001", "0000")
    assert ops.get("1001").locked_until
    sign_in(page, live.url, "9001", "9999")
    page.goto(live.url + "/maintenance")
    assert "Kỹ thuật viên" in page.inner_text("#operators")  # roles in words
    assert page.inner_text("#about")  # version, hub, queue

    tap(page, "#operators li[data-code='1001'] [data-op-act='unlock']")
    page.wait_for_selector("#operators li[data-code='1001']:not([data-locked='1'])")
    assert not ops.get("1001").locked_until
    assert audited(live, "operator.unlock")[-1]["details"]["code"] == "1001"

    tap(page, "#operators li[data-code='1001'] [data-op-act='reset-pin']")
    page.wait_for_selector("#pin-shown:not([hidden])")
    pin = page.inner_text("#pin-value")
    assert ops.authenticate("1001", pin).code == "1001"  # the PIN shown really works
    assert audited(live, "operator.reset_pin")
    assert pin not in str(audited(live, "operator.reset_pin"))  # the PIN is not logged
    tap(page, "#pin-ok")
    page.wait_for_load_state("load")

    page.on("dialog", lambda d: d.accept())
    tap(page, "#operators li[data-code='2001'] [data-op-act='disable']")
    page.wait_for_selector("#operators li[data-code='2001'][data-disabled='1']")
    assert ops.get("2001").disabled
    with pytest.raises(KioskError):
        ops.authenticate("2001", "2468")

    tap(page, "#op-name")
    page.wait_for_selector("#osk:not([hidden])")
    for ch in "lan":
        page.click(f"#osk [data-k='{ch}']")
    page.click("#osk [data-k='done']")
    tap(page, "#add-operator button[type=submit]")
    page.wait_for_selector("#pin-shown:not([hidden])")
    code, pin = page.inner_text("#pin-code"), page.inner_text("#pin-value")
    assert ops.authenticate(code, pin).name == "lan"
    assert audited(live, "operator.add")
    tap(page, "#pin-ok")
    page.wait_for_load_state("load")

    tap(page, "#rerun-checks")
    page.wait_for_function("() => !document.querySelector('#rerun-checks').disabled")
    page.wait_for_timeout(300)
    assert audited(live, "maintenance.checks")
    assert "Kiểm tra" in page.inner_text("main")
