"""Build the configured devices; a device that cannot open is reported, not fatal.

The kiosk must come up even with the pedal unplugged or the camera missing: the clerk sees
the problem on the status bar and IT sees it in ``sohoa doctor``, instead of a service
stuck in a restart loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from firmware.config import Settings

log = logging.getLogger("sohoa.devices")


@dataclass
class Devices:
    camera: Any | None = None
    pedal: Any | None = None
    leds: Any | None = None
    scanner: Any | None = None
    problems: dict[str, str] = field(default_factory=dict)


def open_devices(settings: Settings) -> Devices:
    devs = Devices()
    if settings.camera.backend != "none":
        try:
            from drivers.camera import open_camera

            devs.camera = open_camera(settings.camera)
        except Exception as exc:
            devs.problems["camera"] = str(exc)
            log.error("camera: %s", exc)
    if settings.pedal.backend != "none":
        try:
            from drivers.pedal import open_pedal

            devs.pedal = open_pedal(settings.pedal)
        except Exception as exc:
            devs.problems["pedal"] = str(exc)
            log.error("pedal: %s", exc)
    if settings.leds.backend != "none":
        try:
            from drivers.leds import open_leds

            devs.leds = open_leds(settings.leds)
        except Exception as exc:
            devs.problems["leds"] = str(exc)
            log.error("leds: %s", exc)
    if settings.scanner.enabled:
        try:
            devs.scanner = open_scanner(settings)
        except Exception as exc:
            devs.problems["scanner"] = str(exc)
            log.error("scanner: %s", exc)
    return devs


def open_scanner(settings: Settings) -> Any:
    """The configured SANE scanner (by device name, model, or the only one present)."""
    from drivers.scanner import SaneScanner, ScanSettings, list_scanners, pick_scanner

    cfg = settings.scanner
    device = cfg.device or pick_scanner(list_scanners(), cfg.model).name
    return SaneScanner(
        device,
        ScanSettings(
            source=cfg.source, dpi=cfg.dpi, mode=cfg.mode, paper=cfg.paper, timeout_s=cfg.timeout_s
        ),
    )


def watch_scanners(
    kiosk: Any, settings: Settings, *, lister: Any = None, interval_s: float = 5.0
) -> Any:
    """Follow scanners as they are plugged and unplugged, and hand the kiosk the one the
    configuration names (or the first one when none is named). Returns the started
    watcher (``stop()`` it at shutdown)."""
    from drivers.scanner import SaneScanner, ScannerWatcher, ScanSettings

    cfg = settings.scanner

    def wanted(info: Any) -> bool:
        if cfg.device:
            return info.name == cfg.device
        if cfg.model:
            return cfg.model.lower() in info.model.lower()
        return not str(info.type).lower().startswith(("video", "webcam", "still camera"))

    def added(info: Any) -> None:
        if kiosk.scanner is None and wanted(info):
            kiosk.scanner = SaneScanner(
                info.name,
                ScanSettings(
                    source=cfg.source,
                    dpi=cfg.dpi,
                    mode=cfg.mode,
                    paper=cfg.paper,
                    timeout_s=cfg.timeout_s,
                ),
            )
            kiosk.catalog.audit(
                "system",
                "scanner.added",
                None,
                None,
                device=info.name,
                model=f"{info.vendor} {info.model}",
            )
            kiosk.events.publish("device", device="scanner", available=True, name=info.name)

    def removed(name: str) -> None:
        current = kiosk.scanner
        if current is not None and getattr(current, "device", None) == name:
            # Record first: once the scanner is gone from the kiosk, the state is visible.
            kiosk.catalog.audit("system", "scanner.removed", None, None, device=name)
            if kiosk.capture_source == "scanner" and kiosk.camera is not None:
                kiosk.capture_source = "camera"
            kiosk.scanner = None
            kiosk.events.publish("device", device="scanner", available=False, name=name)

    watcher = ScannerWatcher(added, removed, interval_s=interval_s, lister=lister)
    watcher.start()
    return watcher
