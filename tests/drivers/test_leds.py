"""The LED language and the buzzer, observed on gpiozero's mock PWM pins.

Blinking is asserted from the sequence of values each pin went through (MockPin records
them), never from how long anything took.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

import drivers.leds
from drivers.gpio import DeviceUnavailable, pin_factory
from drivers.leds import PATTERNS, NullLeds, Status, StatusLeds, open_leds
from firmware.config import LedsConfig
from tests.support.wait import wait_for

R, G, B, BUZZER = 22, 23, 24, 25
WAIT_S = 5.0  # upper bound for something that should happen; never a measurement


def history(pin: MockPWMPin) -> list[float]:
    return [float(s.state) for s in pin.states]


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


@pytest.fixture
def leds(factory: MockFactory) -> Iterator[StatusLeds]:
    device = StatusLeds(R, G, B, pin_factory=factory, buzzer_pin=BUZZER)
    yield device
    device.close()


def channels(factory: MockFactory) -> tuple[MockPWMPin, MockPWMPin, MockPWMPin]:
    return factory.pin(R), factory.pin(G), factory.pin(B)


def clear(factory: MockFactory) -> None:
    for pin in channels(factory):
        pin.clear_states()


def test_starts_dark_with_pwm_outputs(leds: StatusLeds, factory: MockFactory) -> None:
    assert leds.status is Status.OFF
    for pin in channels(factory):
        assert pin.function == "output" and pin.frequency  # PWM, for amber and breathing
        assert pin.state == 0


@pytest.mark.parametrize(
    ("status", "rgb"),
    [
        (Status.READY, (0, 1, 0)),
        (Status.SAFE_TO_REMOVE, (0, 0, 1)),
        (Status.OFF, (0, 0, 0)),
    ],
)
def test_steady_statuses_hold_one_colour(
    leds: StatusLeds, factory: MockFactory, status: Status, rgb: tuple[int, int, int]
) -> None:
    leds.show(Status.ERROR)  # a blink running before must stop
    assert wait_for(lambda: len(history(factory.pin(R))) > 3, WAIT_S, 0.01)
    leds.show(status)
    assert leds.status is status
    assert tuple(pin.state for pin in channels(factory)) == rgb
    clear(factory)
    time.sleep(0.4)  # longer than any blink phase: a leftover blink would write here
    assert [history(pin) for pin in channels(factory)] == [[c] for c in rgb]


def blink_history(factory: MockFactory, lit: MockPWMPin) -> list[list[float]]:
    assert wait_for(lambda: len(lit.states) >= 5, WAIT_S, 0.01)
    return [history(pin)[1:] for pin in channels(factory)]  # [0] is the state before


def alternates(values: list[float], on: float) -> bool:
    """Several on/off cycles between exactly two levels (a pin records only changes, so
    consecutive entries always differ)."""
    return len(values) >= 4 and set(values) == {on, 0.0}


def test_error_blinks_red_only(leds: StatusLeds, factory: MockFactory) -> None:
    clear(factory)
    leds.show(Status.ERROR)
    red, green, blue = blink_history(factory, factory.pin(R))
    assert alternates(red, 1.0)
    assert set(green) <= {0.0} and set(blue) <= {0.0}


def test_usb_writing_blinks_blue_only(leds: StatusLeds, factory: MockFactory) -> None:
    leds.show(Status.SAFE_TO_REMOVE)
    clear(factory)
    leds.show(Status.USB_WRITING)
    red, green, blue = blink_history(factory, factory.pin(B))
    assert alternates(blue, 1.0)  # from steady blue into blinking blue
    assert set(red) <= {0.0} and set(green) <= {0.0}


def test_attention_blinks_amber(leds: StatusLeds, factory: MockFactory) -> None:
    clear(factory)
    leds.show(Status.ATTENTION)
    red, green, blue = blink_history(factory, factory.pin(R))
    amber_green = PATTERNS[Status.ATTENTION].color[1]
    assert 0 < amber_green < 1  # red + some green: amber, not yellow
    assert alternates(red, 1.0)
    assert alternates(green, amber_green)  # in step with red
    assert set(blue) <= {0.0}


def test_busy_breathes_green(leds: StatusLeds, factory: MockFactory) -> None:
    clear(factory)
    leds.show(Status.BUSY)
    green = factory.pin(G)
    assert wait_for(lambda: 1.0 in history(green) and history(green)[-1] < 0.5, WAIT_S, 0.01)
    values = history(green)
    peak = values.index(1.0)
    rising, falling = values[1 : peak + 1], values[peak:]
    assert any(0 < v < 1 for v in rising) and rising == sorted(rising)  # fades in...
    assert any(0 < v < 1 for v in falling)
    assert falling[: len(falling) // 2] == sorted(falling[: len(falling) // 2], reverse=True)
    assert set(history(factory.pin(R))) == {0.0} and set(history(factory.pin(B))) == {0.0}


def test_every_status_has_its_own_look_and_usb_states_differ_by_motion() -> None:
    looks = {(p.color, p.motion) for p in PATTERNS.values()}
    assert len(looks) == len(Status) == len(PATTERNS)
    writing, safe = PATTERNS[Status.USB_WRITING], PATTERNS[Status.SAFE_TO_REMOVE]
    assert writing.color == safe.color and writing.motion == "blink" and safe.motion == "steady"
    assert writing.color != PATTERNS[Status.ERROR].color


def test_module_docstring_documents_every_status() -> None:
    doc = drivers.leds.__doc__ or ""
    for status in Status:
        assert f"``{status.value}``" in doc
    assert "KHÔNG rút USB" in doc and "Có thể rút USB an toàn" in doc


def test_show_accepts_status_values(leds: StatusLeds, factory: MockFactory) -> None:
    leds.show("ready")  # type: ignore[arg-type]
    assert leds.status is Status.READY
    assert factory.pin(G).state == 1
    with pytest.raises(ValueError):
        leds.show("blinking")  # type: ignore[arg-type]


def buzzes(pin: MockPWMPin, count: int) -> list[float]:
    expected_len = 1 + 2 * count
    assert wait_for(lambda: len(pin.states) >= expected_len and not pin.state, WAIT_S, 0.01)
    time.sleep(0.3)  # a further beep, if any, would start here
    return history(pin)


def test_ok_beep_is_one_beep(leds: StatusLeds, factory: MockFactory) -> None:
    leds.beep()
    assert buzzes(factory.pin(BUZZER), 1) == [0.0, 1.0, 0.0]


def test_error_beep_is_two_beeps(leds: StatusLeds, factory: MockFactory) -> None:
    leds.beep("error")
    assert buzzes(factory.pin(BUZZER), 2) == [0.0, 1.0, 0.0, 1.0, 0.0]


def test_beep_kind_is_checked(leds: StatusLeds) -> None:
    with pytest.raises(ValueError, match="unknown beep"):
        leds.beep("happy")


def test_beep_without_buzzer_is_silent(factory: MockFactory) -> None:
    leds = StatusLeds(R, G, B, pin_factory=factory)
    leds.beep("error")
    buzzer = factory.pin(BUZZER)
    assert buzzer.function == "input" and history(buzzer) == [0.0]
    leds.close()


def test_close_releases_pins_and_later_calls_are_harmless(factory: MockFactory) -> None:
    leds = StatusLeds(R, G, B, pin_factory=factory, buzzer_pin=BUZZER)
    leds.show(Status.USB_WRITING)
    leds.close()
    for pin in (*channels(factory), factory.pin(BUZZER)):
        assert pin.function == "input" and pin.state == 0
    leds.show(Status.READY)  # a late report from another thread during shutdown
    leds.beep()
    assert leds.status is Status.READY
    leds.close()
    again = StatusLeds(R, G, B, pin_factory=factory, buzzer_pin=BUZZER)  # pins are free
    again.show(Status.SAFE_TO_REMOVE)
    assert factory.pin(B).state == 1
    again.close()


def test_pins_in_use_is_a_clear_error(leds: StatusLeds, factory: MockFactory) -> None:
    with pytest.raises(DeviceUnavailable, match="leds: .*in use"):
        StatusLeds(R, G, B, pin_factory=factory)


def test_null_leds_remember_status() -> None:
    leds = open_leds(LedsConfig(backend="none"))
    assert isinstance(leds, NullLeds)
    assert leds.status is Status.OFF
    leds.show(Status.USB_WRITING)
    assert leds.status is Status.USB_WRITING
    leds.beep("ok")
    with pytest.raises(ValueError):
        leds.beep("loud")
    leds.close()


def test_open_leds_mock_drives_the_shared_mock_pins() -> None:
    cfg = LedsConfig(backend="mock", red_pin=12, green_pin=13, blue_pin=16, buzzer_pin=None)
    leds = open_leds(cfg)
    assert isinstance(leds, StatusLeds)
    leds.show(Status.READY)
    shared = pin_factory("mock")
    assert (shared.pin(12).state, shared.pin(13).state, shared.pin(16).state) == (0, 1, 0)
    leds.close()


@pytest.mark.skipif(Path("/dev/gpiochip0").exists(), reason="this machine has real GPIO")
def test_open_leds_gpio_without_gpio_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(Device, "pin_factory", None)
    with pytest.raises(DeviceUnavailable) as info:
        open_leds(LedsConfig(backend="gpio"))
    assert str(info.value).startswith(
        "GPIO not available on this machine; set leds.backend = 'mock' or 'none'"
    )
