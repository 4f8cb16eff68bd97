"""Status light and buzzer: what the kiosk says to a clerk who is looking at the paper.

One RGB LED (common cathode, PWM on each channel, gpiozero :class:`~gpiozero.RGBLED`) speaks
a two-part language that fits on a card taped to the kiosk: the *colour* says who it is
about (green: the kiosk, amber: you, red: a fault, blue: the USB stick), the *movement* says
whether to wait (steady: settled, breathing or blinking: something is happening).

LED language (copy into the clerk's manual):

==========================  =========================================  =============================  ==================
Đèn / Light                 Ý nghĩa                                    Meaning                        Status
==========================  =========================================  =============================  ==================
Xanh lá, sáng đứng          Sẵn sàng: đạp bàn đạp để chụp trang        Ready: press the pedal         ``ready``
Xanh lá, sáng mờ dần (thở)  Đang xử lý... xin chờ                      Busy: please wait              ``busy``
Vàng cam, nháy 1 lần/giây   Cần chú ý: xem màn hình                    Attention: look at the screen  ``attention``
Đỏ, nháy nhanh              Có lỗi: xem màn hình, báo cán bộ kỹ thuật  Error: see the screen          ``error``
Xanh dương, nháy rất nhanh  Đang ghi USB: KHÔNG rút USB                USB writing: do not remove     ``usb-writing``
Xanh dương, sáng đứng       Có thể rút USB an toàn                     Safe to remove the USB         ``safe-to-remove``
Tắt                         Máy tắt hoặc đang khởi động                Off or starting up             ``off``
==========================  =========================================  =============================  ==================

Còi / Buzzer: một tiếng bíp ngắn = đã chụp trang (page captured); hai tiếng bíp dài = có lỗi
(error).

"Do not remove" is blue and *moving* while "safe to remove" is blue and *still*: the clerk
learns one rule (blue blinking: hands off the stick) and it is never confused with red,
which means something went wrong rather than "wait".
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from gpiozero import RGBLED, Buzzer

from drivers.gpio import gpio_errors, pin_factory

if TYPE_CHECKING:
    from firmware.config import LedsConfig

__all__ = [
    "BEEPS",
    "Leds",
    "PATTERNS",
    "NullLeds",
    "Pattern",
    "Status",
    "StatusLeds",
    "open_leds",
]

RGB = tuple[float, float, float]

BLACK: RGB = (0.0, 0.0, 0.0)
GREEN: RGB = (0.0, 1.0, 0.0)
# Half green: on a common RGB LED the green die is much brighter than the red one, so
# "red + half green" reads as amber rather than yellow-green.
AMBER: RGB = (1.0, 0.5, 0.0)
RED: RGB = (1.0, 0.0, 0.0)
BLUE: RGB = (0.0, 0.0, 1.0)


class Status(enum.Enum):
    READY = "ready"
    BUSY = "busy"
    ATTENTION = "attention"
    ERROR = "error"
    USB_WRITING = "usb-writing"
    SAFE_TO_REMOVE = "safe-to-remove"
    OFF = "off"


@dataclass(frozen=True)
class Pattern:
    """How the LED shows one status. For ``blink``, ``on_s``/``off_s`` are lit/dark times;
    for ``pulse`` they are the fade-in/fade-out times; ``steady`` ignores them."""

    color: RGB
    motion: Literal["steady", "blink", "pulse"] = "steady"
    on_s: float = 0.0
    off_s: float = 0.0


PATTERNS: dict[Status, Pattern] = {
    Status.READY: Pattern(GREEN),
    Status.BUSY: Pattern(GREEN, "pulse", 1.0, 1.0),
    Status.ATTENTION: Pattern(AMBER, "blink", 0.5, 0.5),
    Status.ERROR: Pattern(RED, "blink", 0.15, 0.15),
    Status.USB_WRITING: Pattern(BLUE, "blink", 0.08, 0.08),
    Status.SAFE_TO_REMOVE: Pattern(BLUE),
    Status.OFF: Pattern(BLACK),
}

# kind -> (on seconds, off seconds, count)
BEEPS: dict[str, tuple[float, float, int]] = {
    "ok": (0.08, 0.05, 1),
    "error": (0.4, 0.25, 2),
}


def _check_beep(kind: str) -> tuple[float, float, int]:
    try:
        return BEEPS[kind]
    except KeyError:
        raise ValueError(f"unknown beep {kind!r}; expected one of {sorted(BEEPS)}") from None


@runtime_checkable
class Leds(Protocol):
    """What the kiosk needs from a status light (:class:`StatusLeds`, :class:`NullLeds`)."""

    @property
    def status(self) -> Status: ...

    def show(self, status: Status) -> None: ...

    def beep(self, kind: str = "ok") -> None: ...

    def close(self) -> None: ...


class StatusLeds:
    """The RGB status LED (and optional active buzzer) on GPIO pins, via gpiozero.

    Safe to call from several threads. Showing the status already shown does nothing, so
    callers may re-assert the status freely without restarting (visibly jerking) a blink.
    After :meth:`close` the pins are released and :meth:`show` only records the status:
    during shutdown other threads may still report, and that must not crash them.
    """

    def __init__(
        self,
        red_pin: int,
        green_pin: int,
        blue_pin: int,
        pin_factory: Any = None,
        buzzer_pin: int | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._status = Status.OFF
        self._closed = False
        with gpio_errors("leds"):
            self._rgb = RGBLED(
                red_pin, green_pin, blue_pin, active_high=True, pwm=True, pin_factory=pin_factory
            )
            try:
                self._buzzer = (
                    None if buzzer_pin is None else Buzzer(buzzer_pin, pin_factory=pin_factory)
                )
            except BaseException:
                self._rgb.close()
                raise

    @property
    def status(self) -> Status:
        return self._status

    def show(self, status: Status) -> None:
        status = Status(status)
        with self._lock:
            if status is self._status or self._closed:
                self._status = status
                return
            pattern = PATTERNS[status]
            if pattern.motion == "blink":
                self._rgb.blink(pattern.on_s, pattern.off_s, on_color=pattern.color)
            elif pattern.motion == "pulse":
                self._rgb.pulse(pattern.on_s, pattern.off_s, on_color=pattern.color)
            else:
                self._rgb.color = pattern.color  # also stops a running blink
            self._status = status

    def beep(self, kind: str = "ok") -> None:
        """Sound the buzzer in the background: ``ok`` one short beep, ``error`` two long."""
        on_s, off_s, count = _check_beep(kind)
        with self._lock:
            if self._buzzer is None or self._closed:
                return
            self._buzzer.beep(on_s, off_s, n=count, background=True)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._rgb.close()
            if self._buzzer is not None:
                self._buzzer.close()
            self._status = Status.OFF


class NullLeds:
    """No status light: remembers the status (the UI mirrors it on screen) and is silent."""

    def __init__(self) -> None:
        self._status = Status.OFF

    @property
    def status(self) -> Status:
        return self._status

    def show(self, status: Status) -> None:
        self._status = Status(status)

    def beep(self, kind: str = "ok") -> None:
        _check_beep(kind)  # same contract as the real one, so typos surface in development

    def close(self) -> None:
        pass


def open_leds(cfg: LedsConfig) -> StatusLeds | NullLeds:
    """The status light selected by ``cfg.backend`` (gpio | mock | none)."""
    if cfg.backend == "none":
        return NullLeds()
    return StatusLeds(
        cfg.red_pin,
        cfg.green_pin,
        cfg.blue_pin,
        pin_factory=pin_factory(cfg.backend),
        buzzer_pin=cfg.buzzer_pin,
    )
