"""End-to-end helpers: the real kiosk (sim camera, gpiozero mock pedal and LEDs) served by
uvicorn on loopback in a thread of the test process, driven by Debian's Chromium.

The server runs in-process so a test can press the pedal on the kiosk's MockFactory pin.
Playwright launches /usr/bin/chromium (apt-get install chromium); it never downloads a
browser. Tests skip when Chromium or Playwright is missing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREEN = {"width": 1024, "height": 600}
SCREENS_DIR = ROOT / "docs" / "screens"
# Pins away from the defaults, so a pedal or LED left open by another test cannot clash.
PEDAL_PIN = 27
LED_PINS = {"red_pin": 5, "green_pin": 6, "blue_pin": 13, "buzzer_pin": 19}

OPERATORS = [
    ("1001", "Nguyễn Thị Lan", "operator", "1234"),
    ("2001", "Trần Văn Minh", "archivist", "2468"),
    ("9001", "Lê Quốc Hùng", "maintainer", "9999"),
]


def have_browser() -> bool:
    if not Path(CHROMIUM).exists():
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


requires_browser = pytest.mark.skipif(
    not have_browser(), reason="needs Debian chromium and the playwright package"
)


@dataclass
class LiveKiosk:
    kiosk: Any
    app: Any
    url: str
    server: Any
    thread: threading.Thread
    exports: Any = None

    def press_pedal(self, hold_s: float = 0.08) -> None:
        pin = self.kiosk.pedal.pin
        pin.drive_low()
        time.sleep(hold_s)
        pin.drive_high()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        if self.exports is not None:
            self.exports.stop()
        self.kiosk.stop()


def start_live_kiosk(
    tmp: Path,
    *,
    seed: int = 3,
    export: dict[str, Any] | None = None,
    ocr_workers: int = 2,
    camera: Any = None,
    signing: dict[str, Any] | None = None,
    **options: Any,
) -> LiveKiosk:
    """``export``: ``[export]`` settings; the export desk watches its simulated sticks.
    ``ocr_workers``: 2 lets the tests finish sooner; benchmarks use the product's 1.
    ``camera``: another camera (e.g. a scripted SimCamera) instead of the default one."""
    import uvicorn

    from drivers.camera.sim import SimCamera
    from drivers.leds import open_leds
    from drivers.pedal import open_pedal
    from drivers.usb.sim import SimBackend
    from firmware.config import load_settings
    from firmware.export.desk import ExportService
    from firmware.kiosk import Kiosk
    from kiosk_ui.app import create_app
    from kiosk_ui.context import UiOptions

    settings = load_settings(
        None,
        data_dir=str(tmp),
        pedal={"backend": "mock", "pin": PEDAL_PIN},
        leds={"backend": "mock", **LED_PINS},
        ocr={"workers": ocr_workers},
        **({"export": export} if export else {}),
        **({"signing": signing} if signing else {}),
    )
    kiosk = Kiosk(
        settings,
        camera=camera or SimCamera(seed=seed, width=1600, height=1200),
        pedal=open_pedal(settings.pedal),
        leds=open_leds(settings.leds),
    )
    kiosk.start()
    kiosk.warm_up()  # as the service does
    exports = ExportService.for_kiosk(kiosk)
    if exports.exporter.config.backend == "sim":  # hot-plug seen within 0.1 s
        exports.exporter.backend = SimBackend(exports.exporter.sim_dir, poll_s=0.1)
    exports.start()
    app = create_app(kiosk, UiOptions(**options), exports=exports)
    ops = app.state.ui.operators
    for code, name, role, pin in OPERATORS:
        ops.add(code, name, role, pin, "test")
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return LiveKiosk(kiosk, app, f"http://127.0.0.1:{port}", server, thread, exports)


def sign_in(page: Any, base: str, code: str = "1001", pin: str = "1234") -> None:
    page.goto(base + "/signin")
    for ch in code:
        page.click(f"#keypad [data-key='{ch}']")
    page.click("#signin-next")
    for ch in pin:
        page.click(f"#keypad [data-key='{ch}']")
    page.click("#signin-next")
    page.wait_for_url(base + "/")


def save_screenshot(page: Any, name: str, *, full_page: bool = False) -> Path | None:
    """Screenshots go to docs/screens when UPDATE_SCREENSHOTS=1 (else a temp check only)."""
    import os

    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        page.screenshot(full_page=full_page)
        return None
    SCREENS_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENS_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def wait_screen_settled(page: Any) -> None:
    """Wait until the screen has loaded and no fetch of its own is in flight.

    Needs the fetch counter the e2e ``page`` fixture installs. A fetch chained on another's
    answer starts in the same task as that answer, so no check can fall between the two.
    """
    page.wait_for_load_state("load")
    page.wait_for_function(
        "() => document.readyState === 'complete' && window.__sohoaInflight"
        " && window.__sohoaInflight() === 0"
    )
