"""The device certificate life cycle on a real hub (uvicorn, mutual TLS on loopback).

Issue 14: renewal never retired the old certificate (one kiosk held 7 live ones, renewals
unlimited), and any token re-enrolled a revoked kiosk's id whose new holder could then read
that kiosk's open upload. Now: a renewed certificate is pending until the kiosk first uses
it, and that first use revokes every older one (one live certificate per kiosk); renewals
are limited per window; a revoked id is enrolled again only after ``sohoa hub device
reinstate ID`` (an audited event), and the new enrollment inherits no upload or receipt.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from pathlib import Path

import httpx
import pytest

from provisioning import schemas
from provisioning.hub import pki
from tests.conftest import run_sohoa
from tests.support.hub import (
    DeviceFiles,
    device_client,
    enroll_test_device,
    tus_create,
    tus_headers,
    tus_patch,
)

pytestmark = pytest.mark.integration


def _renew(dev: DeviceFiles, dest: Path) -> tuple[httpx.Response, DeviceFiles]:
    """``simplereenroll`` with ``dev``'s certificate for a new key; the new files in ``dest``."""
    key = pki.new_key()
    with device_client(dev) as c:
        r = c.post(
            schemas.EST_SIMPLEREENROLL,
            content=schemas.csr_body(pki.make_csr(key, dev.kiosk_id)),
            headers={"Content-Type": schemas.PKCS10_CONTENT_TYPE},
        )
    new = DeviceFiles(dev.kiosk_id, dest / "k.pem", dest / "c.pem", dev.ca_path, dev.hub_url)
    if r.status_code == 200:
        dest.mkdir(parents=True, exist_ok=True)
        pki.save_key(new.key_path, key)
        pki.save_cert(new.cert_path, schemas.load_pkcs7_certs_body(r.content)[0])
    return r, new


def _options(dev: DeviceFiles) -> httpx.Response:
    with device_client(dev) as c:
        return c.options("/files/", headers=tus_headers())


def _live(hub, kiosk_id: str) -> list[str]:
    db = hub.db()
    try:
        return db.certificates.live_certificates(kiosk_id)
    finally:
        db.close()


def test_first_use_of_a_renewed_certificate_retires_the_old_one(hub_factory, tmp_path):
    hub = hub_factory(certs={"max_certs_per_window": 10})
    dev = enroll_test_device(hub, "kiosk-r1")
    r, new = _renew(dev, tmp_path / "r1")
    assert r.status_code == 200, r.text
    # Until the kiosk uses the new certificate, the old one keeps working (the kiosk may
    # never have received the answer).
    assert _options(dev).status_code == 204
    assert len(_live(hub, "kiosk-r1")) == 2
    # A second renewal before the first new one was used: the unused one is revoked.
    r2, newer = _renew(dev, tmp_path / "r2")
    assert r2.status_code == 200, r2.text
    assert len(_live(hub, "kiosk-r1")) == 2
    unused = _options(new)
    assert unused.status_code == 401 and "newer certificate" in unused.json()["error"]["message"]
    # The kiosk uses the newest: from then on it is the only live one.
    assert _options(newer).status_code == 204
    (serial,) = _live(hub, "kiosk-r1")
    assert serial == format(pki.load_cert(newer.cert_path).serial_number, "x")
    old = _options(dev)
    assert old.status_code == 401
    err = old.json()["error"]
    assert err["code"] == "cert_invalid" and "replaced by a newer certificate" in err["message"]
    db = hub.db()
    try:
        (ev,) = db.events.events("certificate_activated")
        assert ev["detail"]["serial"] == serial
        assert ev["detail"]["superseded"] == [
            format(pki.load_cert(dev.cert_path).serial_number, "x")
        ]
    finally:
        db.close()
    # The renewed certificate renews in its turn (the chain of renewals goes on).
    r3, newest = _renew(newer, tmp_path / "r3")
    assert r3.status_code == 200 and _options(newest).status_code == 204
    assert _options(newer).status_code == 401


def test_renewals_are_limited_per_window(hub_factory, tmp_path):
    hub = hub_factory(certs={"max_certs_per_window": 3, "renew_window_hours": 24})
    dev = enroll_test_device(hub, "kiosk-r2")  # the enrollment's certificate counts
    for i in range(2):
        r, dev = _renew(dev, tmp_path / f"n{i}")
        assert r.status_code == 200, r.text
        assert _options(dev).status_code == 204
    for _ in range(5):  # what used to give a kiosk 7 live certificates
        r, _ = _renew(dev, tmp_path / "refused")
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "too_many_renewals" and r.json()["error"]["message_vi"]
        assert 23 * 3600 < int(r.headers["Retry-After"]) <= 24 * 3600 + 1
    assert len(_live(hub, "kiosk-r2")) == 1
    assert _options(dev).status_code == 204  # the current certificate is unaffected
    listed = run_sohoa(["hub", "device", "list", "--dir", str(hub.dir), "--json"])
    (row,) = json.loads(listed.stdout)
    assert row["live_certs"] == 1


def test_a_revoked_id_needs_reinstatement_and_the_new_enrollment_inherits_nothing(hub, tmp_path):
    dev = enroll_test_device(hub, "kiosk-r3")
    body = b"%PDF-1.7 sealed document bytes " * 100
    sha = hashlib.sha256(body).hexdigest()
    meta = {"filename": "a.pdf", "sha256": sha, "document_id": "D-1"}
    other = b"%PDF-1.7 half sent " * 100
    meta2 = {"filename": "b.pdf", "sha256": hashlib.sha256(other).hexdigest(), "document_id": "D-2"}
    with device_client(dev) as c:
        done = tus_create(c, len(body), meta).headers["Location"]
        assert tus_patch(c, done, 0, body).status_code == 204
        assert c.get(done + "/receipt").status_code == 200
        half = tus_create(c, len(other), meta2).headers["Location"]
        assert tus_patch(c, half, 0, other[:500]).status_code == 204

    r = run_sohoa(
        ["hub", "device", "revoke", "kiosk-r3", "--dir", str(hub.dir), "--reason", "lost"]
    )
    assert r.returncode == 0, r.stderr
    # Any token used to re-enroll a revoked id; now it is refused and the token kept.
    tok = hub.mint_token().token
    key = pki.new_key()
    csr = schemas.csr_body(pki.make_csr(key, "kiosk-r3"))
    ctx = ssl.create_default_context(cafile=str(hub.ca_path))
    headers = {"Authorization": f"Bearer {tok}", "Content-Type": schemas.PKCS10_CONTENT_TYPE}
    refused = httpx.post(
        hub.url + schemas.EST_SIMPLEENROLL, content=csr, headers=headers, verify=ctx
    )
    assert refused.status_code == 403, refused.text
    err = refused.json()["error"]
    assert err["code"] == "device_revoked_enroll" and "reinstate" in err["message"]
    assert err["message_vi"]

    # The kiosk's own enrollment client says what to do, in Vietnamese first.
    from firmware.store.paths import DataPaths
    from firmware.uplink.client import UplinkError
    from firmware.uplink.identity import enroll, load_identity
    from firmware.uplink.qr import parse_enroll_uri

    kpaths = DataPaths(tmp_path / "kiosk").ensure()
    with pytest.raises(UplinkError) as info:
        enroll(kpaths, "kiosk-r3", parse_enroll_uri(hub.mint_token().uri))
    assert info.value.code == "device_revoked_enroll" and not info.value.transient
    assert "thu hồi" in info.value.message_vi and "reinstate" in info.value.message_en
    assert load_identity(kpaths) is None

    # IT reinstates the id, explicitly and on the record.
    r = run_sohoa(
        ["hub", "device", "reinstate", "kiosk-r3", "--dir", str(hub.dir), "--reason", "new board"]
    )
    assert r.returncode == 0, r.stderr
    again = run_sohoa(["hub", "device", "reinstate", "kiosk-r3", "--dir", str(hub.dir)])
    assert again.returncode == 1 and "device_not_revoked" in again.stderr
    db = hub.db()
    try:
        (ev,) = db.events.events("reinstated")
        assert ev["kiosk_id"] == "kiosk-r3" and ev["detail"]["reason"] == "new board"
        assert ev["detail"]["by"]
    finally:
        db.close()

    ok = httpx.post(hub.url + schemas.EST_SIMPLEENROLL, content=csr, headers=headers, verify=ctx)
    assert ok.status_code == 200, ok.text
    new = DeviceFiles("kiosk-r3", tmp_path / "n.key", tmp_path / "n.crt", hub.ca_path, hub.url)
    pki.save_key(new.key_path, key)
    pki.save_cert(new.cert_path, schemas.load_pkcs7_certs_body(ok.content)[0])

    with device_client(new) as c:
        # The old identity's open upload and its receipts are out of reach.
        assert c.head(half, headers=tus_headers()).status_code == 404
        assert tus_patch(c, half, 500, other[500:]).status_code == 404
        assert c.get(done + "/receipt").status_code == 404
        assert c.delete(half, headers=tus_headers()).status_code == 404
        # The dedupe shortcut does not tell it what the old identity delivered.
        fresh = tus_create(c, len(body), meta)
        assert fresh.status_code == 201, fresh.text
    assert _options(dev).status_code == 403  # the old certificate stays revoked
    db = hub.db()
    try:
        kinds = [e["kind"] for e in db.events.events(kiosk_id="kiosk-r3")]
        assert kinds.count("enrolled") == 2 and "revoked" in kinds and "reinstated" in kinds
        assert db.uploads.upload(half.rsplit("/", 1)[1], "kiosk-r3", enrollment_id=None) is None
    finally:
        db.close()


def test_parallel_first_uses_activate_once(hub, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    dev = enroll_test_device(hub, "kiosk-r4")
    r, new = _renew(dev, tmp_path / "r4")
    assert r.status_code == 200, r.text
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: _options(new).status_code, range(6)))
    assert codes == [204] * 6
    assert _options(dev).status_code == 401
    assert len(_live(hub, "kiosk-r4")) == 1
    db = hub.db()
    try:
        (ev,) = db.events.events("certificate_activated", kiosk_id="kiosk-r4")
        assert len(ev["detail"]["superseded"]) == 1
    finally:
        db.close()
