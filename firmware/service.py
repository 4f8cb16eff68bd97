"""The long-running kiosk service: devices, recovery, processing pool and the UI server.

systemd runs it as ``Type=notify`` with a watchdog: READY=1 is sent once recovery is done
and the UI listens, and WATCHDOG=1 every few seconds while the process is healthy. Without
systemd (development, ``sohoa demo``) those calls do nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from firmware.config import Settings
from firmware.devices import open_devices
from firmware.kiosk import Kiosk

log = logging.getLogger("sohoa.service")


def sd_notify(message: str) -> None:
    """Tiny sd_notify(3): a datagram to $NOTIFY_SOCKET, nothing when not under systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(addr)
            sock.sendall(message.encode())
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)


def _watchdog(stop: threading.Event) -> None:
    usec = int(os.environ.get("WATCHDOG_USEC", "0"))
    if not usec:
        return
    interval = usec / 1e6 / 3
    while not stop.wait(interval):
        sd_notify("WATCHDOG=1")


def seed_demo(kiosk: Kiosk, documents: int = 2, pages: int = 2) -> None:
    """Fill an empty demo catalog with a few sealed documents from the sim camera."""
    from firmware.operators import ensure_demo_operators

    print(ensure_demo_operators(kiosk.catalog), flush=True)
    if kiosk.catalog.list_documents(limit=1) or kiosk.camera is None:
        return
    for i in range(documents):
        doc = kiosk.new_document("demo")
        for _ in range(pages):
            kiosk.capture("demo", doc["id"])
        kiosk.finish(doc["id"], "demo")
        kiosk.wait_idle()
        if kiosk.catalog.get_document(doc["id"])["state"] == "review":
            kiosk.seal(doc["id"], "demo", title=f"Tài liệu mẫu số {i + 1}")
        if hasattr(kiosk.camera, "new_document"):
            kiosk.camera.new_document()
    seed_confidential(kiosk, pages)
    from firmware.register.demo import seed_demo_register

    seed_demo_register(kiosk)


def seed_confidential(kiosk: Kiosk, pages: int = 2) -> str | None:
    """One sealed "Mật" document for the demo's secure USB export (classified before it is
    sealed, as a clerk does on the review screen); returns its id."""
    doc = kiosk.new_document("demo")
    for _ in range(pages):
        kiosk.capture("demo", doc["id"])
    kiosk.finish(doc["id"], "demo")
    kiosk.wait_idle()
    if kiosk.catalog.get_document(doc["id"])["state"] != "review":
        return None
    kiosk.catalog.update_document(doc["id"], "demo", "document.classify", confidentiality="mat")
    kiosk.seal(
        doc["id"],
        "demo",
        title="Báo cáo công tác bảo vệ bí mật nhà nước (mẫu, Mật)",
        metadata={"confidentiality": "mat"},
    )
    if hasattr(kiosk.camera, "new_document"):
        kiosk.camera.new_document()
    return doc["id"]


def build_kiosk(settings: Settings) -> tuple[Kiosk, dict[str, str]]:
    devs = open_devices(settings)
    kiosk = Kiosk(
        settings, camera=devs.camera, pedal=devs.pedal, leds=devs.leds, scanner=devs.scanner
    )
    return kiosk, devs.problems


def start_uplink(kiosk: Kiosk) -> Any:
    """The background uploader of the outbox, its state published on the event bus."""
    from firmware.uplink.worker import UplinkWorker

    worker = UplinkWorker(
        kiosk.catalog,
        kiosk.paths,
        kiosk.settings,
        on_change=lambda change: kiosk.events.publish("uplink", **change),
    )
    kiosk.uplink = worker
    return worker.start()


def start_exports(kiosk: Kiosk) -> Any:
    """The export desk: USB hot-plug reaches the UI, exports run in the background, and
    exported documents are purged when their retention runs out (now, then hourly)."""
    from firmware.export_service import ExportService

    return ExportService.for_kiosk(kiosk).start()


def run_service(settings: Settings, demo: bool = False) -> int:
    import uvicorn

    kiosk, problems = build_kiosk(settings)
    for dev, problem in problems.items():
        kiosk.catalog.audit("system", "device.unavailable", device=dev, error=problem)
    kiosk.start()
    kiosk.warm_up()
    if demo:
        from firmware.demo_export import prepare

        print(prepare(settings.data_dir), flush=True)
    exports = start_exports(kiosk)
    app: Any
    try:
        from kiosk_ui.app import create_app

        app = create_app(kiosk, exports=exports)
    except ImportError as exc:  # the core runs without the UI package (headless kiosks)
        log.warning("kiosk_ui not available (%s); serving nothing but the pedal", exc)
        app = None
    stop = threading.Event()
    threading.Thread(target=_watchdog, args=(stop,), daemon=True).start()
    scanner_watch = None
    if settings.scanner.enabled:
        from firmware.devices import watch_scanners

        scanner_watch = watch_scanners(kiosk, settings)
    demo_hub = None
    if demo:  # a hub in the demo process, so ordinary documents are delivered for real
        from firmware.demo_hub import start_for_demo

        demo_hub, hub_line = start_for_demo(kiosk)
        print(hub_line, flush=True)
    uplink = start_uplink(kiosk)
    if demo:
        threading.Thread(target=seed_demo, args=(kiosk,), daemon=True).start()
    url = f"http://{settings.ui.host}:{settings.ui.port}/"
    print(f"Sohoa kiosk {'demo ' if demo else ''}running: {url}", flush=True)
    sd_notify("READY=1")
    try:
        if app is not None:
            uvicorn.run(app, host=settings.ui.host, port=settings.ui.port, log_level="warning")
        else:
            threading.Event().wait()
    finally:
        stop.set()
        if scanner_watch is not None:
            scanner_watch.stop()
        uplink.stop()
        if demo_hub is not None:
            demo_hub.stop()
        exports.stop()
        sd_notify("STOPPING=1")
        kiosk.stop()
    return 0
