"""One bilingual error type (code, English, Vietnamese, HTTP status) shared by drivers and
firmware, converted by the API in one handler; one answer per error."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sohoa_common.errors import BilingualError


def test_driver_and_firmware_errors_are_the_one_type():
    from drivers.camera.base import CameraError
    from drivers.scanner.errors import ScannerError
    from firmware.archive.seal import SealError
    from firmware.archive.signing import SigningError
    from firmware.coversheet.payload import PayloadError
    from firmware.errors import KioskError
    from firmware.metadata.party_codes import PartyCodesError
    from firmware.ocr.engine import OcrError
    from firmware.routing import RoutingError
    from firmware.uplink.client import UplinkError

    assert KioskError is BilingualError
    made = [
        CameraError("gone", "Camera unplugged"),
        ScannerError("jammed"),
        PayloadError("damaged", "damaged QR", "Mã QR bị hỏng"),
        PartyCodesError("list unreadable", "Không đọc được danh mục"),
        OcrError("engine", "engine failed", "Lỗi nhận dạng chữ"),
        RoutingError("x", "en", "vi"),
        SealError("seal failed"),
        SigningError("no_key", "no key", "Không có khóa ký"),
        UplinkError("hub_error", "hub error", "Trung tâm lỗi"),
    ]
    for err in made:
        assert isinstance(err, BilingualError), type(err)
        assert err.code and err.message_en and err.message_vi and 400 <= err.status < 600
        assert err.text("vi") == err.message_vi and err.text("en") == err.message_en


def test_a_missing_camera_gets_one_answer_from_core_and_api(make_settings):
    from firmware.errors import KioskError
    from firmware.kiosk import Kiosk
    from kiosk_ui.app import create_app
    from kiosk_ui.context import UiOptions

    kiosk = Kiosk(make_settings(), camera=None).start(recover=False)
    try:
        with pytest.raises(KioskError) as core:
            kiosk.capture("clerk")
        app = create_app(kiosk, UiOptions())
        app.state.ui.operators.add("1001", "Lan", "operator", "1234", "test")
        client = TestClient(app, base_url="http://127.0.0.1")
        client.post("/api/v1/session/login", json={"code": "1001", "pin": "1234"})
        for method, path in (("POST", "/api/v1/capture"), ("GET", "/api/v1/live")):
            r = client.request(method, path, json={})
            assert (r.status_code, r.json()["code"]) == (core.value.status, core.value.code)
        assert core.value.status == 503 and core.value.code == "no_camera"
    finally:
        kiosk.stop()


def test_a_scanner_error_is_converted_by_the_one_api_handler(make_settings):
    from drivers.scanner.errors import ScannerError
    from firmware.kiosk import Kiosk
    from kiosk_ui.app import create_app
    from kiosk_ui.context import UiOptions

    class Jammed:
        def iter_scan(self):
            raise ScannerError("jammed", detail="sheet 1")

    kiosk = Kiosk(make_settings(), camera=None, scanner=Jammed()).start(recover=False)
    try:
        app = create_app(kiosk, UiOptions())
        app.state.ui.operators.add("1001", "Lan", "operator", "1234", "test")
        client = TestClient(app, base_url="http://127.0.0.1")
        client.post("/api/v1/session/login", json={"code": "1001", "pin": "1234"})
        r = client.post("/api/v1/scan", json={})
        assert r.status_code == 503 and r.json()["code"] == "scanner_jammed"
        assert "Kẹt giấy" in r.json()["message"]
    finally:
        kiosk.stop()
