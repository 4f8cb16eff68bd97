"""Fixtures of the browser tests: a live kiosk per module, one Chromium per session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.ui import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREEN,
    LiveKiosk,
    have_browser,
    start_live_kiosk,
)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveKiosk]:
    lk = start_live_kiosk(tmp_path_factory.mktemp("kiosk"))
    yield lk
    lk.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not have_browser():
        pytest.skip("needs Debian chromium and the playwright package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


# Counts the screen's fetches in flight, so a test can wait for "the screen has loaded what it
# shows" (see tests.support.ui.wait_screen_settled) instead of sleeping a fixed time.
COUNT_FETCHES_JS = """(() => {
  let inflight = 0;
  const fetch0 = window.fetch;
  window.__sohoaInflight = () => inflight;
  window.fetch = (...args) => { inflight++; return fetch0(...args).finally(() => { inflight--; }); };
})();"""


@pytest.fixture
def page(browser) -> Iterator[Any]:
    ctx = browser.new_context(viewport=SCREEN, locale="vi-VN", has_touch=True, bypass_csp=True)
    ctx.set_default_timeout(15000)
    ctx.add_init_script(COUNT_FETCHES_JS)
    pg = ctx.new_page()
    yield pg
    ctx.close()
