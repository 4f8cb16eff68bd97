"""The foot pedal drives the kiosk: press = capture a page, hold = finish the document.

Real gpiozero code on MockFactory pins, the real kiosk core and OCR pool behind it.
"""

from __future__ import annotations

import time

from drivers.pedal import GpioPedal
from tests.support.wait import wait_for


def press(pin, hold_s: float) -> None:
    pin.drive_low()
    time.sleep(hold_s)
    pin.drive_high()


def test_pedal_captures_and_finishes(kiosk_factory):
    from drivers.gpio import pin_factory

    pedal = GpioPedal(17, long_press_s=0.6, pin_factory=pin_factory("mock"))
    kiosk = kiosk_factory(pedal=pedal)
    pin = pedal.pin
    press(pin, 0.1)
    assert wait_for(lambda: kiosk.current_doc_id is not None, 20)
    doc_id = kiosk.current_doc_id
    assert wait_for(lambda: len(kiosk.catalog.pages(doc_id)) == 1, 20)
    press(pin, 0.1)
    assert wait_for(lambda: len(kiosk.catalog.pages(doc_id)) == 2, 20)
    press(pin, 1.0)  # hold: finish the document
    assert wait_for(
        lambda: kiosk.catalog.get_document(doc_id)["state"] in ("processing", "review"), 20
    )
    assert len(kiosk.catalog.pages(doc_id)) == 2  # the hold did not capture a third page
    assert kiosk.wait_idle(timeout=120)
    assert wait_for(lambda: kiosk.catalog.get_document(doc_id)["state"] == "review", 10)
    actors = {r["actor"] for r in kiosk.catalog.audit_records(doc_id)}
    assert "pedal" in actors


class _Recording:
    """Wraps a camera's ``capture`` to note when each still was exposed and its bytes."""

    def __init__(self, camera) -> None:
        self.camera = camera
        self.stills: list[tuple[float, bytes]] = []
        self._capture = camera.capture
        camera.capture = self

    def __call__(self):
        frame = self._capture()
        self.stills.append((time.monotonic(), frame.jpeg))
        return frame


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _frames_on_disk(kiosk) -> list:
    return sorted(p for p in kiosk.paths.spool.rglob("*.jpg"))


def test_the_still_is_exposed_when_the_pedal_goes_down(kiosk_factory):
    """A press is known only at release (it could become a long press); the still is taken
    as the foot goes down so the clerk's hold is not added to the wait for the thumbnail."""
    from drivers.gpio import pin_factory

    pedal = GpioPedal(18, long_press_s=5.0, pin_factory=pin_factory("mock"))
    kiosk = kiosk_factory(pedal=pedal)
    cam = _Recording(kiosk.camera)
    pin = pedal.pin
    pin.drive_low()
    assert wait_for(lambda: len(cam.stills) == 1, 10)  # foot still down (long press 5 s off: load)
    assert kiosk.current_doc_id is None and _frames_on_disk(kiosk) == []  # nothing stored
    time.sleep(0.15)
    released = time.monotonic()
    pin.drive_high()
    assert wait_for(lambda: kiosk.current_doc_id is not None, 20)
    doc_id = kiosk.current_doc_id
    assert wait_for(lambda: len(kiosk.catalog.pages(doc_id)) == 1, 20)
    [page] = kiosk.catalog.pages(doc_id)
    [(exposed, jpeg)] = cam.stills  # one still, the one exposed before the release
    assert exposed < released
    assert page["frame_sha256"] == _sha(jpeg)
    assert kiosk.wait_idle(timeout=120)


def test_a_long_press_throws_the_early_still_away(kiosk_factory):
    from drivers.pedal import PedalEvent

    kiosk = kiosk_factory()
    cam = _Recording(kiosk.camera)
    kiosk.handle_pedal(PedalEvent.DOWN, "clerk")
    kiosk.handle_pedal(PedalEvent.PRESS, "clerk")
    doc_id = kiosk.current_doc_id
    kiosk.handle_pedal(PedalEvent.DOWN, "clerk")  # the foot goes down again, and stays
    assert wait_for(lambda: len(cam.stills) == 2 and not kiosk.capturing, 20)
    kiosk.handle_pedal(PedalEvent.LONG_PRESS, "clerk")
    assert kiosk.catalog.get_document(doc_id)["state"] in ("processing", "review")
    assert len(kiosk.catalog.pages(doc_id)) == 1
    assert len(_frames_on_disk(kiosk)) == 1  # the second still was never stored
    assert kiosk.session.still.waiting is None
    assert kiosk.wait_idle(timeout=120)


def test_a_down_without_press_is_replaced_by_the_next_one(kiosk_factory):
    """Noise on the wire gives a DOWN and nothing else: the next press uses its own still."""
    from drivers.pedal import PedalEvent

    kiosk = kiosk_factory()
    cam = _Recording(kiosk.camera)
    kiosk.handle_pedal(PedalEvent.DOWN, "clerk")  # a spike
    assert wait_for(lambda: len(cam.stills) == 1, 20)
    kiosk.handle_pedal(PedalEvent.DOWN, "clerk")
    kiosk.handle_pedal(PedalEvent.PRESS, "clerk")
    assert len(cam.stills) == 2
    [page] = kiosk.catalog.pages(kiosk.current_doc_id)
    assert page["frame_sha256"] == _sha(cam.stills[1][1])
    assert kiosk.wait_idle(timeout=120)


def test_a_stale_early_still_is_not_used(kiosk_factory, monkeypatch):
    import firmware.capture.pedal_still as still_module
    from drivers.pedal import PedalEvent

    kiosk = kiosk_factory()
    cam = _Recording(kiosk.camera)
    kiosk.handle_pedal(PedalEvent.DOWN, "clerk")
    assert wait_for(lambda: len(cam.stills) == 1 and not kiosk.capturing, 20)
    monkeypatch.setattr(still_module, "EARLY_FRAME_MAX_AGE_S", 0.0)
    kiosk.handle_pedal(PedalEvent.PRESS, "clerk")
    assert len(cam.stills) == 2  # a fresh still was taken at the press
    [page] = kiosk.catalog.pages(kiosk.current_doc_id)
    assert page["frame_sha256"] == _sha(cam.stills[1][1])
    assert kiosk.wait_idle(timeout=120)


def test_a_camera_failure_at_the_down_is_reported_by_the_press(kiosk_factory):
    import pytest

    from drivers.pedal import PedalEvent
    from firmware.errors import KioskError

    kiosk = kiosk_factory()
    kiosk.camera.unplug()
    kiosk.handle_pedal(PedalEvent.DOWN, "clerk")
    with pytest.raises(KioskError) as info:
        kiosk.handle_pedal(PedalEvent.PRESS, "clerk")
    assert info.value.code == "camera_gone"
    assert kiosk.last_error is not None and kiosk.last_error.code == "camera_gone"
    errors = [a for a in kiosk.catalog.audit_records() if a["action"] == "capture.error"]
    assert errors and errors[-1]["actor"] == "clerk"
    assert _frames_on_disk(kiosk) == []
    kiosk.camera.replug()
    kiosk.camera.open()  # like a real device, re-opened after it came back
    kiosk.handle_pedal(PedalEvent.DOWN, "clerk")
    kiosk.handle_pedal(PedalEvent.PRESS, "clerk")  # the camera is back: a page again
    assert len(kiosk.catalog.pages(kiosk.current_doc_id)) == 1
    assert kiosk.wait_idle(timeout=120)


def test_nothing_is_captured_while_the_update_notice_is_up(kiosk_factory):
    """While the agent switches the software the screen is covered: the pedal, the capture
    button and a retake all refuse (saying why), no still is exposed, nothing is stored;
    scanning resumes when the notice goes."""
    import pytest

    from drivers.pedal import PedalEvent
    from firmware.errors import KioskError

    kiosk = kiosk_factory()
    cam = _Recording(kiosk.camera)
    kiosk.hold_for_update(True)
    kiosk.handle_pedal(PedalEvent.DOWN, "clerk")
    with pytest.raises(KioskError) as refused:
        kiosk.handle_pedal(PedalEvent.PRESS, "clerk")
    assert refused.value.code == "updating" and refused.value.status == 409
    with pytest.raises(KioskError):
        kiosk.capture("clerk")
    assert cam.stills == [] and _frames_on_disk(kiosk) == []
    assert kiosk.catalog.db.execute("SELECT COUNT(*) FROM pages").fetchone()[0] == 0
    kiosk.hold_for_update(False)
    kiosk.handle_pedal(PedalEvent.DOWN, "clerk")
    kiosk.handle_pedal(PedalEvent.PRESS, "clerk")
    assert len(kiosk.catalog.pages(kiosk.current_doc_id)) == 1
    assert kiosk.wait_idle(timeout=120)
