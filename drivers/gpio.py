"""GPIO plumbing shared by the pedal and LED drivers: pin factory choice and clear errors.

gpiozero picks its pin library (lgpio on a Pi 5 / Bookworm) the first time a device is made.
On a machine without GPIO that fails deep inside gpiozero with ``BadPinFactory`` after a
string of ``PinFactoryFallback`` warnings; provincial IT staff read the journal, so
:func:`gpio_errors` turns that (and "pin in use", "no such pin") into one
:class:`DeviceUnavailable` sentence that names the setting to change.

The ``mock`` factory is a single shared :class:`~gpiozero.pins.mock.MockFactory` with PWM
pins, so the pedal, the RGB LED (which needs PWM) and a demo page that "presses" the pedal
all see the same simulated pins.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from gpiozero import exc as gz_exc
from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory, MockPWMPin

__all__ = ["DeviceUnavailable", "gpio_errors", "pin_factory"]

_mock_factory: MockFactory | None = None
_mock_lock = threading.Lock()


class DeviceUnavailable(RuntimeError):
    """The configured hardware backend cannot work on this machine (a fixable setting).

    ``str(exc)`` is English for the journal; ``message_vi`` is the same in Vietnamese for the
    touchscreen; ``reasons`` lists what gpiozero tried (e.g. ``lgpio: No module named
    'lgpio'``), which tells a broken install on a real Pi apart from a PC without GPIO.
    """

    def __init__(self, message: str, *, message_vi: str = "", reasons: tuple[str, ...] = ()):
        super().__init__(message)
        self.message_vi = message_vi or message
        self.reasons = reasons


def pin_factory(kind: str) -> Factory | None:
    """Pin factory for a ``backend`` setting: ``"gpio"`` -> None (gpiozero's default, lgpio
    on a Pi), ``"mock"`` -> the process-wide shared ``MockFactory(pin_class=MockPWMPin)``."""
    global _mock_factory
    if kind == "gpio":
        return None
    if kind == "mock":
        with _mock_lock:
            if _mock_factory is None:
                _mock_factory = MockFactory(pin_class=MockPWMPin)
            return _mock_factory
    raise ValueError(f"unknown pin factory kind {kind!r}; expected 'gpio' or 'mock'")


@contextmanager
def gpio_errors(section: str) -> Iterator[None]:
    """Run gpiozero device construction, translating "no GPIO here" into DeviceUnavailable.

    ``section`` is the configuration section (``"pedal"``, ``"leds"``) named in the message.
    The fallback warnings are collected instead of printed: they become ``reasons``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", gz_exc.PinFactoryFallback)
        try:
            yield
        except gz_exc.BadPinFactory:
            reasons = tuple(
                str(w.message).removeprefix("Falling back from ")
                for w in caught
                if issubclass(w.category, gz_exc.PinFactoryFallback)
            )
            message = (
                f"GPIO not available on this machine; set {section}.backend = 'mock' or 'none'"
            )
            if reasons:
                message += f" (tried {'; '.join(reasons)})"
            raise DeviceUnavailable(
                message,
                message_vi=(
                    f"Máy này không có GPIO; hãy đặt {section}.backend = 'mock' hoặc 'none'"
                ),
                reasons=reasons,
            ) from None
        except gz_exc.GPIOPinInUse as exc:
            raise DeviceUnavailable(
                f"{section}: {exc} (is another Sohoa process running?)",
                message_vi=f"{section}: chân GPIO đang được thiết bị khác sử dụng ({exc})",
            ) from None
        except (gz_exc.PinInvalidPin, gz_exc.PinPWMUnsupported) as exc:
            raise DeviceUnavailable(
                f"{section}: {exc}; check the {section} pin settings (BCM numbering)",
                message_vi=f"{section}: chân GPIO không hợp lệ ({exc}); kiểm tra cấu hình",
            ) from None
    for w in caught:  # warnings that were not about the factory: let them through
        if not issubclass(w.category, gz_exc.PinFactoryFallback):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
