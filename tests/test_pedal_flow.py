"""The foot pedal drives the kiosk: press = capture a page, hold = finish the document.

Real gpiozero code on MockFactory pins, the real kiosk core and OCR pool behind it.
"""

from __future__ import annotations

import time

from drivers.pedal import GpioPedal
from tests.conftest import wait_for


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
