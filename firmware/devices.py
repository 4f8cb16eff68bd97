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
