"""Uplink pieces on their own: upload window, token QR, token bucket, backoff, the outbox
queue and its routing, status words, recovery, and the worker against an in-process hub."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.camera.folder import FolderCamera
from firmware.errors import KioskError
from firmware.routing import RoutingError
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.store.states import DocState
from firmware.uplink import window
from firmware.uplink.client import TokenBucket, TusClient, UplinkError, UploadItem
from firmware.uplink.outbox import Outbox, route_sealed
from firmware.uplink.qr import find_ticket, parse_enroll_uri, ticket_from_file
from firmware.uplink.status import uplink_status
from firmware.uplink.worker import UplinkWorker, backoff_delay
from provisioning import schemas
from tests.support import uplink as fakes

CA = "ab" * 32
URI = schemas.build_enroll_uri("https://hub.tinh.vn:8443", "A" * 43, CA)


# -- window ---------------------------------------------------------------------------------
def test_window_spanning_midnight():
    at = lambda h, m=0: dt.datetime(2025, 4, 10, h, m)  # noqa: E731
    assert window.is_open("18:00-07:00", at(23)) and window.is_open("18:00-07:00", at(6, 59))
    assert not window.is_open("18:00-07:00", at(7)) and not window.is_open("18:00-07:00", at(12))
    assert window.seconds_until_open("18:00-07:00", at(17, 30)) == 30 * 60
    assert window.seconds_until_open("18:00-07:00", at(20)) == 0
    assert window.seconds_until_open("", at(12)) == 0
    assert window.seconds_until_open("01:00-02:00", at(3)) == 22 * 3600
    for bad in ("7-8", "18:00", "24:00-01:00", "08:00-08:00"):
        with pytest.raises(ValueError):
            window.parse_window(bad)


# -- QR -------------------------------------------------------------------------------------
def test_enroll_uri_parses_and_refuses_bad_ones():
    t = parse_enroll_uri(URI)
    assert (t.hub, t.token, t.ca_sha256) == ("https://hub.tinh.vn:8443", "A" * 43, CA)
    for bad in (
        "https://hub/?token=x",
        "sohoa-enroll:?hub=http%3A%2F%2Fhub&token=" + "A" * 43 + "&ca=" + CA,
        "sohoa-enroll:?hub=https%3A%2F%2Fhub&ca=" + CA,
        "sohoa-enroll:?hub=https%3A%2F%2Fhub&token=" + "A" * 43 + "&ca=1234",
    ):
        with pytest.raises(KioskError) as exc:
            parse_enroll_uri(bad)
        assert exc.value.code == "enroll_invalid" and exc.value.message_vi


def _qr_image(text: str, box: int = 8) -> np.ndarray:
    return fakes.qr_image(text, scale=box)


def test_qr_found_in_a_camera_frame_from_the_folder_backend(tmp_path):
    """The token QR held under the document camera: a desk-sized frame with the code in a
    corner, slightly rotated, replayed through the folder camera."""
    frame = np.full((1800, 2400, 3), (120, 130, 140), np.uint8)
    qr = _qr_image(URI, box=6)
    h, w = qr.shape[:2]
    rot = cv2.warpAffine(
        qr,
        cv2.getRotationMatrix2D((w / 2, h / 2), 7, 1.0),
        (w, h),
        borderValue=(255, 255, 255),
    )
    frame[300 : 300 + h, 1500 : 1500 + w] = rot
    src = tmp_path / "frames"
    src.mkdir()
    cv2.imwrite(str(src / "0001.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(str(src / "0002.jpg"), np.full((600, 800, 3), 200, np.uint8))
    cam = FolderCamera(src)
    cam.open()
    got = find_ticket(cv2.imdecode(np.frombuffer(cam.capture().jpeg, np.uint8), 1))
    assert got is not None and got.token == "A" * 43 and got.ca_sha256 == CA
    assert find_ticket(cv2.imdecode(np.frombuffer(cam.capture().jpeg, np.uint8), 1)) is None


def test_qr_file_with_another_code_is_reported(tmp_path):
    p = tmp_path / "other.png"
    cv2.imwrite(str(p), _qr_image("https://example.org/not-a-token"))
    with pytest.raises(KioskError) as exc:
        ticket_from_file(p)
    assert exc.value.code == "enroll_qr_not_found"
    cv2.imwrite(str(p), _qr_image(URI))
    assert ticket_from_file(p).hub == "https://hub.tinh.vn:8443"


# -- rate cap and backoff ---------------------------------------------------------------------
def test_token_bucket_holds_the_average_rate():
    clock = [0.0]
    bucket = TokenBucket(
        32_000, clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s)
    )
    for _ in range(100):
        bucket.take(16_384)
    # 1.6 MB at 32 kB/s: about 51 s of (virtual) time, less the initial burst
    assert 50.0 <= clock[0] + bucket.capacity / 32_000 <= 52.0


def test_backoff_grows_with_jitter_and_is_capped():
    rng = random.Random(4)
    delays = [backoff_delay(n, 5, 60, rng) for n in range(1, 8)]
    for n, d in enumerate(delays, start=1):
        full = min(60, 5 * 2 ** (n - 1))
        assert full / 2 <= d <= full
    assert len({round(backoff_delay(3, 5, 60, rng), 6) for _ in range(20)}) > 10


# -- outbox and routing -----------------------------------------------------------------------
@pytest.fixture
def box(tmp_path):
    paths = DataPaths(tmp_path / "var").ensure()
    cat = Catalog(paths.catalog)
    yield cat, paths
    cat.close()


def test_enqueue_is_one_transaction_and_idempotent(box):
    cat, paths = box
    doc = fakes.sealed_document(cat, paths)
    queued = route_sealed(cat, doc, "clerk")
    assert queued["state"] == DocState.QUEUED
    assert Outbox(cat).enqueue(doc["id"], "clerk")["state"] == DocState.QUEUED
    rows = Outbox(cat).rows()
    assert [(r["document_id"], r["sha256"], r["size"]) for r in rows] == [
        (doc["id"], doc["sha256"], doc["pdf_size"])
    ]
    actions = [a["action"] for a in cat.audit_records(doc["id"])]
    assert actions.count("document.queued") == 1
    assert cat.verify_audit().ok


@pytest.mark.parametrize("level", ["mat", "toi_mat"])
def test_confidential_documents_never_enter_the_outbox(box, level):
    cat, paths = box
    doc = fakes.sealed_document(cat, paths, level=level)
    assert route_sealed(cat, doc, "clerk")["state"] == DocState.SEALED
    with pytest.raises(RoutingError):
        Outbox(cat).enqueue(doc["id"], "clerk")
    assert Outbox(cat).rows() == []
    assert cat.get_document(doc["id"])["state"] == DocState.SEALED


def test_status_says_not_enrolled_while_documents_wait(box, make_settings):
    cat, paths = box
    route_sealed(cat, fakes.sealed_document(cat, paths), "clerk")
    st = uplink_status(cat, paths, make_settings().uplink)
    assert (st["waiting"], st["enrolled"], st["state"]) == (1, False, "not_enrolled")
    assert "chưa đăng ký" in st["summary_vi"] and "not enrolled" in st["summary_en"]


# -- worker against the in-process hub --------------------------------------------------------
def _worker(cat, paths, make_settings, hub, **uplink):
    uplink = {
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "chunk_kb": 16,
        "retention_days": 0,
        **uplink,
    }
    settings = make_settings(kiosk_id="kiosk-7", uplink=uplink)
    return UplinkWorker(cat, paths, settings, transport=hub.transport(), rng=random.Random(1))


def _drain(worker, limit=200):
    for _ in range(limit):
        worker.step()
        if worker.outbox.counts()["waiting"] == 0:
            return


def test_worker_resumes_after_cuts_and_purges_on_receipt(box, make_settings):
    cat, paths = box
    ca = fakes.FleetCA.make()
    fakes.write_identity(paths, ca, "kiosk-7")
    hub = fakes.FakeTus(ca, "kiosk-7", cut_after=[20_000, 5_000, 30_000])
    docs = [
        route_sealed(cat, fakes.sealed_document(cat, paths, size=90_000, seed=i), "c")
        for i in range(3)
    ]
    w = _worker(cat, paths, make_settings, hub)
    _drain(w)
    for d in docs:
        got = cat.get_document(d["id"])
        assert got["state"] == DocState.PURGED and got["pdf_path"] is None
        assert (
            hub.store[d["sha256"]]
            == hashlib.sha256(hub.store[d["sha256"]]).digest() * 0 + (hub.store[d["sha256"]])
        )
        assert hashlib.sha256(hub.store[d["sha256"]]).hexdigest() == d["sha256"]
        assert not Path(d["pdf_path"]).exists()
        assert Outbox(cat).get(d["id"])["receipt"]["sha256"] == d["sha256"]
    # every byte crossed the "link" once, apart from what the cuts threw away: nothing
    assert hub.body_bytes == sum(d["pdf_size"] for d in docs)
    assert len(hub.store) == 3 and cat.verify_audit().ok


def test_worker_keeps_documents_queued_on_a_bad_receipt(box, make_settings):
    cat, paths = box
    ca = fakes.FleetCA.make()
    fakes.write_identity(paths, ca, "kiosk-7")
    for fault, code in (("sig", "receipt_bad_signature"), ("sha", "receipt_mismatch")):
        hub = fakes.FakeTus(ca, "kiosk-7", receipt_fault=fault)
        doc = route_sealed(cat, fakes.sealed_document(cat, paths, seed=len(fault)), "c")
        w = _worker(cat, paths, make_settings, hub)
        for _ in range(3):
            w.step()
        row = Outbox(cat).get(doc["id"])
        assert cat.get_document(doc["id"])["state"] == DocState.QUEUED
        assert row["delivered_at"] is None and row["last_error_code"] == code
        assert Path(doc["pdf_path"]).exists()
        # the hub is fixed: the stored upload's receipt is fetched again and accepted
        hub.receipt_fault = None
        for up in hub.uploads.values():
            up["receipt"] = hub._receipt(up["meta"], up["length"], False)
        Outbox(cat).retry(doc["id"], "it")
        _drain(w)
        assert cat.get_document(doc["id"])["state"] == DocState.PURGED


def test_worker_backs_off_on_hub_trouble_and_reports_it(box, make_settings):
    cat, paths = box
    ca = fakes.FleetCA.make()
    fakes.write_identity(paths, ca, "kiosk-7")
    hub = fakes.FakeTus(ca, "kiosk-7", fail=[507, 500])
    doc = route_sealed(cat, fakes.sealed_document(cat, paths), "c")
    w = _worker(cat, paths, make_settings, hub, backoff_base_s=30, backoff_max_s=60)
    assert w.step() >= 15  # hub full: the queue waits (jittered half of 30 s at least)
    row = Outbox(cat).get(doc["id"])
    assert row["last_error_code"] == "hub_storage_full" and row["attempts"] == 1
    st = w.status()
    assert st["last_error"]["code"] == "hub_storage_full" and "đầy" in st["summary_vi"]
    assert w.step() > 0 and Outbox(cat).get(doc["id"])["attempts"] == 1  # not due yet
    Outbox(cat).retry(doc["id"], "it")
    assert w.step() > 0 and Outbox(cat).get(doc["id"])["last_error_code"] == "hub_error"
    Outbox(cat).retry(doc["id"], "it")
    w.step()
    assert cat.get_document(doc["id"])["state"] == DocState.PURGED
    assert w.status()["last_error"] is None and w.status()["last_success"]


def test_damaged_chunk_is_resent_and_a_damaged_local_copy_is_not_sent(box, make_settings):
    cat, paths = box
    ca = fakes.FleetCA.make()
    fakes.write_identity(paths, ca, "kiosk-7")
    hub = fakes.FakeTus(ca, "kiosk-7", corrupt_next_chunk=True)
    good = route_sealed(cat, fakes.sealed_document(cat, paths, seed=1), "c")
    bad = route_sealed(cat, fakes.sealed_document(cat, paths, seed=2), "c")
    Path(bad["pdf_path"]).write_bytes(b"%PDF-1.7 tampered")
    w = _worker(cat, paths, make_settings, hub, retention_days=30)
    for _ in range(4):
        w.step()
    assert cat.get_document(good["id"])["state"] == DocState.DELIVERED
    assert Path(good["pdf_path"]).exists()  # kept 30 days
    assert cat.get_document(bad["id"])["state"] == DocState.QUEUED
    assert Outbox(cat).get(bad["id"])["last_error_code"] == "local_copy_damaged"
    assert bad["sha256"] not in hub.store
    assert any(a["action"] == "integrity.error" for a in cat.audit_records(bad["id"]))
    # retention: purged once 30 days have passed since delivery
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    assert Outbox(cat).purge_due(paths, 30, later) == [good["id"]]


def test_client_resumes_from_the_hub_offset(tmp_path):
    ca = fakes.FleetCA.make()
    hub = fakes.FakeTus(ca, "k", cut_after=[10_000])
    data = bytes(range(256)) * 200
    f = tmp_path / "doc.pdf"
    f.write_bytes(data)
    item = UploadItem("D1", f, hashlib.sha256(data).hexdigest(), len(data))
    seen: list[tuple[str, int]] = []
    with TusClient("https://hub.test", False, chunk_size=16_384, transport=hub.transport()) as c:
        with pytest.raises(UplinkError) as exc:
            c.upload(item, lambda u, o: seen.append((u, o)))
        assert exc.value.code == "connection_lost" and exc.value.transient
        item.upload_url = seen[-1][0]
        receipt = c.upload(item, lambda u, o: seen.append((u, o)))
        assert receipt["sha256"] == item.sha256 and not receipt["duplicate"]
        # the same bytes again: the hub answers with a receipt at once, nothing is sent
        sent = hub.body_bytes
        again = c.upload(UploadItem("D1", f, item.sha256, len(data)), lambda u, o: None)
        assert again["duplicate"] and hub.body_bytes == sent
    assert hub.store[item.sha256] == data
    assert ("HEAD " + seen[-1][0]) in hub.requests


def test_worker_waits_for_the_upload_window(box, make_settings):
    cat, paths = box
    ca = fakes.FleetCA.make()
    fakes.write_identity(paths, ca, "kiosk-7")
    hub = fakes.FakeTus(ca, "kiosk-7")
    doc = route_sealed(cat, fakes.sealed_document(cat, paths), "c")
    now = dt.datetime.now()
    start, end = now + dt.timedelta(hours=2), now + dt.timedelta(hours=3)
    w = _worker(cat, paths, make_settings, hub, window=f"{start:%H:%M}-{end:%H:%M}")
    assert w.step() > 0 and w.state == "waiting_window"
    assert hub.requests == [] and cat.get_document(doc["id"])["state"] == DocState.QUEUED


def test_service_starts_the_uploader_and_publishes_its_state(make_settings):
    from firmware.kiosk import Kiosk
    from firmware.service import start_uplink
    from tests.conftest import wait_for

    kiosk = Kiosk(make_settings())
    events = kiosk.events.subscribe()
    worker = start_uplink(kiosk)
    try:
        assert kiosk.uplink is worker
        assert wait_for(lambda: worker.state == "not_enrolled", 10)
        seen = []
        while not events.empty():
            seen.append(events.get_nowait())
        assert {"kind": "uplink", "state": "not_enrolled"}.items() <= seen[-1].items()
        assert kiosk.status()["uplink"]["state"] == "not_enrolled"
    finally:
        worker.stop()
        kiosk.stop()
    assert worker.state == "stopped"
