"""The remote ``doctor`` command's checks are made by the running kiosk service, which holds
the pedal's and the LEDs' GPIO pins and the camera. Opening them a second time is refused
("pin already in use"), so the report must give the service's own view of those devices,
not a failure that is not there; and a device the kiosk is not configured with is not
reported as broken (the hub's fleet table showed every kiosk "lỗi: scanner")."""

from __future__ import annotations

from firmware.capture.devices import open_devices
from firmware.fleet.kiosk_side import status_publisher
from firmware.fleet.link import agent_state_dir, ask_kiosk, kiosk_health, read_kiosk_status
from firmware.store.paths import DataPaths


def test_doctor_beside_the_running_kiosk_reports_its_held_devices_as_working(
    kiosk_factory, make_settings, tmp_path
):
    settings = make_settings(pedal={"backend": "mock"}, leds={"backend": "mock"})
    devs = open_devices(settings)  # as the service opens them
    assert not devs.problems
    kiosk = kiosk_factory(settings=settings, pedal=devs.pedal, leds=devs.leds)
    assert kiosk.status()["pedal"]["available"]  # the kiosk holds the mock pins now
    kiosk_status = status_publisher(
        lambda: kiosk.settings, kiosk.catalog, lambda: kiosk_health(kiosk)
    )
    kiosk_status.start()
    try:
        paths = DataPaths(settings.data_dir)
        answer = ask_kiosk(paths, agent_state_dir(settings), "doctor", "r-1", 30)
        assert answer is not None
        checks = {c["name"]: c for c in answer["result"]}
        for device in ("camera", "pedal", "leds"):
            assert checks[device]["ok"], checks[device]
            assert "in use by the kiosk service" in checks[device]["detail_en"]
        # what the agent heartbeats: the devices this kiosk has, no scanner it lacks
        status = read_kiosk_status(paths)
        assert status is not None
        assert status["devices"] == {"camera": True, "pedal": True, "leds": True, "ocr": True}
    finally:
        kiosk_status.stop()


def test_doctor_without_a_running_service_opens_the_devices_itself(make_settings):
    from firmware.doctor import run_checks

    settings = make_settings(pedal={"backend": "mock"}, leds={"backend": "mock"})
    checks = {c.name: c for c in run_checks(settings)}
    assert checks["pedal"].ok and checks["pedal"].detail_en == "mock pedal ready"
    assert checks["leds"].ok and checks["leds"].detail_en == "mock LEDs ready"
