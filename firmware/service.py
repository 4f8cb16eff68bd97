"""The long-running kiosk service: devices, recovery, processing pool and the UI server.

systemd runs it as ``Type=notify`` with a watchdog: READY=1 is sent once recovery is done
and the UI listens, and WATCHDOG=1 every few seconds while the process is healthy. Without
systemd (development, ``sohoa demo``) those calls do nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from typing import Any

from firmware.capture.devices import open_devices
from firmware.config import Settings
from firmware.events import EventKind
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
    from firmware.store.operators import ensure_demo_operators

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
    kiosk.seal(
        doc["id"],
        "demo",
        title="Báo cáo công tác bảo vệ bí mật nhà nước (mẫu, Mật)",
        level="mat",
        source="demo",
    )
    camera = kiosk.camera
    if camera is not None and hasattr(camera, "new_document"):
        camera.new_document()
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
        on_change=lambda change: kiosk.events.publish(EventKind.UPLINK, **change),
    )
    kiosk.uplink = worker
    return worker.start()


def start_exports(kiosk: Kiosk) -> Any:
    """The export desk: USB hot-plug reaches the UI, exports run in the background, and
    exported documents are purged when their retention runs out (now, then hourly)."""
    from firmware.export.desk import ExportService

    return ExportService.for_kiosk(kiosk).start()


def start_status_file(kiosk: Kiosk, exports: Any) -> Any:
    """The kiosk's side of the local interface with the fleet agent
    (:mod:`firmware.fleet.kiosk_side`): the status file, the take-over of the agent's audit
    records, the answers to its doctor requests, and the update's state as screen events."""
    from firmware.events import EventKind
    from firmware.fleet.kiosk_side import status_publisher
    from firmware.fleet.link import kiosk_health

    def exporting() -> bool:
        job = exports.job()
        return job is not None and job.running

    def update_moved(state: dict[str, Any]) -> None:
        kiosk.hold_for_update(bool(state.get("switching")))
        kiosk.events.publish(
            EventKind.UPDATE,
            step=str(state.get("step") or ""),
            version=state.get("version"),
            previous=state.get("previous"),
            outcome=state.get("outcome"),
            switching=bool(state.get("switching")),
        )

    return status_publisher(
        lambda: kiosk.settings,
        kiosk.catalog,
        lambda: kiosk_health(kiosk, lambda: len(exports.pending()), exporting),
        on_update=update_moved,
    ).start()


#: After SIGTERM, requests still open after this long are cancelled (systemd's
#: TimeoutStopSec is 20 s; the event streams end at once, so this is only a backstop).
GRACEFUL_STOP_S = 3


def serve_until_stopped(app: Any, kiosk: Kiosk, host: str, port: int) -> None:
    """uvicorn until SIGTERM/SIGINT. On the signal the event bus closes first, so the
    browsers' event streams end and uvicorn's graceful shutdown does not wait for them
    (with a tab open, SIGTERM did nothing for 30 s or more, issue 16)."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # off the signal handler: close() takes the bus lock a thread may hold
            threading.Thread(target=kiosk.events.close, daemon=True).start()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=GRACEFUL_STOP_S
    )
    # uvicorn re-raises the signal it caught once it has shut down, which with the default
    # handler kills the process before the caller's clean-up (OCR pool, catalog) runs:
    # the handler it restores and re-raises into only notes the stop.
    previous = signal.signal(signal.SIGTERM, lambda *_: log.info("stopping on SIGTERM"))
    try:
        Server(config).run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_service(settings: Settings, demo: bool = False) -> int:
    kiosk, problems = build_kiosk(settings)
    from firmware.fleet.config import ConfigWatcher

    # The signed fleet configuration the agent applied, now and whenever it changes.
    fleet_config = ConfigWatcher(kiosk, settings).start()
    for dev, problem in problems.items():
        kiosk.catalog.audit("system", "device.unavailable", device=dev, error=problem)
    kiosk.start()
    kiosk.warm_up()
    if demo:
        from firmware.demo.export import prepare

        print(prepare(settings.data_dir, settings.kiosk_id), flush=True)
    exports = start_exports(kiosk)
    status_file = start_status_file(kiosk, exports)
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
        from firmware.capture.devices import watch_scanners

        scanner_watch = watch_scanners(kiosk, settings)
    demo_hub = demo_agent = None
    if demo:  # a hub in the demo process, so ordinary documents are delivered for real
        from firmware.demo.hub import start_for_demo

        demo_hub, hub_line = start_for_demo(kiosk)
        print(hub_line, flush=True)
        if demo_hub is not None:
            from firmware.demo.fleet import start_fleet

            demo_agent, fleet_line = start_fleet(kiosk, demo_hub)
            print(fleet_line, flush=True)
    if demo:
        # Seeded before the screen is served: seeding in the background raced the first
        # clerk (the Scan screen took the seeded document as its own, issue 16). And before
        # the uplink starts: the seeding links its sealed documents to register entries,
        # which a document already delivered may no longer change (the demo stopped there).
        print("Đang chuẩn bị dữ liệu mẫu / preparing the demo data...", flush=True)
        seed_demo(kiosk)
        kiosk.current_doc_id = None  # the seeding's last document is not the clerk's
    uplink = start_uplink(kiosk)
    url = f"http://{settings.ui.host}:{settings.ui.port}/"
    print(f"Sohoa kiosk {'demo ' if demo else ''}running: {url}", flush=True)
    sd_notify("READY=1")
    try:
        if app is not None:
            serve_until_stopped(app, kiosk, settings.ui.host, settings.ui.port)
        else:
            threading.Event().wait()
    finally:
        stop.set()
        if scanner_watch is not None:
            scanner_watch.stop()
        uplink.stop()
        if demo_agent is not None:
            demo_agent.stop()
        if demo_hub is not None:
            demo_hub.stop()
        exports.stop()
        status_file.stop()
        fleet_config.stop()
        sd_notify("STOPPING=1")
        kiosk.stop()
    return 0
