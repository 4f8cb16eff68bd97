"""What the kiosk tells the clerk besides the screen's own pages: the status LEDs, the
buzzer, and the last error (kept for the status bar and published as an ``error`` event).

One small class so every part of the core (capture, cover sheets, sealing) signals the same
way, and a missing or failing LED board never stops a capture: the light is a courtesy, the
page is the work.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from firmware.errors import KioskError
from firmware.events import EventBus, EventKind

if TYPE_CHECKING:  # the drivers import their hardware libraries (gpiozero) when loaded
    from drivers.leds import Leds


class Indicators:
    """The LEDs and buzzer (either may be absent) and the last error shown."""

    def __init__(self, leds: Leds | None, events: EventBus):
        self.leds = leds
        self.events = events
        self.last_error: KioskError | None = None

    def show(self, status: str) -> None:
        """Light the LED pattern of ``status`` (ready, busy, attention, error...)."""
        if self.leds is None:
            return
        with contextlib.suppress(Exception):
            from drivers.leds import Status  # gpiozero is loaded only with real LEDs

            self.leds.show(Status(status))

    def beep(self, kind: str) -> None:
        """Sound ``kind`` ("ok", "error") on the buzzer, if there is one."""
        if self.leds is not None:
            with contextlib.suppress(Exception):
                self.leds.beep(kind)

    def report(self, err: KioskError) -> None:
        """An error the clerk must see: kept as the last error, red light, ``error`` event."""
        self.last_error = err
        self.show("error")
        self.events.publish(EventKind.ERROR, **err.to_dict())
