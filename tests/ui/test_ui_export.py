"""The Export screen's API and the export desk behind it, without a browser: who may
export, the stick's states in Vietnamese, a background export with per-file progress and
"safe to remove", cancel and a stick pulled mid-write, hot-plug events, the retention purge,
and what stays in the catalog after the purge (never on the stick in the clear)."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from drivers.leds import NullLeds
from drivers.leds import Status as Led
from drivers.usb.sim import SimBackend, SimStick, create_stick
from firmware.config import ExportConfig
from firmware.demo import export as demo_export
from firmware.export.desk import ExportService
from kiosk_ui.app import create_app
from kiosk_ui.context import UiOptions
from tests.support import export as sup
from tests.support.wait import wait_for

recipient = sup.recipient
STICK = sup.STICK
SECRET_TITLE = "Kế hoạch phòng thủ khu vực Zyxwvu"


@pytest.fixture
def desk(kiosk_factory, make_settings, recipient, tmp_path):
    """A kiosk whose export desk uses simulated sticks in ``tmp_path/usb``; three accounts."""
    settings = make_settings(
        export={
            "recipients": [str(recipient[1])],
            "allowed_sticks": [STICK],
            "sim_dir": str(tmp_path / "usb"),
        }
    )
    kiosk = kiosk_factory(settings=settings, leds=NullLeds(), workers=1)
    app = create_app(kiosk, UiOptions(idle_timeout_s=600))
    ops = app.state.ui.operators
    ops.add("1001", "Nguyễn Thị Lan", "operator", "1234", "test")
    ops.add("2001", "Trần Văn Minh", "archivist", "2468", "test")
    ops.add("9001", "Lê Quốc Hùng", "maintainer", "9999", "test")
    app.state.sim_dir = tmp_path / "usb"
    return app


def client(app, code="2001", pin="2468", lang="vi") -> TestClient:
    c = TestClient(app, base_url="http://127.0.0.1")
    r = c.post("/api/v1/session/login", json={"code": code, "pin": pin, "lang": lang})
    assert r.status_code == 200, r.text
    return c


def sealed(app, **kw):
    k = app.state.ui.kiosk
    return sup.make_sealed(k.paths, k.catalog, **kw)


def stick(app, name="stick", **kw):
    kw.setdefault("vid", STICK["vid"])
    kw.setdefault("pid", STICK["pid"])
    kw.setdefault("serial", STICK["serial"])
    return create_stick(app.state.sim_dir, name, **kw)


def wait_job(c: TestClient, states=("done", "failed", "cancelled"), timeout=60) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = c.get("/api/v1/export/job").json()
        if job and job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"export did not reach {states}: {job}")


def test_only_an_archivist_may_use_the_export_screen(desk):
    for code, pin in (("1001", "1234"), ("9001", "9999")):
        c = client(desk, code, pin)
        for method, path, body in (
            ("GET", "/api/v1/export", None),
            ("GET", "/api/v1/export/preflight", None),
            ("POST", "/api/v1/export/start", {}),
            ("POST", "/api/v1/export/cancel", None),
            ("PUT", "/api/v1/export/sim-stick", {"stick": "none"}),
        ):
            r = c.request(method, path, json=body)
            assert r.status_code == 403, (code, path, r.text)
            assert r.json() == {
                "code": "forbidden",
                "message": "Chỉ cán bộ lưu trữ mới được xuất tài liệu mật.",
            }
        assert c.get("/export", follow_redirects=False).headers["location"] == "/"
        home = c.get("/").text
        assert 'id="go-export" aria-disabled="true"' in home
        assert "Chỉ dành cho cán bộ lưu trữ" in home
    c = client(desk)
    home = c.get("/").text
    assert '<a class="tile" href="/export" id="go-export">' in home


def test_preflight_statuses_in_vietnamese_with_what_to_do(desk):
    sealed(desk)
    c = client(desk)
    page = c.get("/export")
    assert page.status_code == 200 and "Xuất ra USB bảo mật" in page.text
    pf = c.get("/api/v1/export").json()["preflight"]
    assert pf["status"] == "no_device" and pf["title"] == "Chưa cắm USB"
    assert pf["message"] == "Hãy cắm USB bảo mật đã đăng ký."
    cases = [
        ({"serial": "NOT-LISTED"}, "unauthorized", "USB chưa được đăng ký", "chưa được đăng ký"),
        (
            {"interfaces": ["08:06:50", "03:01:01"]},
            "unauthorized",
            "Không phải USB lưu trữ thông thường: bị từ chối",
            "bàn phím/chuột (HID)",
        ),
        ({"faults": {"read_only": True}}, "read_only", "USB đang bị khóa ghi", "gạt khóa"),
        ({"capacity": 10_000}, "not_enough_space", "USB không đủ dung lượng", "còn trống"),
        ({"fstype": "hfsplus"}, "unsupported_filesystem", "Định dạng USB", "FAT32"),
        ({"faults": {"mount_error": True}}, "mount_error", "Không mở được USB", "cắm lại"),
        ({}, "ready", "Sẵn sàng xuất", "Sẵn sàng xuất 1 tài liệu"),
    ]
    for kw, status, title, words in cases:
        s = stick(desk, **kw)
        pf = c.get("/api/v1/export/preflight").json()
        assert (pf["status"], pf["ready"]) == (status, status == "ready"), pf
        assert pf["title"].startswith(title) and words in pf["message"], pf
        s.unplug()
    stick(desk, "a")
    stick(desk, "b", serial="OTHER")
    pf = c.get("/api/v1/export/preflight").json()
    assert pf["status"] == "several_devices" and "chỉ để lại" in pf["message"]
    assert c.get("/api/v1/status").json()["usb"]["state"] == "several"
    en = client(desk, lang="en").get("/api/v1/export/preflight").json()
    assert en["title"] == "Several USB sticks" and "leave only" in en["message"]


def test_export_from_the_screen_progress_safe_to_remove_and_purge(desk, recipient, tmp_path):
    ui = desk.state.ui
    docs = [
        sealed(desk, level="mat", title=SECRET_TITLE, size=3_000_000),
        sealed(desk, level="toi_mat"),
    ]
    ordinary = sealed(desk, level="thuong")
    s = stick(desk)
    c = client(desk)
    over = c.get("/api/v1/export").json()
    assert [d["id"] for d in over["documents"]] == [d["id"] for d in docs]  # preselected
    assert over["documents"][0]["title"] == SECRET_TITLE  # on the kiosk's own screen only
    assert over["preflight"]["ready"] and over["recipients"]["ok"]
    assert c.get("/api/v1/status").json()["usb"] == {
        "state": "present",
        "count": 1,
        "label": STICK["label"],
        "serial": STICK["serial"],
    }
    events = ui.kiosk.events.subscribe()
    r = c.post("/api/v1/export/start", json={"doc_ids": [d["id"] for d in docs]})
    assert r.status_code == 200, r.text
    assert r.json()["state"] in ("running", "verifying", "done")
    job = wait_job(c)
    assert job["state"] == "done" and job["safe_to_remove"] and job["error"] is None
    assert [(d["id"], d["state"]) for d in job["documents"]] == [
        (d["id"], "verified") for d in docs
    ]
    assert all(d["bytes_done"] == d["bytes_total"] > 0 for d in job["documents"])
    assert sorted(job["purged"]) == sorted(d["id"] for d in docs)
    assert ui.kiosk.leds.status == Led.SAFE_TO_REMOVE
    assert c.get("/api/v1/status").json()["usb"]["state"] == "safe"
    # Per-file progress reached the event stream: each document written, then verified.
    seen = []
    while not events.empty():
        ev = events.get_nowait()
        if ev["kind"] == "export":
            seen.append((ev["phase"], ev.get("doc_id"), ev.get("doc_state")))
    for d in docs:
        assert ("writing", d["id"], "writing") in seen and ("writing", d["id"], "written") in seen
    assert seen.index(("verifying", "", "")) > seen.index(("writing", docs[1]["id"], "written"))
    assert seen[-1][0] == "done"
    # The receiving office's openssl opens what the screen wrote.
    out = sup.export_dir_of(s.root)
    res = subprocess.run(
        [
            "openssl", "cms", "-decrypt", "-binary", "-inform", "DER",
            "-in", str(out / f"{docs[0]['id']}.p7m"), "-inkey", str(recipient[0]),
        ],
        capture_output=True,
    )  # fmt: skip
    assert res.returncode == 0 and docs[0]["pdf_bytes"] in res.stdout
    # Purged: local copies and text gone, the catalog keeps the row, metadata and audit ...
    cat = ui.kiosk.catalog
    for d in docs:
        row = cat.get_document(d["id"])
        assert row["state"] == "purged" and row["pdf_path"] is None
        assert not ui.kiosk.paths.sealed_pdf(d["id"]).exists()
        assert not (ui.kiosk.paths.spool / d["id"]).exists()
        assert cat.document_text(d["id"]) == ""
        assert row["metadata"]["export"]["stick"]["serial"] == STICK["serial"]
        actions = [a["action"] for a in cat.audit_records(d["id"])]
        assert "document.exported" in actions and actions[-1] == "document.purged"
    assert cat.get_document(docs[0]["id"])["title"] == SECRET_TITLE
    assert cat.get_document(ordinary["id"])["state"] == "sealed"
    # ... and the title is nowhere in the clear on the stick.
    for f in s.root.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert SECRET_TITLE.encode() not in data and b"Zyxwvu" not in data, f
    # Pulling the stick out ends the "safe to remove" state.
    ui.exports._on_device("remove", s.storage())
    assert c.get("/api/v1/export/job").json() is None
    assert ui.kiosk.leds.status == Led.READY
    assert c.get("/api/v1/export").json()["documents"] == []


def test_refusals_come_back_at_once_and_nothing_is_written(desk):
    doc = sealed(desk)
    c = client(desk)
    s = stick(desk, serial="NOT-LISTED")
    r = c.post("/api/v1/export/start", json={})
    assert r.status_code == 409 and r.json()["code"] == "unauthorized"
    assert "chưa được đăng ký" in r.json()["message"]
    s.unplug()
    stick(desk, "good")
    r = c.post("/api/v1/export/start", json={"doc_ids": ["nope"]})
    assert r.status_code == 404 and r.json()["code"] == "unknown_document"
    assert c.get("/api/v1/export/job").json() is None
    assert desk.state.ui.kiosk.catalog.get_document(doc["id"])["state"] == "sealed"
    assert not list(desk.state.sim_dir.rglob("sohoa-export-*"))


def test_expired_recipient_is_shown_before_exporting(desk, tmp_path):
    sealed(desk)
    stick(desk)
    _, cert = sup.make_cert(tmp_path / "old", "old", days=10, start_days=-20)
    desk.state.ui.exports.exporter.config.recipients = [str(cert)]
    c = client(desk)
    rec = c.get("/api/v1/export").json()["recipients"]
    assert not rec["ok"] and "đã hết hạn" in rec["message"]
    r = c.post("/api/v1/export/start", json={})
    assert r.status_code == 409 and r.json()["code"] == "recipient_expired"


def test_cancel_removes_what_was_written_and_keeps_documents_waiting(desk):
    ui = desk.state.ui
    docs = [sealed(desk, size=400_000), sealed(desk, size=400_000)]
    s = stick(desk, faults={"slow_bytes_per_s": 200_000})
    c = client(desk)
    assert c.post("/api/v1/export/start", json={}).status_code == 200
    assert wait_for(lambda: c.get("/api/v1/export/job").json()["bytes_done"] > 0, 20)
    assert c.get("/api/v1/status").json()["usb"]["state"] == "writing"
    assert ui.kiosk.leds.status == Led.USB_WRITING
    assert c.post("/api/v1/export/cancel").json()["state"] in ("running", "cancelled")
    job = wait_job(c)
    assert job["state"] == "cancelled" and job["error"]["code"] == "export_cancelled"
    assert "Không mất dữ liệu" in job["error"]["message"]
    assert all(d["state"] == "waiting" for d in job["documents"])
    assert [ui.kiosk.catalog.get_document(d["id"])["state"] for d in docs] == ["sealed"] * 2
    assert not list(s.root.rglob("sohoa-export-*"))
    assert job["safe_to_remove"] and ui.kiosk.leds.status == Led.SAFE_TO_REMOVE
    actions = [a["action"] for a in ui.kiosk.catalog.audit_records()]
    assert "export.cancel_requested" in actions and "export.failed" in actions


def test_stick_pulled_mid_write_fails_cleanly_and_a_new_export_completes(desk):
    ui = desk.state.ui
    docs = [sealed(desk, size=300_000), sealed(desk, size=300_000)]
    s = stick(desk, faults={"remove_at": 400_000})
    c = client(desk)
    assert c.post("/api/v1/export/start", json={}).status_code == 200
    job = wait_job(c)
    assert job["state"] == "failed" and job["error"]["code"] == "usb_removed"
    assert "Hãy cắm lại USB" in job["error"]["message"]
    assert not job["safe_to_remove"] and ui.kiosk.leds.status == Led.ERROR
    assert [ui.kiosk.catalog.get_document(d["id"])["state"] for d in docs] == ["sealed"] * 2
    assert not list(s.root.rglob("manifest.json.p7s"))  # nothing passes for complete
    s.plug()
    s.clear_faults()
    assert c.get("/api/v1/export/preflight").json()["ready"]
    assert c.post("/api/v1/export/start", json={}).status_code == 200
    assert wait_job(c)["state"] == "done"
    assert len(list(s.root.glob("sohoa-export-*"))) == 1  # the stale partial one was removed


def test_hot_plug_reaches_the_event_bus_and_the_status_bar(make_settings, tmp_path, recipient):
    from firmware.kiosk import Kiosk

    settings = make_settings(export={"recipients": [str(recipient[1])], "allowed_sticks": [STICK]})
    kiosk = Kiosk(settings)
    try:
        svc = ExportService.for_kiosk(kiosk)
        svc.exporter.backend = SimBackend(svc.exporter.sim_dir, poll_s=0.02)
        events = kiosk.events.subscribe()
        svc.start()
        try:
            stick_ = create_stick(svc.exporter.sim_dir, "s", serial=STICK["serial"])
            assert wait_for(lambda: svc.usb_state()["state"] == "present", 5)
            create_stick(
                svc.exporter.sim_dir, "bad", serial="X", interfaces=["08:06:50", "e0:01:01"]
            )
            assert wait_for(lambda: svc.usb_state()["state"] == "several", 5)
            stick_.unplug()
            assert wait_for(lambda: svc.usb_state()["state"] == "refused", 5)
            kinds = []
            while not events.empty():
                ev = events.get_nowait()
                if ev["kind"] == "usb":
                    kinds.append((ev["action"], ev["state"]))
            assert kinds == [("add", "present"), ("add", "several"), ("remove", "refused")]
            audit = [a["action"] for a in kiosk.catalog.audit_records()]
            assert audit.count("usb.plugged") == 2 and audit.count("usb.removed") == 1
        finally:
            svc.stop()
    finally:
        kiosk.stop()


def test_retention_purge_runs_in_the_service(make_settings, recipient, tmp_path):
    from firmware.kiosk import Kiosk

    settings = make_settings(
        export={"recipients": [str(recipient[1])], "allowed_sticks": [STICK], "retention": 3}
    )
    kiosk = Kiosk(settings)
    try:
        doc = sup.make_sealed(kiosk.paths, kiosk.catalog)
        svc = ExportService.for_kiosk(kiosk, purge_interval_s=0.05)
        create_stick(svc.exporter.sim_dir, "s", serial=STICK["serial"])
        svc.exporter.export("2001", "archivist")
        assert kiosk.catalog.get_document(doc["id"])["state"] == "exported"
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3, minutes=1)
        svc.exporter.clock = lambda: later  # three days pass
        svc.start()
        try:
            assert wait_for(lambda: kiosk.catalog.get_document(doc["id"])["state"] == "purged", 10)
        finally:
            svc.stop()
        assert not kiosk.paths.sealed_pdf(doc["id"]).exists()
    finally:
        kiosk.stop()


def test_demo_sticks_plug_from_the_screen(desk, tmp_path):
    c = client(desk)
    r = c.put("/api/v1/export/sim-stick", json={"stick": "registered"})
    assert r.status_code == 409 and r.json()["code"] == "no_demo_sticks"  # no demo here
    data = Path(desk.state.ui.kiosk.settings.data_dir)
    banner = demo_export.prepare(data)
    key, cert = demo_export.recipient_paths(data)
    assert key.stat().st_mode & 0o077 == 0 and "sohoa decrypt" in banner
    ex = desk.state.ui.exports.exporter  # as `sohoa demo` configures it
    ex.config = ExportConfig(**demo_export.export_overrides(data))
    assert ex.config.recipients == [str(cert)]
    ex.backend = SimBackend(demo_export.sim_dir(data))
    assert c.get("/api/v1/export").json()["demo_sticks"] is True
    assert c.get("/api/v1/status").json()["usb"]["state"] == "none"  # both wait unplugged
    assert c.put("/api/v1/export/sim-stick", json={"stick": "unregistered"}).json()["state"] == (
        "refused"
    )
    r = c.put("/api/v1/export/sim-stick", json={"stick": "registered"}).json()
    assert r["state"] == "present" and r["label"] == "USB Văn phòng (mẫu)"
    assert SimStick(demo_export.sim_dir(data) / "usb-la.usb.json").plugged is False
    assert c.put("/api/v1/export/sim-stick", json={"stick": "none"}).json()["state"] == "none"


def test_no_safe_to_remove_when_the_stick_cannot_be_ejected(desk, monkeypatch):
    """ "Có thể rút USB an toàn" only after a successful unmount; nothing purged before."""
    from drivers.usb import MountError

    ui = desk.state.ui
    doc = sealed(desk)
    stick(desk)
    backend = ui.exports.exporter.backend
    real_unmount = backend.unmount

    def busy(dev, *, power_off=True):
        if power_off:
            raise MountError("target is busy")
        real_unmount(dev, power_off=power_off)

    monkeypatch.setattr(backend, "unmount", busy)
    c = client(desk)
    assert c.post("/api/v1/export/start", json={}).status_code == 200
    job = wait_job(c)
    assert job["state"] == "done" and job["safe_to_remove"] is False
    assert job["purged"] == [] and ui.kiosk.leds.status == Led.ATTENTION
    assert c.get("/api/v1/status").json()["usb"]["state"] == "present"  # not "safe"
    row = ui.kiosk.catalog.get_document(doc["id"])
    assert row["state"] == "exported" and ui.kiosk.paths.sealed_pdf(doc["id"]).exists()
