"""The touchscreen during an application update, in Debian Chromium: while the agent's update
journal says the kiosk is switching to a new release or trying it out, every screen (the
sign-in screen too) is covered by "Đang cập nhật phần mềm… Vui lòng không tắt máy" with the
step it is at; once the release is committed the notice goes and the pedal scans again.

The journal is written by the updater's own :class:`JournalFile` (with the agent's state dir,
as ``build_updater`` makes it), and the kiosk side is the service's own status publisher,
which turns a change into the screens' ``update`` event."""

from __future__ import annotations

import queue
from typing import Any

import pytest

from firmware.fleet.link import agent_state_dir, update_state_path
from firmware.service import start_status_file
from provisioning.agent.updates.duty import updates_dir
from provisioning.agent.updates.journal import JournalFile, UpdateJournal
from tests.support.ui import requires_browser, save_screenshot, sign_in

pytestmark = [pytest.mark.integration, requires_browser]
THUMBS = "#thumbs .thumb"
NOTICE = "#update-screen"


def test_the_update_notice_covers_the_screen_while_switching_and_goes_on_commit(live, page):
    settings = live.kiosk.settings
    state_dir = agent_state_dir(settings)
    journal = JournalFile(updates_dir(settings), shared_dir=state_dir)
    publisher = start_status_file(live.kiosk, live.exports)
    try:
        sign_in(page, live.url)
        page.click("#go-scan")
        page.wait_for_url(live.url + "/scan")
        page.wait_for_selector("#live[data-tone='ok']")
        j = journal.step(UpdateJournal(), "download", version="0.2.0", previous="0.1.0")
        j = journal.step(j, "install")
        assert page.locator(NOTICE).is_hidden()  # downloading and installing: scanning goes on
        live.press_pedal()
        page.wait_for_function(f"document.querySelectorAll('{THUMBS}').length === 1")

        j = journal.step(j, "switch")
        page.wait_for_selector(NOTICE, state="visible")
        text = page.inner_text(NOTICE)
        assert "Đang cập nhật phần mềm…" in text and "Vui lòng không tắt máy" in text
        assert "0.1.0 → 0.2.0" in text
        page.wait_for_selector(f"{NOTICE} li[data-step=switch][data-state=now]")
        assert page.locator(f"{NOTICE} li[data-step=rollback]").is_hidden()
        box = page.locator(NOTICE).bounding_box()
        assert box is not None and (box["width"], box["height"]) == (1024, 600)  # full screen
        # a foot on the pedal under the notice captures nothing (the clerk cannot see it)
        events = live.kiosk.events.subscribe()
        live.press_pedal()
        refused = _next_error(events)
        live.kiosk.events.unsubscribe(events)
        assert refused["code"] == "updating" and "Đang cập nhật phần mềm" in refused["message_vi"]
        assert _pages(live) == 1

        j = journal.step(j, "trial", attempts=1)
        page.wait_for_selector(f"{NOTICE} li[data-step=trial][data-state=now]")
        save_screenshot(page, "update")
        assert page.get_attribute(f"{NOTICE} li[data-step=switch]", "data-state") == "done"
        # a screen opened meanwhile (the sign-in screen, no event stream) says so too
        other = page.context.new_page()
        other.goto(live.url + "/signin")
        other.wait_for_selector(NOTICE, state="visible")
        assert "Đang cập nhật phần mềm…" in other.inner_text(NOTICE)

        j = journal.step(j, "commit", outcome="committed")
        page.wait_for_selector(NOTICE, state="hidden")
        other.wait_for_selector(NOTICE, state="hidden")
        live.press_pedal()  # scanning resumes where the clerk was
        page.wait_for_function(f"document.querySelectorAll('{THUMBS}').length === 2")
        assert _pages(live) == 2

        # a failed trial: the switch back is shown, then the notice goes
        j = journal.step(j, "switch", version="0.3.0", previous="0.2.0", outcome=None)
        page.wait_for_selector(NOTICE, state="visible")
        journal.step(j, "rollback", outcome="rolled_back", reason="self-test failed")
        page.wait_for_selector(f"{NOTICE} li[data-step=rollback][data-state=now]")
        journal.step(j, "done")
        page.wait_for_selector(NOTICE, state="hidden")
        other.close()
    finally:
        publisher.stop()
        update_state_path(state_dir).unlink(missing_ok=True)


def _next_error(events: queue.Queue[dict[str, Any]]) -> dict[str, Any]:
    """The next ``error`` event the kiosk published (the pedal's answer)."""
    while True:
        event = events.get(timeout=20)
        if event["kind"] == "error":
            return event


def _pages(live: Any) -> int:
    """Pages really in the catalog (not what the screen shows)."""
    return live.kiosk.catalog.db.execute("SELECT COUNT(*) FROM pages").fetchone()[0]
