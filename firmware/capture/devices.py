"""Build the configured devices; a device that cannot open is reported, not fatal.

The kiosk must come up even with the pedal unplugged or the camera missing: the clerk sees
the problem on the status bar and IT sees it in ``sohoa doctor``, instead of a service
stuck in a restart loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from firmware.config import Settings
from firmware.events import EventKind

if TYPE_CHECKING:  # the drivers import their hardware libraries (gpiozero) when loaded
    from drivers.camera.base import Camera
    from drivers.leds import Leds
    from drivers.pedal import Pedal
    from drivers.scanner import SaneScanner, ScannerWatcher, ScanSettings
    from drivers.scanner.base import Scanner

log = logging.getLogger("sohoa.devices")


@dataclass
class Devices:
    camera: Camera | None = None
    pedal: Pedal | None = None
    leds: Leds | None = None
    scanner: Scanner | None = None
    problems: dict[str, str] = field(default_factory=dict)


def _camera(s: Settings) -> Camera:
    from drivers.camera import open_camera

    return open_camera(s.camera)


def _pedal(s: Settings) -> Pedal:
    from drivers.pedal import open_pedal

    return open_pedal(s.pedal)


def _leds(s: Settings) -> Leds:
    from drivers.leds import open_leds

    return open_leds(s.leds)


def open_devices(settings: Settings) -> Devices:
    devs = Devices()
    wanted = {
        "camera": (settings.camera.backend != "none", _camera),
        "pedal": (settings.pedal.backend != "none", _pedal),
        "leds": (settings.leds.backend != "none", _leds),
        "scanner": (settings.scanner.enabled, open_scanner),
    }
    for name, (enabled, opener) in wanted.items():
        if not enabled:
            continue
        try:
            setattr(devs, name, opener(settings))
        except Exception as exc:
            devs.problems[name] = str(exc)
            log.error("%s: %s", name, exc)
    return devs


def scan_settings(settings: Settings, **override: Any) -> ScanSettings:
    """The driver's scan settings from the ``[scanner]`` section (the one translation)."""
    from drivers.scanner import ScanSettings

    cfg = settings.scanner
    values: dict[str, Any] = dict(
        source=cfg.source, dpi=cfg.dpi, mode=cfg.mode, paper=cfg.paper, timeout_s=cfg.timeout_s
    )
    values.update(override)
    return ScanSettings(**values)


def open_scanner(settings: Settings) -> SaneScanner:
    """The configured SANE scanner (by device name, model, or the only one present)."""
    from drivers.scanner import SaneScanner, list_scanners, pick_scanner

    cfg = settings.scanner
    device = cfg.device or pick_scanner(list_scanners(), cfg.model).name
    return SaneScanner(device, scan_settings(settings))


def watch_scanners(
    kiosk: Any, settings: Settings, *, lister: Any = None, interval_s: float = 5.0
) -> ScannerWatcher:
    """Follow scanners as they are plugged and unplugged, and hand the kiosk the one the
    configuration names (or the first one when none is named). Returns the started
    watcher (``stop()`` it at shutdown)."""
    from drivers.scanner import SaneScanner, ScannerWatcher

    cfg = settings.scanner

    def wanted(info: Any) -> bool:
        if cfg.device:
            return info.name == cfg.device
        if cfg.model:
            return cfg.model.lower() in info.model.lower()
        return not str(info.type).lower().startswith(("video", "webcam", "still camera"))

    def added(info: Any) -> None:
        if kiosk.scanner is None and wanted(info):
            kiosk.scanner = SaneScanner(info.name, scan_settings(settings))
            kiosk.catalog.audit(
                "system",
                "scanner.added",
                None,
                None,
                device=info.name,
                model=f"{info.vendor} {info.model}",
            )
            kiosk.events.publish(EventKind.DEVICE, device="scanner", available=True, name=info.name)

    def removed(name: str) -> None:
        current = kiosk.scanner
        if current is not None and getattr(current, "device", None) == name:
            # Record first: once the scanner is gone from the kiosk, the state is visible.
            kiosk.catalog.audit("system", "scanner.removed", None, None, device=name)
            if kiosk.capture_source == "scanner" and kiosk.camera is not None:
                kiosk.capture_source = "camera"
            kiosk.scanner = None
            kiosk.events.publish(EventKind.DEVICE, device="scanner", available=False, name=name)

    watcher = ScannerWatcher(added, removed, interval_s=interval_s, lister=lister)
    watcher.start()
    return watcher
