"""Hub hardening from the attack pass of issue 14 (low items), against a real hub (uvicorn,
mutual TLS on loopback): numeric headers parsed as ASCII only, ``X-Forwarded-For`` believed
only from configured proxies, uploads refused when they do not fit the disk, and
connections whose request headers never complete closed within the configured bound."""

from __future__ import annotations

import shutil
import socket
import ssl
import time

import httpx
import pytest

from provisioning import schemas
from provisioning.hub import pki
from provisioning.hub.config import HubConfigError, load_hub_settings
from tests.support.hub import device_client, enroll_test_device, tus_create, tus_headers

pytestmark = pytest.mark.integration

BAD_TOKEN = "not-a-token-at-all-but-long-enough-123"


def _meta(n: int = 0) -> dict[str, str]:
    return {"filename": f"d{n}.pdf", "sha256": f"{n:064x}", "document_id": f"D-{n}"}


# -- numeric headers ----------------------------------------------------------------------------


def test_numeric_headers_accept_ascii_digits_only(hub):
    dev = enroll_test_device(hub, "kiosk-num")
    with device_client(dev) as c:
        # "²" (U+00B2) arrives as the latin-1 byte 0xB2: str.isdigit() says yes, int() says
        # no; it used to be a 500. Other non-ASCII digits and signs are refused alike.
        for raw in (b"\xb2", b"\xb9\xb3", b"+5", b"-1", b"1_000", b"0x10", b"5 5"):
            r = c.post(
                "/files/",
                headers={
                    "Tus-Resumable": schemas.TUS_VERSION,
                    "Upload-Length": raw,
                    "Upload-Metadata": schemas.encode_tus_metadata(_meta()),
                },
            )
            assert r.status_code == 400, (raw, r.status_code, r.text)
            assert r.json()["error"]["code"] == "bad_request"
            assert "Upload-Length" in r.json()["error"]["message"]
        r = tus_create(c, 10, _meta())
        assert r.status_code == 201, r.text
        loc = r.headers["Location"]
        r = c.patch(
            loc,
            content=b"0123456789",
            headers={
                "Tus-Resumable": schemas.TUS_VERSION,
                "Upload-Offset": b"\xb2",
                "Content-Type": schemas.TUS_CONTENT_TYPE,
            },
        )
        assert r.status_code == 400 and "Upload-Offset" in r.json()["error"]["message"]
        assert c.head(loc, headers=tus_headers()).headers["Upload-Offset"] == "0"
    assert "Traceback" not in hub.log_path.read_text()


# -- X-Forwarded-For ----------------------------------------------------------------------------


def _anon(hub) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=str(hub.ca_path))
    return httpx.Client(base_url=hub.url, verify=ctx, timeout=30)


def _enroll(c: httpx.Client, token: str, kiosk_id: str = "kiosk-x", **headers: str):
    return c.post(
        schemas.EST_SIMPLEENROLL,
        content=schemas.csr_body(pki.make_csr(pki.new_key(), kiosk_id)),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": schemas.PKCS10_CONTENT_TYPE,
            **headers,
        },
    )


def _blocked_addresses(hub) -> list[str]:
    db = hub.db()
    try:
        return [e["detail"]["address"] for e in db.events.events("enroll_blocked")]
    finally:
        db.close()


def test_spoofed_forwarded_for_from_loopback_does_not_escape_the_limit(hub_factory):
    """The client is on 127.0.0.1, which uvicorn trusts by default: each bad attempt
    claiming a fresh address used to count against that address, so the block never came,
    and a blocked client got in again by claiming another one."""
    hub = hub_factory(enroll={"max_failures": 3, "window_s": 600})
    with _anon(hub) as c:
        for i in range(3):
            r = _enroll(c, BAD_TOKEN, **{"X-Forwarded-For": f"203.0.113.{i + 1}"})
            assert r.status_code == 401
        r = _enroll(c, hub.mint_token().token, **{"X-Forwarded-For": "198.51.100.7"})
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "too_many_attempts"
    assert _blocked_addresses(hub) == ["127.0.0.1"]


def test_forwarded_for_is_believed_from_a_configured_proxy(hub_factory):
    hub = hub_factory(enroll={"max_failures": 2, "window_s": 600}, trusted_proxies=["127.0.0.1"])
    with _anon(hub) as c:
        for _ in range(2):
            assert _enroll(c, BAD_TOKEN, **{"X-Forwarded-For": "203.0.113.9"}).status_code == 401
        blocked = _enroll(c, hub.mint_token().token, **{"X-Forwarded-For": "203.0.113.9"})
        assert blocked.status_code == 429
        # Another client behind the same proxy is not blocked.
        ok = _enroll(c, hub.mint_token().token, "kiosk-ok", **{"X-Forwarded-For": "203.0.113.10"})
        assert ok.status_code == 200, ok.text
    assert _blocked_addresses(hub) == ["203.0.113.9"]


def test_trusted_proxies_must_be_addresses(tmp_path):
    from tests.support.hub import init_hub_dir

    d = init_hub_dir(tmp_path / "hub")
    assert "trusted_proxies = []" in (d / "hub.toml").read_text()
    assert load_hub_settings(d).trusted_proxies == []
    assert load_hub_settings(d, trusted_proxies=["10.0.0.0/8", "::1"]).trusted_proxies
    for bad in (["*"], ["proxy.example"]):
        with pytest.raises(HubConfigError, match="trusted_proxies"):
            load_hub_settings(d, trusted_proxies=bad)


# -- disk room ------------------------------------------------------------------------------------


def test_uploads_that_do_not_fit_the_disk_are_refused_at_post(hub_factory, tmp_path):
    """Open uploads count with what they may still bring: two uploads of 600 MB each fit
    the free disk alone, but not together within free space minus the reserve. No byte is
    written; the reserve is set so that about 1 GB remains promised-free for uploads, so
    other writers on this machine moving the free space by a few hundred MB do not matter."""
    free = shutil.disk_usage(tmp_path).free
    if free < 3 * 1024**3:
        pytest.skip("needs a few GB of free disk")
    mb600 = 600 * 1024**2
    hub = hub_factory(storage={"reserve_bytes": free - 1024**3}, uploads={"max_size": 2 * mb600})
    dev = enroll_test_device(hub, "kiosk-disk")
    with device_client(dev) as c:
        first = tus_create(c, mb600, _meta(1))
        assert first.status_code == 201, first.text
        second = tus_create(c, mb600, _meta(2))
        assert second.status_code == 507, second.text
        assert second.json()["error"]["code"] == "storage_full"
        assert "hub disk" in second.json()["error"]["message"]
        # Ending the first upload gives its room back.
        assert c.delete(first.headers["Location"], headers=tus_headers()).status_code == 204
        assert tus_create(c, mb600, _meta(3)).status_code == 201
    db = hub.db()
    try:
        assert db.uploads.open_upload_remaining() == mb600
    finally:
        db.close()


def test_default_reserve_is_written_to_hub_toml(tmp_path):
    from tests.support.hub import init_hub_dir

    d = init_hub_dir(tmp_path / "hub")
    assert "reserve_bytes = 1073741824" in (d / "hub.toml").read_text()
    assert load_hub_settings(d).storage.reserve_bytes == 1024**3


# -- header timeout -------------------------------------------------------------------------------


def _tls_socket(hub) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(hub.ca_path))
    raw = socket.create_connection(("127.0.0.1", hub.port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def _closed_within(sock: ssl.SSLSocket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (EOF or reset), None if it did not."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except (ConnectionResetError, ssl.SSLError, OSError):
        pass
    return time.monotonic() - start


def test_connections_with_unfinished_headers_are_closed(hub_factory):
    hub = hub_factory(header_timeout_s=1)
    bound = 6.0  # the setting plus generous scheduling slack on a shared machine
    with _tls_socket(hub) as s:  # a partial request line
        s.sendall(b"GET /.well-known/est/cac")
        assert _closed_within(s, bound) is not None
    with _tls_socket(hub) as s:  # a slowloris: one header byte at a time
        s.sendall(b"GET /.well-known/est/cacerts HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < bound:
            try:
                s.sendall(b"X")
            except OSError:
                closed = True
                break
            if _closed_within(s, 0.3) is not None:
                closed = True
                break
        assert closed
    with _tls_socket(hub) as s:  # connected, nothing sent
        assert _closed_within(s, bound) is not None
    # A complete request on a fresh connection is served, and a keep-alive connection
    # idles under uvicorn's keep-alive rule, not this one.
    with _tls_socket(hub) as s:
        time.sleep(0.3)
        s.sendall(b"GET /.well-known/est/cacerts HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(10)
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
