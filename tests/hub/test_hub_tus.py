"""tus ingest against a real hub: receipts, resumption, dedupe, faults, hostile requests."""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest

from provisioning import schemas
from provisioning.hub.storage import LocalStore
from tests.support.hub import (
    device_client,
    enroll_test_device,
    init_hub_dir,
    serve_in_thread,
    tus_create,
    tus_headers,
    tus_patch,
)
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration


def _data(n: int, seed: int = 1) -> bytes:
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])


def _meta(data: bytes, doc: str = "doc-1", **extra: str) -> dict[str, str]:
    return {
        "filename": f"{doc}.pdf",
        "sha256": hashlib.sha256(data).hexdigest(),
        "document_id": doc,
        "content_type": "application/pdf",
        "kind": "document",
        **extra,
    }


_create, _patch = tus_create, tus_patch


def _head_offset(c: httpx.Client, loc: str) -> int:
    r = c.head(loc, headers=tus_headers())
    assert r.status_code == 200, r.status_code
    return int(r.headers["Upload-Offset"])


def _upload(c: httpx.Client, data: bytes, doc: str = "doc-1", chunk: int = 100_000):
    r = _create(c, len(data), _meta(data, doc))
    assert r.status_code == 201, r.text
    loc = r.headers["Location"]
    off = 0
    while off < len(data):
        piece = data[off : off + chunk]
        r = _patch(c, loc, off, piece, **{"Upload-Checksum": schemas.upload_checksum(piece)})
        assert r.status_code == 204, r.text
        off = int(r.headers["Upload-Offset"])
    return loc, schemas.decode_receipt_header(r.headers[schemas.RECEIPT_HEADER])


def _ca(hub) -> bytes:
    return hub.ca_path.read_bytes()


def test_options_advertises_the_contract(hub):
    dev = enroll_test_device(hub)
    with device_client(dev) as c:
        r = c.options("/files/", headers=tus_headers())
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0"
    assert r.headers["Tus-Extension"] == "creation,termination,checksum,expiration"
    assert r.headers["Tus-Checksum-Algorithm"] == "sha1,sha256"
    assert int(r.headers["Tus-Max-Size"]) > 0


def test_upload_in_chunks_gets_verified_receipt_and_lands_byte_identical(hub):
    dev = enroll_test_device(hub, "kiosk-a")
    data = _data(350_000)
    sha = hashlib.sha256(data).hexdigest()
    with device_client(dev) as c:
        loc, receipt = _upload(c, data, "CV-64")
        checked = schemas.verify_receipt(receipt, _ca(hub), sha, "CV-64", "kiosk-a")
        assert checked["size"] == len(data) and checked["duplicate"] is False
        assert checked["stored_as"] == f"sha256/{sha[:2]}/{sha}"
        assert checked["hub"] == "test-hub"
        # A kiosk killed before reading the final PATCH can fetch the same receipt later.
        again = c.get(f"{loc}/receipt")
        assert again.status_code == 200 and again.json() == receipt
        assert _head_offset(c, loc) == len(data)
        # A repeated final PATCH is answered idempotently with the receipt.
        r = _patch(c, loc, len(data), b"")
        assert r.status_code == 204
        assert schemas.decode_receipt_header(r.headers[schemas.RECEIPT_HEADER]) == receipt
    stored = hub.dir / "objects" / "sha256" / sha[:2] / sha
    assert stored.read_bytes() == data
    assert list((hub.dir / "uploads").iterdir()) == []
    kinds = [e["kind"] for e in hub.db().events.events()]
    assert "receipt" in kinds and "upload_created" in kinds


def test_receipt_before_completion_is_404_and_termination(hub):
    dev = enroll_test_device(hub)
    data = _data(10_000)
    with device_client(dev) as c:
        loc = _create(c, len(data), _meta(data)).headers["Location"]
        assert _patch(c, loc, 0, data[:4000]).status_code == 204
        r = c.get(f"{loc}/receipt")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert c.delete(loc, headers=tus_headers()).status_code == 204
        assert c.head(loc, headers=tus_headers()).status_code == 404
        assert _patch(c, loc, 4000, data[4000:]).status_code == 404
    assert list((hub.dir / "uploads").iterdir()) == []


def test_tuspy_reference_client_interoperates(hub, monkeypatch, tmp_path):
    from tusclient import client as tus_client

    dev = enroll_test_device(hub, "kiosk-tuspy")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(hub.ca_path))
    data = _data(300_001, seed=7)
    src = tmp_path / "doc.pdf"
    src.write_bytes(data)
    meta = _meta(data, "QD-12")
    tc = tus_client.TusClient(
        hub.url + "/files/", client_cert=(str(dev.cert_path), str(dev.key_path))
    )

    # First uploader sends two chunks only, as if the kiosk stopped there.
    first = tc.uploader(str(src), chunk_size=64 * 1024, metadata=meta, upload_checksum=True)
    first.upload(stop_at=128 * 1024)
    assert first.offset == 128 * 1024
    # A new uploader resumes from the server's offset (tuspy asks HEAD) and finishes.
    second = tc.uploader(
        str(src), url=first.url, chunk_size=100_000, metadata=meta, upload_checksum=True
    )
    assert second.offset == 128 * 1024
    second.upload()
    assert second.offset == len(data)
    with device_client(dev) as c:
        r = c.get(f"{first.url}/receipt")
    assert r.status_code == 200
    schemas.verify_receipt(r.json(), _ca(hub), meta["sha256"], "QD-12", "kiosk-tuspy")
    sha = meta["sha256"]
    assert (hub.dir / "objects" / "sha256" / sha[:2] / sha).read_bytes() == data


def test_dedupe_same_document_answers_with_receipt_and_same_bytes_stored_once(hub):
    a = enroll_test_device(hub, "kiosk-a")
    b = enroll_test_device(hub, "kiosk-b")
    data = _data(120_000, seed=3)
    sha = hashlib.sha256(data).hexdigest()
    with device_client(a) as c:
        _upload(c, data, "TB-1")
        r = _create(c, len(data), _meta(data, "TB-1"))
        assert r.status_code == 200
        dup = schemas.verify_receipt(r.json(), _ca(hub), sha, "TB-1", "kiosk-a")
        assert dup["duplicate"] is True
    with device_client(b) as c:
        _, rb = _upload(c, data, "TB-1-copy")
    assert schemas.verify_receipt(rb, _ca(hub), sha, "TB-1-copy", "kiosk-b")["duplicate"] is True
    files = [p for p in (hub.dir / "objects").rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].read_bytes() == data
    db = hub.db()
    assert db.receipts.receipt_count(sha) == 3
    assert db.receipts.stored_bytes() == len(data)


def test_hash_mismatch_discards_upload_and_stores_nothing(hub):
    dev = enroll_test_device(hub)
    data = _data(50_000)
    meta = _meta(data)
    meta["sha256"] = hashlib.sha256(b"other bytes").hexdigest()
    with device_client(dev) as c:
        loc = _create(c, len(data), meta).headers["Location"]
        r = _patch(c, loc, 0, data)
        assert r.status_code == 460
        assert r.json()["error"]["code"] == "hash_mismatch"
        assert c.head(loc, headers=tus_headers()).status_code == 404
    assert not any(p.is_file() for p in (hub.dir / "objects").rglob("*"))
    assert hub.db().receipts.receipt_count() == 0


def test_chunk_checksum_mismatch_discards_only_that_chunk(hub):
    dev = enroll_test_device(hub)
    data = _data(80_000)
    with device_client(dev) as c:
        loc = _create(c, len(data), _meta(data)).headers["Location"]
        assert _patch(c, loc, 0, data[:30_000]).status_code == 204
        bad = _patch(
            c,
            loc,
            30_000,
            data[30_000:60_000],
            **{"Upload-Checksum": schemas.upload_checksum(b"x")},
        )
        assert bad.status_code == 460 and bad.json()["error"]["code"] == "checksum_mismatch"
        assert _head_offset(c, loc) == 30_000
        sha1 = schemas.upload_checksum(data[30_000:], "sha1")
        r = _patch(c, loc, 30_000, data[30_000:], **{"Upload-Checksum": sha1})
        assert r.status_code == 204 and schemas.RECEIPT_HEADER in r.headers


def test_connection_cut_mid_body_keeps_what_arrived(hub):
    dev = enroll_test_device(hub)
    data = _data(1_000_000, seed=5)
    with device_client(dev) as c:
        loc = _create(c, len(data), _meta(data)).headers["Location"]
    sent = 600_000
    raw = socket.create_connection(("127.0.0.1", hub.port))
    tls = dev.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1")
    head = (
        f"PATCH {loc} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: {schemas.TUS_CONTENT_TYPE}\r\nUpload-Offset: 0\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode()
    tls.sendall(head + data[:sent])
    tls.close()
    with device_client(dev) as c:
        assert wait_for(lambda: _head_offset(c, loc) > 0, timeout=20)
        # The hub may have been reading the last buffered piece when the cut came; whatever
        # it acknowledged is a prefix of what was sent, and the upload resumes from there.
        off = _head_offset(c, loc)
        assert 0 < off <= sent
        r = _patch(c, loc, off, data[off:])
        assert r.status_code == 204
        receipt = schemas.decode_receipt_header(r.headers[schemas.RECEIPT_HEADER])
    sha = hashlib.sha256(data).hexdigest()
    schemas.verify_receipt(receipt, _ca(hub), sha, "doc-1", dev.kiosk_id)
    assert (hub.dir / "objects" / "sha256" / sha[:2] / sha).read_bytes() == data


def test_hub_killed_mid_upload_resumes_byte_identical(hub_factory):
    hub = hub_factory(uploads={"sync_every": 64 * 1024})
    dev = enroll_test_device(hub, "kiosk-k")
    data = _data(3_000_000, seed=9)
    with device_client(dev) as c:
        loc = _create(c, len(data), _meta(data, "KH-9")).headers["Location"]

    stop = threading.Event()

    def slow_body():
        for i in range(0, len(data), 32 * 1024):
            if stop.is_set():
                return
            yield data[i : i + 32 * 1024]
            time.sleep(0.01)

    failures: list[BaseException] = []

    def send() -> None:
        try:
            with device_client(dev) as c:
                _patch(c, loc, 0, slow_body())  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            failures.append(exc)

    t = threading.Thread(target=send)
    t.start()
    with device_client(dev) as c:
        assert wait_for(lambda: _head_offset(c, loc) >= 256 * 1024, timeout=60)
    hub.kill()
    stop.set()
    t.join(30)
    assert failures, "the PATCH must have been cut by the kill"

    hub.start()
    with device_client(dev) as c:
        off = _head_offset(c, loc)
        assert 256 * 1024 <= off < len(data)
        part = hub.dir / "uploads" / f"{loc.rsplit('/', 1)[1]}.part"
        assert part.read_bytes()[:off] == data[:off]
        r = _patch(c, loc, off, data[off:])
        assert r.status_code == 204, r.text
        receipt = schemas.decode_receipt_header(r.headers[schemas.RECEIPT_HEADER])
    sha = hashlib.sha256(data).hexdigest()
    schemas.verify_receipt(receipt, _ca(hub), sha, "KH-9", "kiosk-k")
    assert (hub.dir / "objects" / "sha256" / sha[:2] / sha).read_bytes() == data
    assert hub.db().receipts.receipt_count(sha) == 1


def test_quota_full_is_507_and_nothing_half_stored(hub_factory):
    hub = hub_factory(storage={"quota_bytes": 300_000})
    dev = enroll_test_device(hub)
    first, second = _data(200_000, seed=1), _data(200_000, seed=2)
    with device_client(dev) as c:
        _upload(c, first, "A")
        r = _create(c, len(second), _meta(second, "B"))
        assert r.status_code == 507
        err = r.json()["error"]
        assert err["code"] == "storage_full" and "đầy" in err["message_vi"]
    files = [p for p in (hub.dir / "objects").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in files] == [first]


class FullDisk(LocalStore):
    """A local store whose disk is full until ``full`` is cleared."""

    full = True

    def _move_in(self, src: Path, dst: Path) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        super()._move_in(src, dst)


def test_enospc_at_store_is_507_then_the_retry_delivers(tmp_path):
    hub_dir = init_hub_dir(tmp_path / "hub")
    store = FullDisk(hub_dir / "objects")
    with serve_in_thread(hub_dir, store=store) as hub:
        dev = enroll_test_device(hub, "kiosk-full")
        data = _data(150_000)
        with device_client(dev) as c:
            loc = _create(c, len(data), _meta(data)).headers["Location"]
            assert _patch(c, loc, 0, data[:100_000]).status_code == 204
            r = _patch(c, loc, 100_000, data[100_000:])
            assert r.status_code == 507 and r.json()["error"]["code"] == "storage_full"
            assert int(r.headers["Upload-Offset"]) == 100_000
            assert _head_offset(c, loc) == 100_000
            assert c.get(f"{loc}/receipt").status_code == 404
            assert not any(p.is_file() for p in (hub_dir / "objects").rglob("*"))
            store.full = False
            r = _patch(c, loc, 100_000, data[100_000:])
            assert r.status_code == 204
            receipt = schemas.decode_receipt_header(r.headers[schemas.RECEIPT_HEADER])
    sha = hashlib.sha256(data).hexdigest()
    schemas.verify_receipt(receipt, _ca(hub), sha, "doc-1", "kiosk-full")
    assert store.read(f"sha256/{sha[:2]}/{sha}") == data


def test_hostile_requests_get_4xx_json_never_5xx(hub):
    a = enroll_test_device(hub, "kiosk-a")
    b = enroll_test_device(hub, "kiosk-b")
    data = _data(20_000)
    meta_hdr = schemas.encode_tus_metadata(_meta(data))
    with device_client(a) as c:
        loc = _create(c, len(data), _meta(data)).headers["Location"]
        _patch(c, loc, 0, data[:5000])
        cases: list[tuple[str, httpx.Response, int]] = []

        def post(**h: str) -> httpx.Response:
            return c.post("/files/", headers=tus_headers(**h))

        cases += [
            ("no length", post(**{"Upload-Metadata": meta_hdr}), 400),
            ("negative", post(**{"Upload-Length": "-5", "Upload-Metadata": meta_hdr}), 400),
            ("float", post(**{"Upload-Length": "1e9", "Upload-Metadata": meta_hdr}), 400),
            ("huge", post(**{"Upload-Length": "9" * 30, "Upload-Metadata": meta_hdr}), 400),
            ("over max", post(**{"Upload-Length": str(10**15), "Upload-Metadata": meta_hdr}), 413),
            ("zero", post(**{"Upload-Length": "0", "Upload-Metadata": meta_hdr}), 400),
            ("deferred", post(**{"Upload-Defer-Length": "1", "Upload-Metadata": meta_hdr}), 400),
            ("meta garbage", post(**{"Upload-Length": "10", "Upload-Metadata": "a b c,,"}), 400),
            (
                "meta bad b64",
                post(**{"Upload-Length": "10", "Upload-Metadata": "filename @@@"}),
                400,
            ),
            (
                "meta not utf8",
                post(**{"Upload-Length": "10", "Upload-Metadata": "filename //79"}),
                400,
            ),
            (
                "meta dup",
                post(**{"Upload-Length": "10", "Upload-Metadata": meta_hdr + "," + meta_hdr}),
                400,
            ),
            (
                "meta missing sha",
                post(
                    **{
                        "Upload-Length": "10",
                        "Upload-Metadata": schemas.encode_tus_metadata(
                            {"filename": "a", "document_id": "d"}
                        ),
                    }
                ),
                400,
            ),
            (
                "meta bad sha",
                post(
                    **{
                        "Upload-Length": "10",
                        "Upload-Metadata": schemas.encode_tus_metadata(
                            {"filename": "a", "document_id": "d", "sha256": "zz"}
                        ),
                    }
                ),
                400,
            ),
            (
                "no tus version",
                c.post("/files/", headers={"Upload-Length": "10", "Upload-Metadata": meta_hdr}),
                412,
            ),
            ("wrong type", _patch(c, loc, 5000, b"x", **{"Content-Type": "text/plain"}), 415),
            (
                "no offset",
                c.patch(
                    loc,
                    content=b"x",
                    headers=tus_headers(**{"Content-Type": schemas.TUS_CONTENT_TYPE}),
                ),
                400,
            ),
            ("bad offset", _patch(c, loc, 4000, b"xxxx"), 409),
            ("offset text", _patch(c, loc, 0, b"", **{"Upload-Offset": "zero"}), 400),
            ("past length", _patch(c, loc, 5000, b"y" * 20_000), 400),
            (
                "bad checksum hdr",
                _patch(c, loc, 5000, b"y", **{"Upload-Checksum": "md5 AAAA"}),
                400,
            ),
            ("unknown id", _patch(c, "/files/0000", 0, b"y"), 404),
            ("traversal", c.head("/files/..%2F..%2Fetc%2Fpasswd", headers=tus_headers()), 404),
            ("method", c.put(loc, content=b"x", headers=tus_headers()), 405),
            ("no route", c.get("/no-such-route", headers=tus_headers()), 404),
        ]
        # The upload is untouched by all of that.
        assert _head_offset(c, loc) == 5000
    with device_client(b) as other:
        cases += [
            ("other head", other.head(loc, headers=tus_headers()), 404),
            ("other patch", _patch(other, loc, 5000, data[5000:]), 404),
            ("other receipt", other.get(f"{loc}/receipt"), 404),
            ("other delete", other.delete(loc, headers=tus_headers()), 404),
        ]
    for what, r, want in cases:
        assert r.status_code == want, (what, r.status_code, r.text)
        if r.request.method != "HEAD":
            err = r.json()["error"]
            assert err["code"] and err["message"] and err["message_vi"], what
    with device_client(a) as c:
        assert _head_offset(c, loc) == 5000
    assert "Traceback" not in (hub.log_path.read_text())


def test_no_client_certificate_means_401_on_ingest(hub):
    ctx = ssl.create_default_context(cafile=str(hub.ca_path))
    r = httpx.post(hub.url + "/files/", headers=tus_headers(**{"Upload-Length": "5"}), verify=ctx)
    assert r.status_code == 401 and r.json()["error"]["code"] == "cert_required"
