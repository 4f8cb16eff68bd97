"""Enrollment against a real hub (uvicorn, mTLS on loopback): tokens, CSRs, certificates."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning import schemas
from provisioning.hub import pki
from tests.support.hub import device_client, enroll_test_device, tus_headers

pytestmark = pytest.mark.integration


def _ca_ctx(hub) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(hub.ca_path))


def _enroll(hub, token: str, body: bytes, ctype: str = schemas.PKCS10_CONTENT_TYPE):
    return httpx.post(
        hub.url + schemas.EST_SIMPLEENROLL,
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": ctype},
        verify=_ca_ctx(hub),
    )


def _csr_with(key, uris: list[str]) -> x509.CertificateSigningRequest:
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    )
    if uris:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]),
            critical=False,
        )
    return b.sign(key, hashes.SHA256())


def test_cacerts_without_trust_matches_qr_fingerprint(hub):
    # The kiosk fetches the CA before it trusts anything, then pins it by the QR's hash.
    r = httpx.get(hub.url + schemas.EST_CACERTS, verify=False)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(schemas.PKCS7_CONTENT_TYPE)
    (ca,) = schemas.load_pkcs7_certs_body(r.content)
    info = schemas.parse_enroll_uri(hub.mint_token("g").uri)
    assert schemas.cert_sha256(ca) == info.ca_sha256 == hub.ca_sha256
    assert info.hub == hub.url
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca is True


def test_enrollment_issues_device_certificate_once_per_token(hub):
    tok = hub.mint_token("xa-phuong").token
    key = pki.new_key()
    r = _enroll(hub, tok, schemas.csr_body(pki.make_csr(key, "kiosk-7")))
    assert r.status_code == 200, r.text
    (cert,) = schemas.load_pkcs7_certs_body(r.content)
    assert schemas.kiosk_id_from_cert(cert) == "kiosk-7"
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=90) <= life <= timedelta(days=90, minutes=10)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kiosk-7"
    ca = x509.load_pem_x509_certificate(hub.ca_path.read_bytes())
    cert.verify_directly_issued_by(ca)

    # The same token cannot enroll a second device.
    again = _enroll(hub, tok, schemas.csr_body(pki.make_csr(pki.new_key(), "kiosk-8")))
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "token_invalid"
    db = hub.db()
    try:
        enrolled = db.events.events("enrolled")
        assert [e["kiosk_id"] for e in enrolled] == ["kiosk-7"]
        assert enrolled[0]["detail"]["group"] == "xa-phuong"
        (dev,) = db.devices.list_devices()
        assert dev["group"] == "xa-phuong" and dev["status"] == "active"
    finally:
        db.close()


def test_bad_tokens_and_csrs_are_refused_without_consuming_the_token(hub):
    good_csr = schemas.csr_body(pki.make_csr(pki.new_key(), "kiosk-1"))
    assert _enroll(hub, "nonsense-token-value-123", good_csr).json()["error"]["code"] == (
        "token_invalid"
    )
    expired = hub.mint_token("g", days=1e-9).token
    assert _enroll(hub, expired, good_csr).status_code == 401
    no_bearer = httpx.post(
        hub.url + schemas.EST_SIMPLEENROLL,
        content=good_csr,
        headers={"Content-Type": schemas.PKCS10_CONTENT_TYPE},
        verify=_ca_ctx(hub),
    )
    assert no_bearer.status_code == 401

    tok = hub.mint_token("g").token
    ec_key = pki.new_key()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p384 = ec.generate_private_key(ec.SECP384R1())
    bad_bodies = {
        "garbage": b"this is not base64 !!",
        "not a csr": schemas.pkcs7_certs_body(
            [x509.load_pem_x509_certificate(hub.ca_path.read_bytes())]
        ),
        "rsa": schemas.csr_body(_csr_with(rsa_key, ["urn:sohoa:kiosk:k1"])),
        "p384": schemas.csr_body(_csr_with(p384, ["urn:sohoa:kiosk:k1"])),
        "no san": schemas.csr_body(_csr_with(ec_key, [])),
        "two sans": schemas.csr_body(
            _csr_with(ec_key, ["urn:sohoa:kiosk:k1", "urn:sohoa:kiosk:k2"])
        ),
        "odd uri": schemas.csr_body(_csr_with(ec_key, ["https://evil.example/"])),
        "path in id": schemas.csr_body(_csr_with(ec_key, ["urn:sohoa:kiosk:../x"])),
    }
    for what, body in bad_bodies.items():
        r = _enroll(hub, tok, body)
        assert r.status_code == 400, (what, r.status_code, r.text)
        err = r.json()["error"]
        assert err["code"] == "csr_invalid" and err["message_vi"], what
    wrong_type = _enroll(hub, tok, good_csr, ctype="application/json")
    assert wrong_type.status_code == 415
    # After all those refusals the token still enrolls exactly one device.
    assert _enroll(hub, tok, good_csr).status_code == 200


def test_device_exists_until_revoked_then_reenrolls(hub):
    dev = enroll_test_device(hub, "kiosk-2")
    csr = schemas.csr_body(pki.make_csr(pki.new_key(), "kiosk-2"))
    r = _enroll(hub, hub.mint_token().token, csr)
    assert r.status_code == 409 and r.json()["error"]["code"] == "device_exists"

    with device_client(dev) as c:
        assert c.options("/files/", headers=tus_headers()).status_code == 204
    db = hub.db()
    try:
        db.devices.revoke("kiosk-2", "stolen")
    finally:
        db.close()
    with device_client(dev) as c:
        r = c.options("/files/", headers=tus_headers())
        assert r.status_code == 403 and r.json()["error"]["code"] == "device_revoked"
        r = c.post(
            schemas.EST_SIMPLEREENROLL,
            content=csr,
            headers={"Content-Type": schemas.PKCS10_CONTENT_TYPE},
        )
        assert r.status_code == 403

    # Once IT reinstated the id, a new token may enroll it again with a new key; the old
    # certificate stays refused.
    db = hub.db()
    try:
        db.devices.reinstate("kiosk-2", "replaced", by="test")
    finally:
        db.close()
    new = enroll_test_device(hub, "kiosk-2", dest=hub.dir.parent / "kiosk-2-new")
    with device_client(new) as c:
        assert c.options("/files/", headers=tus_headers()).status_code == 204
    with device_client(dev) as c:
        assert c.options("/files/", headers=tus_headers()).status_code == 403
    kinds = [e["kind"] for e in hub.db().events.events()]
    assert kinds.count("enrolled") == 2 and "revoked" in kinds


def test_simplereenroll_over_mtls(hub):
    dev = enroll_test_device(hub, "kiosk-3")
    new_key = pki.new_key()
    with device_client(dev) as c:
        r = c.post(
            schemas.EST_SIMPLEREENROLL,
            content=schemas.csr_body(pki.make_csr(new_key, "kiosk-3")),
            headers={"Content-Type": schemas.PKCS10_CONTENT_TYPE},
        )
        assert r.status_code == 200, r.text
        (cert,) = schemas.load_pkcs7_certs_body(r.content)
        other = c.post(
            schemas.EST_SIMPLEREENROLL,
            content=schemas.csr_body(pki.make_csr(pki.new_key(), "kiosk-99")),
            headers={"Content-Type": schemas.PKCS10_CONTENT_TYPE},
        )
        assert other.status_code == 400 and other.json()["error"]["code"] == "csr_invalid"
    assert schemas.kiosk_id_from_cert(cert) == "kiosk-3"
    pki.save_key(dev.key_path, new_key)
    pki.save_cert(dev.cert_path, cert)
    with device_client(dev) as c:
        assert c.options("/files/", headers=tus_headers()).status_code == 204
    # Without a client certificate re-enrollment is refused.
    r = httpx.post(
        hub.url + schemas.EST_SIMPLEREENROLL,
        content=schemas.csr_body(pki.make_csr(new_key, "kiosk-3")),
        headers={"Content-Type": schemas.PKCS10_CONTENT_TYPE},
        verify=_ca_ctx(hub),
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "cert_required"


def test_expired_unknown_and_foreign_certificates_are_refused(hub, tmp_path):
    dev = enroll_test_device(hub, "kiosk-4")
    s = hub.settings()
    ca_key, ca_cert = pki.load_key(s.ca_key_path), pki.load_cert(s.ca_cert_path)

    # Expired: issued by the fleet CA and recorded by the hub, but its time is over.
    key = pki.new_key()
    old = pki.issue_device_cert(
        ca_key, ca_cert, pki.make_csr(key, "kiosk-4"), 1, now=datetime.now(UTC) - timedelta(days=30)
    )
    db = hub.db()
    try:
        db.certificates.reenroll("kiosk-4", old.serial_hex, old.cert.not_valid_after_utc, "test")
    finally:
        db.close()
    pki.save_key(tmp_path / "old.key", key)
    pki.save_cert(tmp_path / "old.crt", old.cert)
    ctx = ssl.create_default_context(cafile=str(hub.ca_path))
    ctx.load_cert_chain(str(tmp_path / "old.crt"), str(tmp_path / "old.key"))
    r = httpx.options(hub.url + "/files/", headers=tus_headers(), verify=ctx)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "cert_invalid" and "expired" in r.json()["error"]["message"]

    # Signed by the fleet CA but never issued by the hub (e.g. a CA key misuse).
    stray = pki.issue_device_cert(ca_key, ca_cert, pki.make_csr(key, "kiosk-4"), 30)
    pki.save_cert(tmp_path / "stray.crt", stray.cert)
    ctx = ssl.create_default_context(cafile=str(hub.ca_path))
    ctx.load_cert_chain(str(tmp_path / "stray.crt"), str(tmp_path / "old.key"))
    r = httpx.options(hub.url + "/files/", headers=tus_headers(), verify=ctx)
    assert r.status_code == 401 and r.json()["error"]["code"] == "cert_invalid"

    # From another CA: the TLS handshake itself fails.
    other_key, other_ca = pki.make_ca("elsewhere")
    foreign = pki.issue_device_cert(other_key, other_ca, pki.make_csr(key, "kiosk-4"), 30)
    pki.save_cert(tmp_path / "foreign.crt", foreign.cert)
    ctx = ssl.create_default_context(cafile=str(hub.ca_path))
    ctx.load_cert_chain(str(tmp_path / "foreign.crt"), str(tmp_path / "old.key"))
    with pytest.raises(httpx.HTTPError):
        httpx.options(hub.url + "/files/", headers=tus_headers(), verify=ctx).raise_for_status()

    with device_client(dev) as c:  # the real certificate still works
        assert c.options("/files/", headers=tus_headers()).status_code == 204
