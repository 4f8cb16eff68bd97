"""Pedal semantics: one event per press, PRESS vs LONG_PRESS, chatter, unplugging.

The GPIO pedal runs real gpiozero code on gpiozero's mock pins; the HID pedal runs its real
reader thread against a stand-in for the evdev module (there is no /dev/uinput here).
"""

from __future__ import annotations

import errno
import os
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.exc import PinFactoryFallback
from gpiozero.pins.mock import MockFactory, MockPWMPin

from drivers.gpio import DeviceUnavailable, pin_factory
from drivers.pedal import (
    GpioPedal,
    HidPedal,
    NullPedal,
    Pedal,
    PedalEvent,
    PressClassifier,
    open_pedal,
)
from firmware.config import PedalConfig
from tests.support.wait import wait_for

try:
    import evdev
    from evdev import ecodes
except ImportError:  # the optional 'hid' extra
    evdev = ecodes = None

needs_evdev = pytest.mark.skipif(evdev is None, reason="evdev not installed (extra 'hid')")

DOWN, PRESS, LONG = PedalEvent.DOWN, PedalEvent.PRESS, PedalEvent.LONG_PRESS
WAIT_S = 5.0  # generous upper bound for something that should happen; never a measurement


class Recorder:
    """Pedal handler that lets a test wait for events instead of sleeping a guessed time.

    ``events`` are the commands (PRESS, LONG_PRESS); ``seen`` is everything, with the DOWN
    notices that precede them.
    """

    def __init__(self) -> None:
        self.events: list[PedalEvent] = []
        self.seen: list[PedalEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: PedalEvent) -> None:
        with self._cond:
            self.seen.append(event)
            if event is not DOWN:
                self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, count: int) -> list[PedalEvent]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.events) >= count, timeout=WAIT_S)
            return list(self.events)

    def after_quiet(self, seconds: float) -> list[PedalEvent]:
        """Events after ``seconds`` in which any stray late event would have arrived."""
        time.sleep(seconds)
        with self._cond:
            return list(self.events)


# ---------------------------------------------------------------- the classifier itself


def test_short_press_is_reported_once_the_release_has_settled() -> None:
    c = PressClassifier(long_press_s=1.5, bounce_s=0.03)
    assert c.down(10.0) is None
    assert c.up(10.2) is None  # might still be chatter
    assert c.deadline() == pytest.approx(10.23)
    assert c.poll(10.22) is None
    assert c.poll(10.23) is PRESS
    assert c.poll(11.0) is None
    assert c.deadline() is None


def test_without_bounce_window_the_release_reports_at_once() -> None:
    c = PressClassifier(long_press_s=1.5)
    c.down(0.0)
    assert c.up(0.1) is PRESS


def test_long_press_fires_once_at_the_hold_time_and_release_adds_nothing() -> None:
    c = PressClassifier(long_press_s=1.5, bounce_s=0.03)
    c.down(0.0)
    assert c.deadline() == pytest.approx(1.5)
    assert c.poll(1.49) is None
    assert c.poll(1.5) is LONG
    assert c.poll(2.5) is None
    assert c.deadline() is None
    assert c.up(3.0) is None
    assert c.poll(4.0) is None


def test_chatter_on_press_and_release_is_one_press() -> None:
    c = PressClassifier(long_press_s=1.5, bounce_s=0.03)
    edges = [(c.down, 0.000), (c.up, 0.004), (c.down, 0.009), (c.up, 0.015), (c.down, 0.02)]
    edges += [(c.up, 0.4), (c.down, 0.41), (c.up, 0.42)]
    results = [edge(t) for edge, t in edges]
    results.append(c.poll(0.5))
    assert [r for r in results if r is not None] == [PRESS]


def test_spike_shorter_than_bounce_is_not_a_press() -> None:
    c = PressClassifier(long_press_s=1.5, bounce_s=0.03)
    c.down(5.0)
    c.up(5.01)
    assert c.poll(6.0) is None


def test_release_exactly_at_hold_time_before_any_poll_is_a_long_press() -> None:
    c = PressClassifier(long_press_s=1.5, bounce_s=0.03)
    c.down(0.0)
    c.up(1.6)  # the hold timer had not fired yet
    assert c.poll(1.7) is LONG


def test_next_press_flushes_an_unpolled_release() -> None:
    c = PressClassifier(long_press_s=1.5, bounce_s=0.03)
    c.down(0.0)
    c.up(0.2)
    assert c.down(1.0) is PRESS  # the first press, reported late rather than lost
    assert c.pressed
    c.up(1.3)
    assert c.poll(1.4) is PRESS


def test_starts_press_tells_a_new_press_from_chatter_and_repeats() -> None:
    c = PressClassifier(long_press_s=1.5, bounce_s=0.03)
    assert c.starts_press(0.0)
    c.down(0.0)
    assert not c.starts_press(0.01)  # a repeated down edge while held
    c.up(0.2)
    assert not c.starts_press(0.21)  # chatter: the same press
    assert c.starts_press(0.5)  # the release settled: a new press (the old one flushed)


def test_release_without_press_and_reset_drop_silently() -> None:
    c = PressClassifier(long_press_s=1.5, bounce_s=0.03)
    assert c.up(1.0) is None  # pedal held at start-up, then released
    c.down(2.0)
    c.reset()  # device lost mid-press
    assert c.poll(9.0) is None
    assert c.up(9.1) is None


def test_long_press_must_exceed_bounce() -> None:
    with pytest.raises(ValueError):
        PressClassifier(long_press_s=0.02, bounce_s=0.03)


# ---------------------------------------------------------------- GPIO pedal on mock pins


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


def make_pedal(factory: MockFactory, **kwargs: float) -> tuple[GpioPedal, Recorder, object]:
    # Short presses get a long hold time so a stalled test thread cannot turn a tap into a
    # hold; tests about holding pass a short one.
    options = {"long_press_s": 1.0, "bounce_s": 0.1} | kwargs
    pedal = GpioPedal(17, options.pop("long_press_s"), pin_factory=factory, **options)
    recorder = Recorder()
    pedal.set_handler(recorder)
    return pedal, recorder, factory.pin(17)


def test_gpio_pedal_is_a_pedal_with_pull_up(factory: MockFactory) -> None:
    pedal, _, pin = make_pedal(factory)
    assert isinstance(pedal, Pedal)
    assert pedal.available
    assert pin.pull == "up" and pin.state  # open switch reads high
    assert pedal.pin is pin
    pedal.close()


def test_gpio_short_press_gives_one_press(factory: MockFactory) -> None:
    pedal, rec, pin = make_pedal(factory, long_press_s=0.5)
    pin.drive_low()
    time.sleep(0.12)  # a foot tap: longer than bounce, shorter than the hold time
    pin.drive_high()
    assert rec.wait_for(1) == [PRESS]
    assert rec.after_quiet(0.4) == [PRESS]  # no long press trails it
    assert rec.seen == [DOWN, PRESS]  # the notice came as the foot went down
    pedal.close()


def test_gpio_down_notice_comes_while_the_pedal_is_still_down(factory: MockFactory) -> None:
    pedal, rec, pin = make_pedal(factory, long_press_s=0.5)
    pin.drive_low()
    assert wait_for(lambda: rec.seen == [DOWN], WAIT_S, 0.01)
    assert not pin.state and rec.events == []  # held: no command yet
    time.sleep(0.12)  # longer than the bounce window
    pin.drive_high()
    assert rec.wait_for(1) == [PRESS]
    pedal.close()


def test_gpio_long_hold_gives_long_press_while_held_and_nothing_on_release(
    factory: MockFactory,
) -> None:
    pedal, rec, pin = make_pedal(factory, long_press_s=0.3)
    pin.drive_low()
    assert rec.wait_for(1) == [LONG]  # fired by the hold itself, pedal still down
    assert not pin.state
    time.sleep(0.2)
    pin.drive_high()
    assert rec.after_quiet(0.3) == [LONG]
    assert rec.seen == [DOWN, LONG]
    pedal.close()


def test_gpio_chatter_within_bounce_time_is_one_press(factory: MockFactory) -> None:
    pedal, rec, pin = make_pedal(factory, bounce_s=0.2)
    for _ in range(3):  # contact bounce as the foot goes down
        pin.drive_low()
        pin.drive_high()
    pin.drive_low()
    time.sleep(0.25)
    for _ in range(3):  # and as it comes up
        pin.drive_high()
        pin.drive_low()
    pin.drive_high()
    assert rec.wait_for(1) == [PRESS]
    assert rec.after_quiet(0.7) == [PRESS]
    assert rec.seen == [DOWN, PRESS]  # chatter gives no second notice
    pedal.close()


def test_gpio_spike_is_not_a_press(factory: MockFactory) -> None:
    pedal, rec, pin = make_pedal(factory, bounce_s=0.2)
    pin.drive_low()
    pin.drive_high()
    assert rec.after_quiet(0.5) == []
    assert rec.seen == [DOWN]  # a notice is no command: nothing follows it
    pedal.close()


def test_gpio_two_presses_then_a_hold(factory: MockFactory) -> None:
    pedal, rec, pin = make_pedal(factory, long_press_s=0.6)
    for _ in range(2):
        pin.drive_low()
        time.sleep(0.12)
        pin.drive_high()
        count = len(rec.events) + 1
        assert len(rec.wait_for(count)) == count
    pin.drive_low()
    assert rec.wait_for(3) == [PRESS, PRESS, LONG]
    pin.drive_high()
    assert rec.after_quiet(0.3) == [PRESS, PRESS, LONG]
    pedal.close()


def test_gpio_handler_failure_does_not_break_the_pedal(factory: MockFactory) -> None:
    pedal, rec, pin = make_pedal(factory)
    calls: list[PedalEvent] = []

    def flaky(event: PedalEvent) -> None:
        if event is DOWN:
            return
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("bug in the capture session")
        rec(event)

    pedal.set_handler(flaky)
    for _ in range(2):
        pin.drive_low()
        time.sleep(0.12)
        pin.drive_high()
        seen = len(calls)
        wait_for(lambda seen=seen: len(calls) > seen, WAIT_S, 0.01)
    assert calls == [PRESS, PRESS]
    assert rec.events == [PRESS]
    pedal.close()


def test_gpio_close_releases_the_pin(factory: MockFactory) -> None:
    pedal, rec, pin = make_pedal(factory)
    pedal.close()
    assert not pedal.available
    assert pin.when_changed is None  # nothing listens to the pin any more
    again, rec2, _ = make_pedal(factory)  # same pin: not "in use"
    pin.drive_low()
    time.sleep(0.12)
    pin.drive_high()
    assert rec2.wait_for(1) == [PRESS]
    assert rec.events == []  # the closed pedal stays silent
    again.close()


# ---------------------------------------------------------------- HID pedal


class FakeHardware:
    """One USB input device that can be plugged, unplugged and pressed by the test."""

    def __init__(self, name: str, keys: list[int]) -> None:
        self.name = name
        self.keys = keys
        self.plugged = True
        self.grabber: object | None = None  # who holds EVIOCGRAB
        self.open_fds: list[FakeInputDevice] = []
        self.refused: list[FakeInputDevice] = []  # handles whose grab was refused (EBUSY)
        self.pending: list[object] = []

    def key(self, code: int, value: int) -> None:
        t = time.monotonic()
        self.pending.append(evdev.InputEvent(int(t), int(t % 1 * 1e6), ecodes.EV_KEY, code, value))
        self.pending.append(evdev.InputEvent(int(t), int(t % 1 * 1e6), ecodes.EV_SYN, 0, 0))
        self._wake()

    @property
    def grabbed(self) -> bool:
        return self.grabber is not None

    def unplug(self) -> None:
        self.plugged = False
        self.pending.clear()  # the kernel drops the queue of a vanished device
        self._wake()

    def _wake(self) -> None:
        for dev in self.open_fds:
            os.write(dev.wake_w, b"x")


class FakeEvdev:
    """The slice of the evdev module HidPedal uses, over FakeHardware instead of /dev/input."""

    def __init__(self) -> None:
        self.ecodes = ecodes
        self.devices: dict[str, FakeHardware] = {}

    def list_devices(self) -> list[str]:
        return [path for path, hw in self.devices.items() if hw.plugged]

    def InputDevice(self, path: str) -> FakeInputDevice:  # noqa: N802 - mirrors evdev
        hw = self.devices.get(path)
        if hw is None or not hw.plugged:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return FakeInputDevice(path, hw)


class FakeInputDevice:
    def __init__(self, path: str, hw: FakeHardware) -> None:
        self.path, self.hw, self.name = path, hw, hw.name
        self.fd, self.wake_w = os.pipe()  # select() works on it like on an evdev node
        self.closed = False
        hw.open_fds.append(self)

    def capabilities(self) -> dict[int, list[int]]:
        return {ecodes.EV_SYN: [0], ecodes.EV_KEY: self.hw.keys}

    def grab(self) -> None:
        if self.hw.grabber not in (None, self):
            self.hw.refused.append(self)
            raise OSError(errno.EBUSY, "Device or resource busy")
        self.hw.grabber = self

    def read(self) -> Iterator[object]:
        os.read(self.fd, 4096)
        if not self.hw.plugged:
            raise OSError(errno.ENODEV, "No such device")
        events, self.hw.pending = self.hw.pending, []
        return iter(events)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.hw.grabber is self:  # the kernel drops the grab with the fd
                self.hw.grabber = None
            self.hw.open_fds.remove(self)
            os.close(self.fd)
            os.close(self.wake_w)


@pytest.fixture
def fake_evdev(monkeypatch: pytest.MonkeyPatch) -> FakeEvdev:
    fake = FakeEvdev()
    monkeypatch.setattr("drivers.pedal._import_evdev", lambda: fake)
    monkeypatch.setattr(HidPedal, "POLL_S", 0.05)
    return fake


@needs_evdev
def test_hid_pedal_auto_detects_and_grabs_the_pedal_not_the_keyboard(
    fake_evdev: FakeEvdev,
) -> None:
    keyboard = FakeHardware("AT Translated Set 2 keyboard", [ecodes.KEY_A, ecodes.KEY_B])
    pedal_hw = FakeHardware("PCsensor FootSwitch", [ecodes.KEY_B])
    fake_evdev.devices = {"/dev/input/event0": keyboard, "/dev/input/event5": pedal_hw}
    pedal = HidPedal(key="KEY_B", long_press_s=0.3)
    assert wait_for(lambda: pedal.available, WAIT_S, 0.01)
    assert pedal_hw.grabbed and not keyboard.grabbed
    assert keyboard.open_fds == []  # looked at, then closed again
    pedal.close()
    assert not pedal_hw.grabbed and pedal_hw.open_fds == []


@needs_evdev
def test_hid_pedal_press_long_press_and_unplug_replug(fake_evdev: FakeEvdev) -> None:
    hw = FakeHardware("Generic USB HID", [ecodes.KEY_B])  # name irrelevant with a path
    fake_evdev.devices = {"/dev/input/by-id/usb-pedal-event-kbd": hw}
    pedal = HidPedal("/dev/input/by-id/usb-pedal-event-kbd", "KEY_B", long_press_s=0.3)
    rec = Recorder()
    pedal.set_handler(rec)
    assert wait_for(lambda: pedal.available, WAIT_S, 0.01)

    hw.key(ecodes.KEY_B, 1)
    hw.key(ecodes.KEY_B, 0)
    assert rec.wait_for(1) == [PRESS]

    hw.key(ecodes.KEY_B, 1)  # held: no further events from the device at all
    assert rec.wait_for(2) == [PRESS, LONG]
    hw.key(ecodes.KEY_B, 0)

    hw.key(ecodes.KEY_B, 1)  # pressed, then the cable is pulled mid-press
    hw.unplug()
    assert wait_for(lambda: not pedal.available, WAIT_S, 0.01)
    assert rec.after_quiet(0.4) == [PRESS, LONG]  # the lost press is dropped, not guessed

    hw.plugged = True  # plugged back in: found again by the 2 s (here 0.05 s) poll
    assert wait_for(lambda: pedal.available, WAIT_S, 0.01)
    hw.key(ecodes.KEY_B, 1)
    hw.key(ecodes.KEY_B, 0)
    assert rec.wait_for(3) == [PRESS, LONG, PRESS]
    pedal.close()
    assert not pedal.available
    assert not hw.grabbed


@needs_evdev
def test_hid_pedal_unavailable_until_the_device_appears(fake_evdev: FakeEvdev) -> None:
    pedal = HidPedal("/dev/input/event7", long_press_s=0.3)
    rec = Recorder()
    pedal.set_handler(rec)
    time.sleep(0.15)  # a few polls
    assert not pedal.available
    fake_evdev.devices["/dev/input/event7"] = FakeHardware("foot switch", [ecodes.KEY_B])
    assert wait_for(lambda: pedal.available, WAIT_S, 0.01)
    assert rec.events == []
    pedal.close()


@needs_evdev
def test_hid_pedal_skips_a_device_grabbed_by_someone_else(fake_evdev: FakeEvdev) -> None:
    hw = FakeHardware("USB Foot Pedal", [ecodes.KEY_B])
    hw.grabber = "another program"
    fake_evdev.devices = {"/dev/input/event3": hw}
    pedal = HidPedal(long_press_s=0.3)
    # The reader retries every POLL_S; sampled at any instant one attempt may be mid-open,
    # so wait for a moment when every refused attempt has closed its handle (a leak never gets there).
    assert wait_for(
        lambda: len(hw.refused) >= 2 and all(d.closed for d in hw.refused), WAIT_S, 0.01
    )
    assert not pedal.available
    assert hw.grabber == "another program"
    hw.grabber = None
    assert wait_for(lambda: pedal.available, WAIT_S, 0.01)
    pedal.close()


def synthetic(code: int, value: int, t: float, etype: int = 1) -> object:
    """An evdev event stamped ``t`` (``etype`` 1 is EV_KEY)."""
    return evdev.InputEvent(int(t), round(t % 1 * 1e6), etype, code, value)


@needs_evdev
def test_hid_event_logic_uses_event_timestamps() -> None:
    pedal = HidPedal("/nonexistent/event99", "KEY_B", long_press_s=1.5)
    rec = Recorder()
    pedal.set_handler(rec)
    b = ecodes.KEY_B
    feed = pedal._handle_event
    feed(synthetic(b, 1, 1000.0))
    feed(synthetic(b, 0, 1000.2))  # a tap, however late the reader got round to it
    feed(synthetic(ecodes.KEY_A, 1, 1001.0))  # other keys and event types are ignored
    feed(synthetic(ecodes.KEY_A, 0, 1001.1))
    feed(synthetic(0, 0, 1001.1, etype=ecodes.EV_SYN))
    feed(synthetic(b, 1, 1002.0))
    for t in (1002.25, 1002.28, 1003.4, 1003.5, 1003.6):  # kernel autorepeat while held
        feed(synthetic(b, 2, t))
    feed(synthetic(b, 0, 1004.0))
    assert rec.events == [PRESS, LONG]
    assert rec.seen == [DOWN, PRESS, DOWN, LONG]  # autorepeat is no new press
    pedal.close()


@needs_evdev
def test_hid_rejects_unknown_key_name() -> None:
    with pytest.raises(ValueError, match="hid_key"):
        HidPedal(key="KEY_NOPE")
    with pytest.raises(ValueError, match="hid_key"):
        HidPedal(key="EV_KEY")  # a real code name, but not a key


def test_hid_without_evdev_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "evdev", None)
    with pytest.raises(DeviceUnavailable, match="evdev is not installed") as info:
        open_pedal(PedalConfig(backend="hid"))
    assert "bàn đạp" in info.value.message_vi


# ---------------------------------------------------------------- factory


def test_open_pedal_none() -> None:
    pedal = open_pedal(PedalConfig(backend="none"))
    assert isinstance(pedal, NullPedal) and isinstance(pedal, Pedal)
    pedal.set_handler(lambda event: None)
    assert not pedal.available
    pedal.close()


def test_open_pedal_mock_uses_the_shared_mock_factory() -> None:
    shared = pin_factory("mock")
    assert pin_factory("mock") is shared
    assert isinstance(shared, MockFactory) and shared.pin_class is MockPWMPin
    pedal = open_pedal(PedalConfig(backend="mock", pin=5, long_press_s=0.3))
    assert isinstance(pedal, GpioPedal)
    rec = Recorder()
    pedal.set_handler(rec)
    assert pedal.pin is shared.pin(5)
    pedal.pin.drive_low()
    time.sleep(0.12)
    pedal.pin.drive_high()
    assert rec.wait_for(1) == [PRESS]
    pedal.close()


@needs_evdev
def test_open_pedal_hid(fake_evdev: FakeEvdev) -> None:
    pedal = open_pedal(PedalConfig(backend="hid", hid_device="/dev/input/event9"))
    assert isinstance(pedal, HidPedal) and isinstance(pedal, Pedal)
    assert pedal.device == "/dev/input/event9" and pedal.key == "KEY_B"
    assert not pedal.available
    pedal.close()


@pytest.mark.skipif(Path("/dev/gpiochip0").exists(), reason="this machine has real GPIO")
def test_open_pedal_gpio_without_gpio_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(Device, "pin_factory", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DeviceUnavailable) as info:
            open_pedal(PedalConfig(backend="gpio"))
    message = str(info.value)
    assert message.startswith(
        "GPIO not available on this machine; set pedal.backend = 'mock' or 'none'"
    )
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert info.value.reasons  # what gpiozero tried, e.g. "lgpio: No module named 'lgpio'"
    assert "Máy này không có GPIO" in info.value.message_vi
    assert not [w for w in caught if issubclass(w.category, PinFactoryFallback)]


def test_pin_in_use_is_a_clear_error(factory: MockFactory) -> None:
    pedal, _, _ = make_pedal(factory)
    with pytest.raises(DeviceUnavailable, match="pedal: .*in use"):
        GpioPedal(17, pin_factory=factory)
    pedal.close()


def test_unknown_pin_factory_kind() -> None:
    with pytest.raises(ValueError, match="'gpio' or 'mock'"):
        pin_factory("hid")
