"""Enrollment by showing the hub's token QR to the kiosk camera, through the capture path:
the code is read like a cover sheet, the kiosk enrolls with the real client, and the frame
is never archived as a page."""

from __future__ import annotations

import pytest

from firmware.errors import KioskError
from firmware.uplink.identity import load_identity
from tests.support.coversheet import qr_sheet

KIOSK = "kiosk-cam"


def test_showing_the_token_qr_enrolls_and_is_no_page(hub, kiosk_factory, make_settings):
    kiosk = kiosk_factory(settings=make_settings(kiosk_id=KIOSK))
    events = kiosk.events.subscribe()
    kiosk.camera.lay_sheet(qr_sheet(hub.mint_token().uri))
    out = kiosk.capture("9001")
    assert out.page is None and out.sheet["kind"] == "enrollment" and not out.sheet["already"]
    ident = load_identity(kiosk.paths)
    assert ident is not None and ident.hub_url == hub.url and ident.ca_sha256 == hub.ca_sha256
    doc = kiosk.catalog.get_document(out.sheet["doc_id"])
    assert [p for p in kiosk.catalog.pages(doc["id"]) if p["state"] != "deleted"] == []
    assert any(a["action"] == "uplink.enrolled" for a in kiosk.catalog.audit_records())
    seen = []
    while not events.empty():
        seen.append(events.get_nowait())
    assert any(e["kind"] == "sheet" and e.get("sheet") == "enrolled" for e in seen)
    # shown again: already enrolled, nothing changes, still no page
    kiosk.camera.lay_sheet(qr_sheet(hub.mint_token().uri))
    again = kiosk.capture("9001")
    assert again.page is None and again.sheet["already"]
    assert load_identity(kiosk.paths).not_after == ident.not_after


def test_a_spent_token_shown_to_the_camera_is_refused_with_the_reason(
    hub, kiosk_factory, make_settings, tmp_path
):
    uri = hub.mint_token().uri
    first = kiosk_factory(settings=make_settings(kiosk_id="kiosk-a", data_dir=str(tmp_path / "a")))
    first.camera.lay_sheet(qr_sheet(uri))
    assert first.capture("9001").sheet["kind"] == "enrollment"
    second = kiosk_factory(settings=make_settings(kiosk_id="kiosk-b", data_dir=str(tmp_path / "b")))
    second.camera.lay_sheet(qr_sheet(uri))
    with pytest.raises(KioskError) as exc:
        second.capture("9001")
    assert exc.value.code == "token_invalid" and exc.value.message_vi
    assert load_identity(second.paths) is None
    assert any(a["action"] == "enroll.refused" for a in second.catalog.audit_records())
