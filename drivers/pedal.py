"""Foot pedal: the clerk's hands stay on the pages, the foot captures and finishes.

Semantics (the same for every backend, because the clerk's foot does not know the wiring):

* a short press -> :attr:`PedalEvent.PRESS`, emitted when the pedal is *released*
  (only then do we know it was not the start of a long press);
* holding for ``long_press_s`` -> :attr:`PedalEvent.LONG_PRESS`, emitted once, the moment the
  hold time is reached (the clerk feels the beep and lifts the foot), and *no* PRESS on the
  release that follows;
* contact chatter is not a press: a release followed by a new press within ``bounce_s`` is the
  same press, and a press shorter than ``bounce_s`` is noise on the wire;
* the moment a new press begins -> :attr:`PedalEvent.DOWN`, an early notice and not a
  command: it is followed by PRESS, by LONG_PRESS, or by nothing (noise). The kiosk exposes
  the still then, so the clerk's hold time is not added to the wait for the thumbnail.

Backends:

* :class:`GpioPedal` - a foot switch between a GPIO pin and ground, read through a gpiozero
  :class:`~gpiozero.Button` (pull-up, hardware debounce where the pin library has it,
  ``hold_time``/``when_held`` for the long press). The ``mock`` backend is the same class on
  gpiozero's mock pins, so development exercises the real code.
* :class:`HidPedal` - a USB pedal that types a key, read with evdev (imported lazily: it is an
  optional extra). The device is grabbed so the keystroke never reaches the browser, and it
  may be unplugged and replugged at any time.
* :class:`NullPedal` - no pedal; the touchscreen's capture button is the only trigger.

Handlers run on a driver thread (gpiozero's, or the HID reader); they should hand work to the
capture session quickly rather than do it there.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import logging
import os
import re
import select
import struct
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from gpiozero import Button

from drivers.gpio import DeviceUnavailable, gpio_errors, pin_factory

if TYPE_CHECKING:
    from firmware.config import PedalConfig

__all__ = [
    "GpioPedal",
    "HidPedal",
    "NullPedal",
    "Pedal",
    "PedalEvent",
    "PressClassifier",
    "open_pedal",
]

log = logging.getLogger(__name__)

Handler = Callable[["PedalEvent"], None]


class PedalEvent(enum.Enum):
    DOWN = "down"
    PRESS = "press"
    LONG_PRESS = "long_press"


@runtime_checkable
class Pedal(Protocol):
    def set_handler(self, handler: Callable[[PedalEvent], None]) -> None: ...

    def close(self) -> None: ...

    @property
    def available(self) -> bool: ...


class PressClassifier:
    """Turns timestamped pedal down/up edges into PRESS / LONG_PRESS; no threads, no clock.

    Callers feed edges with their own timestamps (seconds on any monotonic-ish clock) and call
    :meth:`poll` at :meth:`deadline`; every method returns the event to emit, or None. Keeping
    this pure lets the GPIO and HID backends share one definition of "a press", tested with
    synthetic timestamps instead of sleeps.
    """

    def __init__(self, long_press_s: float, bounce_s: float = 0.0) -> None:
        if long_press_s <= bounce_s:
            raise ValueError("long_press_s must be longer than bounce_s")
        self.long_press_s = long_press_s
        self.bounce_s = bounce_s
        self.reset()

    def reset(self) -> None:
        """Forget any press in progress (device lost: better no event than a wrong one)."""
        self._pressed_at: float | None = None
        self._released_at: float | None = None
        self._long_sent = False

    @property
    def pressed(self) -> bool:
        """True while the pedal is down (a chatter gap still counts as down)."""
        return self._pressed_at is not None and self._released_at is None

    def starts_press(self, t: float) -> bool:
        """Whether a down edge at ``t`` begins a new press (not chatter, not a repeat)."""
        if self._pressed_at is None:
            return True
        return self._released_at is not None and t - self._released_at >= self.bounce_s

    def down(self, t: float) -> PedalEvent | None:
        if self._pressed_at is None:
            self._start(t)
            return None
        if self._released_at is None:  # already down (repeated edge): just a clock tick
            return self.poll(t)
        if t - self._released_at < self.bounce_s:  # chatter: still the same press
            self._released_at = None
            return self.poll(t)
        event = self._finish()  # nobody polled the settled release in time
        self._start(t)
        return event

    def up(self, t: float) -> PedalEvent | None:
        if self._pressed_at is None or self._released_at is not None:
            return None  # release without a press (pedal held at start-up, repeated edge)
        self._released_at = t
        return self.poll(t)

    def poll(self, t: float) -> PedalEvent | None:
        """Advance the clock to ``t``: fires the long press or settles a release."""
        if self._pressed_at is None:
            return None
        if self._released_at is None:
            if not self._long_sent and t - self._pressed_at >= self.long_press_s:
                self._long_sent = True
                return PedalEvent.LONG_PRESS
            return None
        if t - self._released_at >= self.bounce_s:
            return self._finish()
        return None

    def deadline(self) -> float | None:
        """When :meth:`poll` should next be called, or None if nothing is pending."""
        if self._pressed_at is None:
            return None
        if self._released_at is not None:
            return self._released_at + self.bounce_s
        if self._long_sent:
            return None
        return self._pressed_at + self.long_press_s

    def _start(self, t: float) -> None:
        self._pressed_at, self._released_at, self._long_sent = t, None, False

    def _finish(self) -> PedalEvent | None:
        assert self._pressed_at is not None and self._released_at is not None
        held = self._released_at - self._pressed_at
        long_sent = self._long_sent
        self.reset()
        if long_sent:
            return None
        if held >= self.long_press_s:  # released just as the hold timer was due
            return PedalEvent.LONG_PRESS
        if held < self.bounce_s:
            return None  # a spike on the wire, not a foot
        return PedalEvent.PRESS


class _Emitter:
    """Holds the handler and calls it so that a bug in the handler cannot kill the driver."""

    def __init__(self) -> None:
        self._handler: Handler | None = None

    def set(self, handler: Handler) -> None:
        self._handler = handler

    def __call__(self, event: PedalEvent | None) -> None:
        handler = self._handler
        if event is None or handler is None:
            return
        try:
            handler(event)
        except Exception:
            log.exception("pedal handler failed on %s", event.value)


class GpioPedal:
    """Foot switch from a GPIO pin to ground, through gpiozero's :class:`~gpiozero.Button`.

    ``bounce_s`` is handed to the pin library (lgpio filters chatter in its own thread) *and*
    applied by :class:`PressClassifier`, because gpiozero's pin libraries differ in what
    ``bounce_time`` means (lgpio: level must be stable; RPi.GPIO/native: edges ignored after
    one; mock pins: nothing), and the clerk must get one capture per press on all of them.
    """

    def __init__(
        self,
        pin: int,
        long_press_s: float = 1.5,
        pin_factory: Any = None,
        *,
        bounce_s: float = 0.03,
    ) -> None:
        self._classifier = PressClassifier(long_press_s, bounce_s)
        self._emit = _Emitter()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False
        with gpio_errors("pedal"):
            self._button = Button(
                pin,
                pull_up=True,
                bounce_time=bounce_s,
                hold_time=long_press_s,
                pin_factory=pin_factory,
            )
        if self._button.is_pressed:
            log.warning("pedal on GPIO%s is pressed at start-up; ignoring until released", pin)
        self._button.when_pressed = self._on_pressed
        self._button.when_released = self._on_released
        self._button.when_held = self._on_held

    @property
    def available(self) -> bool:
        return not self._closed

    @property
    def pin(self) -> Any:
        """The gpiozero pin; with the mock backend, ``pin.drive_low()`` presses the pedal."""
        return self._button.pin

    def set_handler(self, handler: Callable[[PedalEvent], None]) -> None:
        self._emit.set(handler)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._cancel_timer()
            self._classifier.reset()
        self._button.close()

    def _on_pressed(self) -> None:
        self._step(self._classifier.down, down=True)

    def _on_released(self) -> None:
        self._step(self._classifier.up)

    def _on_held(self) -> None:
        self._step(self._classifier.poll)

    def _step(self, edge: Callable[[float], PedalEvent | None], *, down: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            now = time.monotonic()
            begins = down and self._classifier.starts_press(now)
            event = edge(now)
            self._cancel_timer()
            if not self._classifier.pressed:
                # A release waits out the chatter window; Button's hold thread covers the
                # long press while the pedal is down.
                due = self._classifier.deadline()
                if due is not None:
                    self._timer = threading.Timer(max(0.0, due - now), self._on_held)
                    self._timer.daemon = True
                    self._timer.start()
        self._emit(event)  # a previous press settled late comes first
        if begins:
            self._emit(PedalEvent.DOWN)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class NullPedal:
    """No pedal configured: never emits, reports itself unavailable."""

    def set_handler(self, handler: Callable[[PedalEvent], None]) -> None:
        self._handler = handler

    def close(self) -> None:
        pass

    @property
    def available(self) -> bool:
        return False


# EVIOCSCLOCKID = _IOW('E', 0xa0, int): make the device timestamp events on CLOCK_MONOTONIC,
# so a clock step (a Pi has no RTC; NTP steps the clock after boot) cannot turn a tap into
# a long press. python-evdev has no wrapper for it.
_EVIOCSCLOCKID = 0x400445A0
_PEDAL_NAME = re.compile(r"pedal|foot", re.IGNORECASE)


def _import_evdev() -> Any:
    try:
        import evdev
    except ImportError:
        raise DeviceUnavailable(
            "evdev is not installed; install the 'hid' extra (pip install 'sohoa[hid]') "
            "or set pedal.backend = 'gpio', 'mock' or 'none'",
            message_vi="Chưa cài evdev cho bàn đạp USB; hãy cài gói 'sohoa[hid]' "
            "hoặc đặt pedal.backend = 'gpio', 'mock' hoặc 'none'",
        ) from None
    return evdev


class HidPedal:
    """USB foot pedal that presents itself as a keyboard typing ``key`` (evdev).

    A reader thread owns the device: it opens it (``device`` path, or the first input device
    whose name says pedal/foot and that can send ``key``), grabs it so the keystroke does not
    reach Chromium, and classifies key down/up by the kernel's event timestamps. If the
    device vanishes, any press in progress is dropped (no event), :attr:`available` turns
    False, and the thread looks for it again every :attr:`POLL_S` seconds.
    """

    POLL_S = 2.0

    def __init__(self, device: str = "", key: str = "KEY_B", long_press_s: float = 1.5) -> None:
        self._evdev = _import_evdev()
        code = self._evdev.ecodes.ecodes.get(key)
        if not isinstance(code, int) or not key.startswith(("KEY_", "BTN_")):
            raise ValueError(f"pedal.hid_key: unknown key name {key!r} (e.g. 'KEY_B')")
        self.device = device
        self.key = key
        self._code = code
        # HID pedals debounce in their own firmware; a bounce window would only add latency.
        self._classifier = PressClassifier(long_press_s, bounce_s=0.0)
        self._emit = _Emitter()
        self._lock = threading.Lock()
        self._clock_offset = 0.0  # event clock minus time.monotonic(), refreshed per event
        self._available = False
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="hid-pedal", daemon=True)
        self._thread.start()

    @property
    def available(self) -> bool:
        return self._available

    def set_handler(self, handler: Callable[[PedalEvent], None]) -> None:
        self._emit.set(handler)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        if threading.current_thread() is not self._thread:
            self._thread.join()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # -- event logic (fed by the reader thread; tests feed synthetic events) --

    def _handle_event(self, event: Any) -> None:
        """Process one evdev ``InputEvent`` from the pedal."""
        with self._lock:
            self._clock_offset = event.timestamp() - time.monotonic()
            result: PedalEvent | None = None
            begins = False
            if event.type == self._evdev.ecodes.EV_KEY and event.code == self._code:
                if event.value == 1:
                    begins = self._classifier.starts_press(event.timestamp())
                    result = self._classifier.down(event.timestamp())
                elif event.value == 0:
                    result = self._classifier.up(event.timestamp())
                else:  # autorepeat while held: a free clock tick
                    result = self._classifier.poll(event.timestamp())
        self._emit(result)
        if begins:
            self._emit(PedalEvent.DOWN)

    def _handle_tick(self) -> None:
        """No event arrived before the classifier's deadline: advance its clock."""
        with self._lock:
            result = self._classifier.poll(time.monotonic() + self._clock_offset)
        self._emit(result)

    def _device_lost(self) -> None:
        with self._lock:
            self._available = False
            self._classifier.reset()

    def _seconds_to_deadline(self) -> float | None:
        with self._lock:
            due = self._classifier.deadline()
            if due is None:
                return None
            return max(0.0, due - (time.monotonic() + self._clock_offset))

    # -- device handling (reader thread) --

    def _open_device(self) -> Any | None:
        """Find, open and grab the pedal; None if it is not there (yet)."""
        candidates = [self.device] if self.device else self._evdev.list_devices()
        for path in candidates:
            try:
                dev = self._try_open(path)
            except OSError as exc:  # vanished between listing and opening, no permission...
                log.debug("pedal candidate %s: %s", path, exc)
                continue
            if dev is not None:
                log.info("foot pedal: %s (%s), key %s", path, dev.name, self.key)
                return dev
        return None

    def _try_open(self, path: str) -> Any | None:
        evdev = self._evdev
        dev = evdev.InputDevice(path)
        try:
            keys = dev.capabilities().get(evdev.ecodes.EV_KEY, [])
            # Without an explicit path only a device that calls itself a pedal is taken:
            # grabbing the maintenance keyboard instead would be far worse than no pedal.
            if self._code not in keys or not (self.device or _PEDAL_NAME.search(dev.name)):
                dev.close()
                return None
            try:
                dev.grab()
            except OSError as exc:
                log.warning("pedal %s (%s) is grabbed by another program: %s", path, dev.name, exc)
                dev.close()
                return None
            # Old kernels refuse: realtime stamps are still fine between down and up.
            with contextlib.suppress(OSError):
                fcntl.ioctl(dev.fd, _EVIOCSCLOCKID, struct.pack("i", time.CLOCK_MONOTONIC))
        except BaseException:
            dev.close()
            raise
        return dev

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                dev = self._open_device()
            except Exception:  # a driver thread that dies silently is a dead pedal
                log.exception("foot pedal: looking for the device failed")
                dev = None
            if dev is None or not self._serve(dev):
                self._stop.wait(self.POLL_S)

    def _serve(self, dev: Any) -> bool:
        """Read ``dev`` until it goes away; False if it failed in a way worth a pause."""
        with self._lock:
            self._available = True
        try:
            self._read(dev)
            return True
        except OSError as exc:
            log.warning("foot pedal %s disconnected: %s", dev.path, exc)
            return True
        except Exception:
            log.exception("foot pedal reader failed; reopening")
            return False
        finally:
            self._device_lost()
            with contextlib.suppress(OSError):
                dev.close()

    def _read(self, dev: Any) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([dev.fd, self._wake_r], [], [], self._seconds_to_deadline())
            if dev.fd in ready:
                try:
                    for event in dev.read():
                        self._handle_event(event)
                except BlockingIOError:
                    pass
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EINTR):
                        raise
            self._handle_tick()


def open_pedal(cfg: PedalConfig) -> Pedal:
    """The pedal selected by ``cfg.backend`` (gpio | mock | hid | none)."""
    if cfg.backend == "none":
        return NullPedal()
    if cfg.backend == "hid":
        return HidPedal(cfg.hid_device, cfg.hid_key, cfg.long_press_s)
    return GpioPedal(cfg.pin, cfg.long_press_s, pin_factory=pin_factory(cfg.backend))
