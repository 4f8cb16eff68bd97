"""The screens' ES modules load under the kiosk's real Content-Security-Policy (issue #13).

The other browser tests bypass the CSP (they inject helpers); here Chromium enforces it, as
on the kiosk: every screen's module graph loads from 'self' (no inline script), nothing
throws, and the screen's own start ran (the keypad types, the live view reports).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.ui import SCREEN, requires_browser, sign_in
from tests.support.wait import wait_for

pytestmark = [pytest.mark.integration, requires_browser]

# (who signs in, screen path, a selector only the screen's own module makes appear)
SCREENS = [
    ("1001", "1234", "/", None),
    ("1001", "1234", "/scan", "#live[data-tone]"),
    ("1001", "1234", "/documents", None),
    ("1001", "1234", "/progress", None),
    ("2001", "2468", "/export", None),
    ("9001", "9999", "/maintenance", None),
]


@pytest.fixture
def strict_page(browser) -> Iterator[tuple[Any, list[str]]]:
    """A page with the CSP enforced, collecting uncaught errors and CSP reports."""
    ctx = browser.new_context(viewport=SCREEN, locale="vi-VN", has_touch=True)
    ctx.set_default_timeout(15000)
    pg = ctx.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"error: {exc}"))
    pg.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield pg, problems
    ctx.close()


def modules_ran(page: Any) -> bool:
    """main.js imports every module statically: one that fails to load runs none of them."""
    return page.evaluate("typeof window.sohoaToneWord === 'function'")


def test_signin_keypad_runs_under_the_csp(live, strict_page):
    page, problems = strict_page
    response = page.goto(live.url + "/signin")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1]
    page.wait_for_load_state("load")
    assert modules_ran(page)
    page.click("#keypad [data-key='1']")
    page.click("#keypad [data-key='0']")
    assert page.inner_text("#code-value") == "10"  # the sign-in module's own handler
    assert problems == []


@pytest.mark.parametrize(("code", "pin", "path", "marker"), SCREENS)
def test_each_screen_loads_its_modules_under_the_csp(live, strict_page, code, pin, path, marker):
    page, problems = strict_page
    sign_in(page, live.url, code, pin)
    page.goto(live.url + path)
    page.wait_for_load_state("load")
    assert modules_ran(page)
    if marker:
        page.wait_for_selector(marker)
    # The status bar's module asked /status and wrote the free space. Polled from here:
    # page.wait_for_function polls with eval inside the page, which this very CSP forbids.
    assert wait_for(
        lambda: page.evaluate(
            "(document.querySelector('#st-disk b')?.textContent || '').includes('GB')"
        ),
        timeout=15,
    ), page.inner_text("#st-disk")
    assert problems == []
