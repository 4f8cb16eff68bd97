"""Pedal press -> thumbnail on screen, through the real browser (budget: 0.5 s).

Starts the kiosk (sim camera at 1600x1200, gpiozero mock pedal) with its UI on loopback in
this process, opens the scan screen in headless Debian Chromium (never a downloaded
browser), presses the pedal on the mock pin N times and reads, in the page, when each new
page's thumbnail finished loading. Also the first contentful paint of the home screen
(budget: 1 s). Prints a table.

    .venv/bin/python bench/ui_latency.py [--presses 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "e2e")]

from uikit import CHROMIUM, CHROMIUM_ARGS, SCREEN, sign_in, start_live_kiosk  # noqa: E402

from firmware.config import Settings  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presses", type=int, default=10)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        live = start_live_kiosk(Path(tmp), ocr_workers=Settings().ocr.workers)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                page = browser.new_context(viewport=SCREEN, bypass_csp=True).new_page()
                sign_in(page, live.url)
                paints = []
                for _ in range(5):
                    page.goto(live.url + "/")
                    page.wait_for_function(
                        "performance.getEntriesByName('first-contentful-paint').length > 0"
                    )
                    paints.append(
                        page.evaluate(
                            "performance.getEntriesByName('first-contentful-paint')[0].startTime"
                        )
                        / 1000
                    )
                page.goto(live.url + "/scan")
                page.wait_for_selector("#live[data-tone='ok']")
                latencies, server = [], []
                events = live.kiosk.events.subscribe()
                for n in range(1, args.presses + 1):
                    time.sleep(0.6)  # the clerk turns the page
                    pressed = time.time()
                    live.press_pedal()
                    page.wait_for_function(
                        f"document.querySelectorAll('#thumbs .thumb').length === {n}"
                    )
                    page_id = page.eval_on_selector_all(
                        "#thumbs .thumb", "els => els[els.length - 1].dataset.page"
                    )
                    page.wait_for_function(
                        f"window.sohoaThumbShown && window.sohoaThumbShown[{page_id!r}]"
                    )
                    shown = page.evaluate(f"window.sohoaThumbShown[{page_id!r}]") / 1000
                    latencies.append(shown - pressed)
                    while True:  # when the kiosk core announced that page (no browser)
                        ev = events.get(timeout=10)
                        if ev["kind"] == "page" and ev.get("page_id") == page_id and "seq" in ev:
                            server.append(ev["ts"] - pressed)
                            break
                browser.close()
        finally:
            live.stop()

    def row(name: str, values: list[float], budget: float) -> str:
        med, worst = statistics.median(values), max(values)
        verdict = "ok" if worst <= budget else "OVER"
        return f"| {name:<32} | {len(values):>2} | {med:6.3f} | {worst:6.3f} | {budget:5.2f} | {verdict:<4} |"

    print("| measure (seconds)                | n  | median |    max | budget | ok?  |")
    print("|----------------------------------|----|--------|--------|--------|------|")
    print(row("pedal press -> thumbnail shown", latencies, 0.5))
    print(row("  of which: press -> core event", server, 0.5))
    print(row("home screen first paint", paints, 1.0))
    print("  the pedal press includes the 30 ms debounce and release of the mock pin")
    print("  each press, in order: " + " ".join(f"{v:.2f}" for v in latencies))
    return 0


if __name__ == "__main__":
    sys.exit(main())
