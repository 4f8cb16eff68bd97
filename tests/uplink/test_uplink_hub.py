"""The kiosk's uplink against the real hub (uvicorn over mutual TLS on loopback), through a
throttling, cutting TCP proxy: enrollment (QR file, camera frame, typed token), delivery,
and the faults the issue lists. After each: every document delivered exactly once with the
hub holding byte-identical content, or still queued with a clear reason."""

# ruff: noqa: F811
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import cv2
import pytest

from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.store.states import DocState
from firmware.uplink.client import TusClient, UplinkError, UploadItem
from firmware.uplink.identity import enroll, load_identity
from firmware.uplink.outbox import Outbox, route_sealed
from firmware.uplink.qr import EnrollTicket, parse_enroll_uri
from firmware.uplink.worker import UplinkWorker
from provisioning.schemas import verify_receipt
from tests.conftest import ROOT, run_sohoa, sohoa_cmd
from tests.support import uplink as fakes
from tests.support.hub import init_hub_dir, serve_in_thread
from tests.support.tcp_proxy import TcpProxy
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration
KIOSK = "kiosk-hn-01"


class Kiosk:
    """A kiosk's data directory with its catalog (no camera or OCR needed here)."""

    def __init__(self, root: Path):
        self.paths = DataPaths(root).ensure()
        self.catalog = Catalog(self.paths.catalog)

    def queue(self, n: int, size: int, seed: int = 0) -> list[dict[str, Any]]:
        return [
            route_sealed(
                self.catalog,
                fakes.sealed_document(self.catalog, self.paths, size=size, seed=seed + i),
                "clerk",
            )
            for i in range(n)
        ]

    def enroll(self, hub: Any) -> None:
        enroll(self.paths, KIOSK, parse_enroll_uri(hub.mint_token().uri), catalog=self.catalog)

    def state(self, doc: dict[str, Any]) -> str:
        return self.catalog.get_document(doc["id"])["state"]

    def row(self, doc: dict[str, Any]) -> dict[str, Any]:
        return Outbox(self.catalog).get(doc["id"])


@pytest.fixture
def kiosk(tmp_path):
    k = Kiosk(tmp_path / "kiosk")
    yield k
    k.catalog.close()


def _settings(make_settings, hub_url: str, **uplink: Any):
    base = {
        "hub_url": hub_url,
        "chunk_kb": 32,
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.5,
        "connect_timeout_s": 3,
        "io_timeout_s": 5,
        "retention_days": 0,  # purge at once: delivery then purge is checked
    }
    return make_settings(kiosk_id=KIOSK, uplink={**base, **uplink})


def _stored(hub: Any, sha: str) -> Path:
    return hub.settings().objects_dir / "sha256" / sha[:2] / sha


def assert_delivered_once(kiosk: Kiosk, hub: Any, docs: list[dict[str, Any]]) -> None:
    """Delivered (then purged), byte-identical on the hub, one delivery event each, a
    receipt that verifies, one object per content on the hub."""
    ca = load_identity(kiosk.paths).ca
    for d in docs:
        assert kiosk.state(d) == DocState.PURGED, kiosk.row(d)
        obj = _stored(hub, d["sha256"])
        assert hashlib.sha256(obj.read_bytes()).hexdigest() == d["sha256"]
        assert obj.stat().st_size == d["pdf_size"]
        events = [a["action"] for a in kiosk.catalog.audit_records(d["id"])]
        assert events.count("document.delivered") == 1
        verify_receipt(kiosk.row(d)["receipt"], ca, d["sha256"], d["id"], KIOSK)
    objects = [p for p in (hub.settings().objects_dir / "sha256").rglob("*") if p.is_file()]
    assert len(objects) == len({d["sha256"] for d in docs})
    assert kiosk.catalog.verify_audit().ok


def _run(worker: UplinkWorker, kiosk: Kiosk, timeout: float = 60) -> bool:
    worker.start()
    try:
        return wait_for(lambda: Outbox(kiosk.catalog).counts()["waiting"] == 0, timeout, 0.1)
    finally:
        worker.stop()


# -- enrollment -------------------------------------------------------------------------------
def test_enroll_by_qr_file_cli_and_typed_token(hub, tmp_path):
    png = tmp_path / "token.png"
    cv2.imwrite(str(png), fakes.qr_image(hub.mint_token().uri))
    data = tmp_path / "k1"
    r = run_sohoa(
        ["--data-dir", str(data), "enroll", "--qr", str(png), "--json"],
        env={"SOHOA_KIOSK_ID": "kiosk-a"},
    )
    assert r.returncode == 0, r.stderr
    ident = load_identity(DataPaths(data))
    assert ident is not None and ident.hub_url == hub.url and ident.ca_sha256 == hub.ca_sha256
    # group-readable for the fleet agent (link group only: the identity dir is 2770, in the
    # kiosk's data dir that only the link group may pass through), never for others
    assert oct(ident.key_path.stat().st_mode & 0o777) == "0o640"
    assert ident.key_path.parent.stat().st_mode & 0o7777 == 0o2770
    # the token is spent: a second kiosk is refused with the reason
    r = run_sohoa(
        ["--data-dir", str(tmp_path / "k2"), "enroll", "--qr", str(png)],
        env={"SOHOA_KIOSK_ID": "kiosk-b"},
    )
    assert r.returncode == 1 and "token_invalid" in r.stderr and "Mã đăng ký" in r.stderr
    assert load_identity(DataPaths(tmp_path / "k2")) is None
    # typed form without the CA pin: refused unless trust on first use is asked for
    tok = hub.mint_token()
    r = run_sohoa(
        ["--data-dir", str(tmp_path / "k3"), "enroll", "--token", tok.token, "--hub", hub.url],
        env={"SOHOA_KIOSK_ID": "kiosk-c"},
    )
    assert r.returncode == 1 and "enroll_ca_unpinned" in r.stderr
    assert load_identity(DataPaths(tmp_path / "k3")) is None
    # typed form with the CA pin
    r = run_sohoa(
        [
            "--data-dir",
            str(tmp_path / "k3"),
            "enroll",
            "--token",
            tok.token,
            "--hub",
            hub.url,
            "--ca-sha256",
            hub.ca_sha256,
        ],
        env={"SOHOA_KIOSK_ID": "kiosk-c"},
    )
    assert r.returncode == 0, r.stderr
    assert "Đã đăng ký" in r.stdout


def test_enroll_refuses_a_hub_whose_ca_is_not_the_pinned_one(hub, tmp_path):
    ticket = parse_enroll_uri(hub.mint_token().uri)
    paths = DataPaths(tmp_path / "k").ensure()
    with pytest.raises(UplinkError) as exc:
        enroll(paths, KIOSK, EnrollTicket(ticket.hub, ticket.token, "ab" * 32))
    assert exc.value.code == "ca_mismatch" and "không khớp" in exc.value.message_vi
    assert load_identity(paths) is None
    # the token was not spent by the refused attempt
    assert enroll(paths, KIOSK, ticket).hub_url == hub.url


# -- delivery and faults ------------------------------------------------------------------------
def test_documents_queue_before_enrollment_and_go_once_enrolled(hub, kiosk, make_settings):
    docs = kiosk.queue(3, 120_000)
    worker = UplinkWorker(kiosk.catalog, kiosk.paths, _settings(make_settings, ""))
    assert worker.step() > 0 and worker.state == "not_enrolled"
    st = worker.status()
    assert st["waiting"] == 3 and "chưa đăng ký" in st["summary_vi"]
    kiosk.enroll(hub)
    assert _run(worker, kiosk)
    assert_delivered_once(kiosk, hub, docs)
    assert worker.status()["summary_en"] == "Everything has been sent."


def test_link_cut_every_few_hundred_kb(hub, kiosk, make_settings):
    kiosk.enroll(hub)
    docs = kiosk.queue(4, 400_000)
    with TcpProxy(hub.port, cut_every=150_000) as proxy:
        worker = UplinkWorker(kiosk.catalog, kiosk.paths, _settings(make_settings, proxy.url))
        assert _run(worker, kiosk, 90)
        assert proxy.cuts >= 8
    assert_delivered_once(kiosk, hub, docs)
    # resumption: far less re-sent than a restart from zero after each cut would need
    assert sum(kiosk.row(d)["attempts"] for d in docs) >= 4


def test_hub_killed_mid_upload_then_restarted(hub, kiosk, make_settings):
    kiosk.enroll(hub)
    docs = kiosk.queue(2, 600_000)
    with TcpProxy(hub.port, rate_bps=2_000_000) as proxy:
        worker = UplinkWorker(kiosk.catalog, kiosk.paths, _settings(make_settings, proxy.url))
        worker.start()
        try:
            assert wait_for(lambda: kiosk.row(docs[0])["offset"] >= 100_000, 30, 0.05)
            hub.kill()
            assert wait_for(
                lambda: (
                    kiosk.row(docs[0])["last_error_code"]
                    in ("connection_lost", "hub_unreachable", "hub_timeout")
                ),
                30,
                0.05,
            )
            assert kiosk.state(docs[0]) == DocState.QUEUED
            assert "trung tâm" in worker.status()["summary_vi"].lower()
            hub.start()
            assert wait_for(lambda: Outbox(kiosk.catalog).counts()["waiting"] == 0, 60, 0.1)
        finally:
            worker.stop()
    assert_delivered_once(kiosk, hub, docs)


def test_kiosk_killed_mid_upload_and_restarted(hub, kiosk, tmp_path):
    """``sohoa queue send`` is killed with SIGKILL while a document is half sent; the next
    run resumes from what the hub holds and delivers everything once."""
    kiosk.enroll(hub)
    docs = kiosk.queue(2, 500_000)
    with TcpProxy(hub.port, rate_bps=1_500_000) as proxy:
        conf = tmp_path / "sohoa.toml"
        conf.write_text(
            f'data_dir = "{kiosk.paths.root}"\nkiosk_id = "{KIOSK}"\n[uplink]\n'
            f'hub_url = "{proxy.url}"\nchunk_kb = 32\nbackoff_base_s = 0.05\n'
            "backoff_max_s = 0.5\nio_timeout_s = 5\nretention_days = 0\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
        proc = subprocess.Popen(
            [*sohoa_cmd(), "--config", str(conf), "queue", "send", "--max-wait", "5"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert wait_for(lambda: kiosk.row(docs[0])["offset"] >= 64_000, 60, 0.05)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        assert kiosk.state(docs[0]) == DocState.QUEUED
        proxy.rate_bps = 0
        r = run_sohoa(["--config", str(conf), "queue", "send", "--max-wait", "5"], timeout=120)
        assert r.returncode == 0, r.stderr
    assert_delivered_once(kiosk, hub, docs)
    r = run_sohoa(["--config", str(conf), "queue", "--json"])
    assert r.returncode == 0 and '"delivered": 2' in r.stdout
    r = run_sohoa(["--config", str(conf), "queue"])  # in words, with the last delivery
    assert r.returncode == 0 and "Đã gửi hết tài liệu." in r.stdout
    assert "last delivery: 20" in r.stdout


class _FlakyStore:
    """The hub's real store whose first ``failures`` writes crash (a 5xx on the hub)."""

    def __init__(self, inner: Any, failures: int):
        self.inner, self.failures = inner, failures

    def has(self, key: str) -> bool:
        return self.inner.has(key)

    def read(self, key: str) -> bytes:
        return self.inner.read(key)

    def put_file(self, key: str, src: Path, size: int) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("object store I/O error (injected)")
        self.inner.put_file(key, src, size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_hub_5xx_keeps_documents_queued_then_delivers(tmp_path, kiosk, make_settings):
    from provisioning.hub.config import load_hub_settings
    from provisioning.hub.storage import open_store

    hub_dir = init_hub_dir(tmp_path / "hub5xx")
    store = _FlakyStore(open_store(load_hub_settings(hub_dir)), failures=2)
    with serve_in_thread(hub_dir, store=store) as h:
        kiosk.enroll(h)
        docs = kiosk.queue(2, 100_000)
        worker = UplinkWorker(kiosk.catalog, kiosk.paths, _settings(make_settings, h.url))
        worker.step()
        row = kiosk.row(docs[0])
        assert row["last_error_code"] == "hub_error" and kiosk.state(docs[0]) == DocState.QUEUED
        assert "lỗi" in row["last_error"]["vi"]
        assert _run(worker, kiosk)
        assert_delivered_once(kiosk, h, docs)
        assert store.failures == 0


def test_hub_storage_full(hub_factory, kiosk, make_settings):
    hub = hub_factory(storage={"quota_bytes": 150_000})
    kiosk.enroll(hub)
    docs = kiosk.queue(2, 100_000)
    worker = UplinkWorker(
        kiosk.catalog, kiosk.paths, _settings(make_settings, hub.url, backoff_base_s=0.05)
    )
    for _ in range(6):
        worker.step()
        time.sleep(0.1)
    delivered = [d for d in docs if kiosk.state(d) == DocState.PURGED]
    waiting = [d for d in docs if kiosk.state(d) == DocState.QUEUED]
    assert len(delivered) == 1 and len(waiting) == 1
    assert kiosk.row(waiting[0])["last_error_code"] == "hub_storage_full"
    assert "đầy" in worker.status()["summary_vi"]
    hub.stop()
    hub.overrides = {"storage": {"quota_bytes": 10_000_000}}
    hub.start()
    Outbox(kiosk.catalog).retry(waiting[0]["id"], "it")
    assert _run(worker, kiosk)
    assert_delivered_once(kiosk, hub, docs)


def test_hub_with_a_certificate_the_kiosk_does_not_trust(hub_factory, kiosk, make_settings):
    ours = hub_factory(name="hub-tinh")
    impostor = hub_factory(name="hub-khac")  # its own fleet CA
    kiosk.enroll(ours)
    docs = kiosk.queue(1, 50_000)
    worker = UplinkWorker(kiosk.catalog, kiosk.paths, _settings(make_settings, impostor.url))
    assert worker.step() > 0
    row = kiosk.row(docs[0])
    assert row["last_error_code"] == "hub_untrusted" and row["offset"] == 0
    assert kiosk.state(docs[0]) == DocState.QUEUED
    assert not (impostor.settings().objects_dir / "sha256").exists() or not any(
        (impostor.settings().objects_dir / "sha256").rglob("*")
    )
    worker.settings.uplink.hub_url = ours.url
    Outbox(kiosk.catalog).retry(docs[0]["id"], "it")
    assert _run(worker, kiosk)
    assert_delivered_once(kiosk, ours, docs)


def test_receipt_signed_by_a_foreign_key_is_not_a_delivery(hub_factory, kiosk, make_settings):
    """The hub's receipt signer is swapped for another fleet's: every upload completes but
    no receipt verifies, so nothing is marked delivered; once the hub signs properly again
    the kiosk asks afresh and gets a valid receipt without sending the bytes again."""
    hub = hub_factory(start=False)
    other = init_hub_dir(hub.dir.parent / "other-fleet", name="other")
    pki_dir = hub.dir / "pki"
    saved = {p.name: p.read_bytes() for p in pki_dir.glob("receipt*")}
    for p in (other / "pki").glob("receipt*"):
        (pki_dir / p.name).write_bytes(p.read_bytes())
    hub.start()
    kiosk.enroll(hub)
    docs = kiosk.queue(1, 80_000)
    worker = UplinkWorker(kiosk.catalog, kiosk.paths, _settings(make_settings, hub.url))
    worker.step()
    row = kiosk.row(docs[0])
    assert row["last_error_code"] == "receipt_untrusted" and row["delivered_at"] is None
    assert kiosk.state(docs[0]) == DocState.QUEUED and Path(docs[0]["pdf_path"]).exists()
    hub.stop()
    for name, data in saved.items():
        (pki_dir / name).write_bytes(data)
    hub.start()
    Outbox(kiosk.catalog).retry(docs[0]["id"], "it")
    assert _run(worker, kiosk)
    assert_delivered_once(kiosk, hub, docs)
    assert kiosk.row(docs[0])["receipt"]["duplicate"] is True


def test_the_same_document_uploaded_twice_is_stored_once(hub, kiosk, make_settings):
    kiosk.enroll(hub)
    docs = kiosk.queue(1, 200_000)
    data = Path(docs[0]["pdf_path"]).read_bytes()
    copy = kiosk.paths.root / "copy.pdf"
    copy.write_bytes(data)
    worker = UplinkWorker(
        kiosk.catalog, kiosk.paths, _settings(make_settings, hub.url, retention_days=1)
    )
    assert _run(worker, kiosk)
    ident = load_identity(kiosk.paths)
    # a kiosk restored from an old backup sends it again: the hub answers with a receipt
    # for what it already holds (duplicate), without taking the bytes
    with TusClient(hub.url, ident.ssl_context()) as c:
        item = UploadItem(docs[0]["id"], copy, docs[0]["sha256"], len(data))
        again = c.upload(item, lambda u, o: None)
        assert c.bytes_sent == 0
    verify_receipt(again, ident.ca, docs[0]["sha256"], docs[0]["id"], KIOSK)
    assert again["duplicate"] is True
    assert kiosk.state(docs[0]) == DocState.DELIVERED  # retention 1 day: still local
    obj = _stored(hub, docs[0]["sha256"])
    assert obj.read_bytes() == data
    assert len([p for p in obj.parent.parent.rglob("*") if p.is_file()]) == 1


# Certificate renewal moved to the fleet agent: tests/test_agent_heartbeat.py
# (test_agent_renews_the_certificate_and_the_uplink_uses_it).


def test_unknown_queue_entry_is_a_plain_error(kiosk):
    r = run_sohoa(["--data-dir", str(kiosk.paths.root), "queue", "retry", "D-nope"])
    assert r.returncode == 1 and "không có trong hàng chờ" in r.stderr


def test_a_stalled_link_times_out_and_the_upload_resumes(hub, kiosk, make_settings):
    """The line stalls (bytes stop moving, the connection stays open): the read timeout
    turns it into a visible reason instead of a hung uploader; when the line moves again
    the upload goes on from where the hub stands."""
    kiosk.enroll(hub)
    docs = kiosk.queue(1, 300_000)
    with TcpProxy(hub.port, rate_bps=4_000_000) as proxy:
        settings = _settings(make_settings, proxy.url, io_timeout_s=1, connect_timeout_s=1)
        worker = UplinkWorker(kiosk.catalog, kiosk.paths, settings)
        worker.start()
        try:
            assert wait_for(lambda: kiosk.row(docs[0])["offset"] > 0, 30, 0.02)
            proxy.pause()
            assert wait_for(
                lambda: kiosk.row(docs[0])["last_error_code"] == "hub_timeout", 30, 0.05
            )
            assert kiosk.state(docs[0]) == DocState.QUEUED
            assert "không phản hồi" in kiosk.row(docs[0])["last_error"]["vi"]
            proxy.resume()
            assert wait_for(lambda: Outbox(kiosk.catalog).counts()["waiting"] == 0, 60, 0.1)
        finally:
            worker.stop()
    assert_delivered_once(kiosk, hub, docs)


def test_a_revoked_kiosk_keeps_its_documents_with_the_reason(hub, kiosk, make_settings):
    kiosk.enroll(hub)
    docs = kiosk.queue(1, 40_000)
    db = hub.db()
    try:
        db.devices.revoke(KIOSK, reason="stolen")
    finally:
        db.close()
    worker = UplinkWorker(kiosk.catalog, kiosk.paths, _settings(make_settings, hub.url))
    assert worker.step() > 0
    row = kiosk.row(docs[0])
    assert row["last_error_code"] == "device_revoked" and row["delivered_at"] is None
    assert kiosk.state(docs[0]) == DocState.QUEUED and Path(docs[0]["pdf_path"]).exists()
    assert "thu hồi" in worker.status()["summary_vi"]
    assert not (hub.settings().objects_dir / "sha256").exists() or not any(
        (hub.settings().objects_dir / "sha256").rglob("*")
    )
