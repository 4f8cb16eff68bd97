"""The kiosk's fleet identity: its own TLS key, the certificate the hub issued, the CA pin.

Enrollment is EST-shaped (``docs/uplink-protocol.md``): fetch the CA bundle without trust,
accept it only if its SHA-256 equals the fingerprint from the token QR, then send a CSR for
a P-256 key generated here with the one-time token, over TLS verified against that CA.
Every later call is mutual TLS with this identity; the agent's renewal
(:class:`provisioning.agent.renewal.Renewal`) calls :func:`renew` for a fresh certificate once
:func:`renewal_due` says ``renew_fraction`` (two thirds) of its lifetime has passed.

Storage, in ``<data>/identity/``: ``device.key.pem``, ``device.crt.pem``,
``fleet-ca.crt.pem``, ``hub.json`` — each written atomically, ``hub.json`` last, so a crash
mid-enrollment leaves "not enrolled", never a half identity. Two users write here (the kiosk
at enrollment, the fleet agent at renewal and re-key) and both read everything, so the
directory is ``2770`` and the files ``0640`` in the link group, which only those two
services have (:mod:`firmware.fleet.link`); nobody else can read the key. The TLS key is not the
document-signing key (:mod:`firmware.archive.device_keys`): re-enrolling never touches signatures.
Renewal certifies the same key again, so the only file it replaces is the certificate.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from firmware.fleet.link import COMMON_DIR_MODE, SHARED_FILE_MODE, ensure_dir
from firmware.store.paths import DataPaths
from firmware.uplink.client import UplinkError, hub_error, require_https, transport_error
from firmware.uplink.qr import EnrollTicket, check_ca_sha256, check_hub_url
from provisioning.schemas import (
    AUDIT_ANCHOR_PATH,
    EST_CACERTS,
    EST_SIMPLEENROLL,
    EST_SIMPLEREENROLL,
    PKCS10_CONTENT_TYPE,
    cert_sha256,
    csr_body,
    device_uri,
    load_pkcs7_certs_body,
    parse_error_body,
)
from sohoa_common.atomic import atomic_write_bytes, atomic_write_text, fsync_dir

if TYPE_CHECKING:
    from firmware.store.catalog import Catalog

log = logging.getLogger("sohoa.uplink.identity")

KEY_NAME = "device.key.pem"
CERT_NAME = "device.crt.pem"
CA_NAME = "fleet-ca.crt.pem"
HUB_NAME = "hub.json"


def identity_dir(paths: DataPaths) -> Path:
    return paths.root / "identity"


def ca_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 hex of the certificate's DER: what the token QR pins."""
    return cert_sha256(cert)


@dataclass(frozen=True)
class Identity:
    """A complete, consistent enrollment on disk."""

    directory: Path
    hub_url: str
    ca_sha256: str
    enrolled_at: str
    cert: x509.Certificate
    ca: x509.Certificate

    @property
    def key_path(self) -> Path:
        return self.directory / KEY_NAME

    @property
    def cert_path(self) -> Path:
        return self.directory / CERT_NAME

    @property
    def ca_path(self) -> Path:
        return self.directory / CA_NAME

    @property
    def not_before(self) -> dt.datetime:
        return self.cert.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc

    def renew_at(self, fraction: float) -> dt.datetime:
        return self.not_before + (self.not_after - self.not_before) * fraction

    def expired(self, now: dt.datetime | None = None) -> bool:
        return (now or dt.datetime.now(dt.UTC)) >= self.not_after

    def ssl_context(self) -> ssl.SSLContext:
        """Mutual TLS: trust only the fleet CA, present the device certificate."""
        ctx = ssl.create_default_context(cafile=str(self.ca_path))
        ctx.load_cert_chain(str(self.cert_path), str(self.key_path))
        return ctx

    def to_status(self) -> dict[str, Any]:
        return {
            "hub": self.hub_url,
            "ca_sha256": self.ca_sha256,
            "enrolled_at": self.enrolled_at,
            "not_after": self.not_after.isoformat(),
        }


def _same_key(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)


NEXT = ".next"  # suffix of the key and certificate a re-key is about to install


def _finish_rekey(d: Path) -> None:
    """Complete or drop a re-key a crash interrupted (see :func:`renew`).

    A re-key writes ``device.key.pem.next``, then ``device.crt.pem.next``, then renames the
    key, then the certificate. Whatever instant the power went, the pair on disk after this
    is consistent: the new one once its certificate arrived, else the old one.
    """
    cert_next, key_next = d / (CERT_NAME + NEXT), d / (KEY_NAME + NEXT)
    if not cert_next.exists():
        key_next.unlink(missing_ok=True)  # the hub never answered: keep the old pair
        return
    try:
        cert = x509.load_pem_x509_certificate(cert_next.read_bytes())
        key_file = key_next if key_next.exists() else d / KEY_NAME
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (OSError, ValueError):
        cert_next.unlink(missing_ok=True)
        key_next.unlink(missing_ok=True)
        return
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _same_key(key, cert):
        cert_next.unlink(missing_ok=True)
        key_next.unlink(missing_ok=True)
        return
    if key_next.exists():
        os.replace(key_next, d / KEY_NAME)
        fsync_dir(d)
    os.replace(cert_next, d / CERT_NAME)
    fsync_dir(d)


def load_identity(paths: DataPaths) -> Identity | None:
    """The stored identity, or None when the kiosk is not (completely) enrolled."""
    d = identity_dir(paths)
    if (d / (KEY_NAME + NEXT)).exists() or (d / (CERT_NAME + NEXT)).exists():
        _finish_rekey(d)
    try:
        hub = json.loads((d / HUB_NAME).read_text(encoding="utf-8"))
        key = serialization.load_pem_private_key((d / KEY_NAME).read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate((d / CERT_NAME).read_bytes())
        ca = x509.load_pem_x509_certificate((d / CA_NAME).read_bytes())
    except (OSError, ValueError) as exc:
        if (d / HUB_NAME).exists():
            log.error("identity in %s is unreadable: %s", d, exc)
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _same_key(key, cert):
        log.error("identity in %s: the certificate does not belong to the key", d)
        return None
    return Identity(d, hub["hub"], hub["ca_sha256"], hub.get("enrolled_at", ""), cert, ca)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_csr(key: ec.EllipticCurvePrivateKey, kiosk_id: str) -> bytes:
    """The EST request body: a CSR naming the device by SAN URI (the hub copies only that
    SAN)."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sohoa {kiosk_id}")]))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(device_uri(kiosk_id))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return csr_body(csr)


def _pkcs7_certs(resp: httpx.Response, doing: str) -> list[x509.Certificate]:
    try:
        return load_pkcs7_certs_body(resp.content)
    except ValueError as exc:
        raise UplinkError(
            "hub_protocol",
            f"The hub's answer while {doing} is not a PKCS#7 certificate bundle ({exc}).",
            "Trung tâm trả lời sai định dạng chứng thư.",
            transient=False,
        ) from None


def _enroll_error(resp: httpx.Response) -> UplinkError:
    st = resp.status_code
    info = parse_error_body(resp.content)
    code = info.code if info else ""
    if st == 401:
        return UplinkError(
            "token_invalid",
            "The enrollment token is unknown, already used or expired; ask provincial IT for "
            "a new one.",
            "Mã đăng ký không hợp lệ, đã dùng hoặc đã hết hạn; hãy xin mã mới từ cán bộ "
            "kỹ thuật tỉnh.",
            transient=False,
            status=401,
        )
    if st == 409 or code == "device_exists":
        return UplinkError(
            "device_exists",
            "The hub already has an enrolled kiosk with this name (kiosk_id); ask provincial "
            "IT to revoke it first, or give this kiosk its own name.",
            "Trung tâm đã có một máy cùng tên (kiosk_id) đang hoạt động; hãy nhờ cán bộ kỹ "
            "thuật tỉnh thu hồi máy cũ hoặc đặt tên khác cho máy này.",
            transient=False,
            status=409,
        )
    if code == "device_revoked_enroll":
        return UplinkError(
            "device_revoked_enroll",
            "The hub revoked a kiosk with this name (kiosk_id) earlier; provincial IT must "
            "reinstate it (sohoa hub device reinstate ID) before it can enroll again. The "
            "enrollment code was not used up.",
            "Mã máy (kiosk_id) này đã bị trung tâm thu hồi trước đây; cán bộ kỹ thuật tỉnh "
            "cần cho phép đăng ký lại (khôi phục mã máy) rồi mới đăng ký được. Mã đăng ký "
            "vẫn còn dùng được.",
            transient=False,
            status=403,
        )
    if st == 429:
        try:
            minutes = max(1, -(-int(resp.headers.get("Retry-After", "600")) // 60))
        except ValueError:
            minutes = 10
        return UplinkError(
            "too_many_attempts",
            f"The hub refuses enrollment from this address for about {minutes} min after "
            "too many failed attempts; check the code (or ask provincial IT for a new one) "
            "and try again then.",
            f"Trung tâm tạm từ chối đăng ký từ địa chỉ này khoảng {minutes} phút vì đã thử "
            "sai quá nhiều lần; hãy kiểm tra lại mã (hoặc xin mã mới từ cán bộ kỹ thuật "
            "tỉnh) rồi thử lại sau.",
            transient=True,
            status=429,
        )
    if st == 400:
        err = hub_error(resp, "enrolling")
        return UplinkError(
            code or "csr_invalid", err.message_en, err.message_vi, transient=False, status=400
        )
    return hub_error(resp, "enrolling")


def _client(hub: str, verify: ssl.SSLContext | bool, timeout: float) -> httpx.Client:
    """Every enrollment and renewal request goes through here: https or nothing."""
    return httpx.Client(base_url=require_https(hub), verify=verify, timeout=timeout)


def fetch_ca(hub: str, ca_sha256: str | None, *, timeout: float = 30) -> x509.Certificate:
    """Step 1: the fleet CA from ``/.well-known/est/cacerts``, accepted only if pinned.

    The first request cannot verify the server (the kiosk does not know the CA yet); the
    pin from the QR is what makes the answer trustworthy. Without a pin (``--token`` typed
    by IT with no ``--ca-sha256``) the bundle must hold exactly one certificate, and its
    fingerprint is returned for IT to compare (trust on first use).
    """
    try:
        with _client(hub, False, timeout) as http:
            resp = http.get(EST_CACERTS)
    except httpx.HTTPError as exc:
        raise transport_error(exc, "fetching the fleet CA") from exc
    if resp.status_code != 200:
        raise hub_error(resp, "fetching the fleet CA")
    certs = _pkcs7_certs(resp, "fetching the fleet CA")
    if ca_sha256 is None:
        if len(certs) != 1:
            raise UplinkError(
                "ca_ambiguous",
                "The hub offers several CA certificates; give --ca-sha256 from the token QR.",
                "Trung tâm gửi nhiều chứng thư gốc; hãy nhập dấu vân tay CA (--ca-sha256).",
                transient=False,
            )
        return certs[0]
    for cert in certs:
        if ca_fingerprint(cert) == ca_sha256:
            return cert
    raise UplinkError(
        "ca_mismatch",
        "The hub's CA certificate does not match the fingerprint in the enrollment code: "
        "this may not be the provincial hub. Nothing was sent.",
        "Chứng thư gốc của máy chủ không khớp với mã đăng ký: có thể đây không phải trung "
        "tâm của tỉnh. Máy chưa gửi gì.",
        transient=False,
    )


def _ca_context(ca: x509.Certificate) -> ssl.SSLContext:
    return ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode("ascii")
    )


def _issued_cert(resp: httpx.Response, key: ec.EllipticCurvePrivateKey, doing: str) -> bytes:
    for cert in _pkcs7_certs(resp, doing):
        if _same_key(key, cert):
            return cert.public_bytes(serialization.Encoding.PEM)
    raise UplinkError(
        "hub_protocol",
        f"The hub's answer while {doing} holds no certificate for this kiosk's key.",
        "Trung tâm không trả về chứng thư cho khóa của máy.",
        transient=False,
    )


def enroll(
    paths: DataPaths,
    kiosk_id: str,
    ticket: EnrollTicket,
    *,
    catalog: Catalog | None = None,
    actor: str = "system",
    timeout: float = 30,
) -> Identity:
    """Enroll this kiosk with the hub named in ``ticket``; store and return the identity."""
    hub = check_hub_url(ticket.hub)
    pin = check_ca_sha256(ticket.ca_sha256) if ticket.ca_sha256 else None
    ca = fetch_ca(hub, pin, timeout=timeout)
    key = _new_key()
    try:
        with _client(hub, _ca_context(ca), timeout) as http:
            resp = http.post(
                EST_SIMPLEENROLL,
                content=make_csr(key, kiosk_id),
                headers={
                    "Authorization": f"Bearer {ticket.token}",
                    "Content-Type": PKCS10_CONTENT_TYPE,
                    "Content-Transfer-Encoding": "base64",
                },
            )
    except httpx.HTTPError as exc:
        raise transport_error(exc, "enrolling") from exc
    if resp.status_code != 200:
        raise _enroll_error(resp)
    cert_pem = _issued_cert(resp, key, "enrolling")
    d = ensure_dir(identity_dir(paths), COMMON_DIR_MODE)
    (d / HUB_NAME).unlink(missing_ok=True)  # "not enrolled" until the new set is complete
    atomic_write_bytes(d / KEY_NAME, _key_pem(key), mode=SHARED_FILE_MODE)
    atomic_write_bytes(d / CERT_NAME, cert_pem, mode=SHARED_FILE_MODE)
    atomic_write_bytes(
        d / CA_NAME, ca.public_bytes(serialization.Encoding.PEM), mode=SHARED_FILE_MODE
    )
    fingerprint = ca_fingerprint(ca)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    atomic_write_text(
        d / HUB_NAME,
        json.dumps({"hub": hub, "ca_sha256": fingerprint, "enrolled_at": now}, indent=2),
        mode=SHARED_FILE_MODE,
    )
    ident = load_identity(paths)
    assert ident is not None
    if catalog is not None:
        catalog.audit(
            actor,
            "uplink.enrolled",
            hub=hub,
            ca_sha256=fingerprint,
            ca_pinned=pin is not None,
            not_after=ident.not_after.isoformat(),
        )
    log.info("enrolled with %s until %s", hub, ident.not_after)
    return ident


def renewal_due(ident: Identity, fraction: float, now: dt.datetime | None = None) -> bool:
    return (now or dt.datetime.now(dt.UTC)) >= ident.renew_at(fraction)


def renew(
    ident: Identity,
    kiosk_id: str,
    *,
    hub_url: str | None = None,
    audit: Callable[..., object] | None = None,
    timeout: float = 30,
    new_key: bool = False,
) -> Identity:
    """``simplereenroll`` over mutual TLS: a fresh certificate for the same key, or with
    ``new_key`` for a key generated now (re-keying, e.g. when the old one may have leaked).

    A re-key keeps the old pair usable until the new certificate is on disk, then swaps
    the two files in an order :func:`_finish_rekey` can complete after a power cut.
    """
    if new_key:
        key = _new_key()
        atomic_write_bytes(
            ident.directory / (KEY_NAME + NEXT), _key_pem(key), mode=SHARED_FILE_MODE
        )
    else:
        loaded = serialization.load_pem_private_key(ident.key_path.read_bytes(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        key = loaded
    try:
        with _client(hub_url or ident.hub_url, ident.ssl_context(), timeout) as http:
            resp = http.post(
                EST_SIMPLEREENROLL,
                content=make_csr(key, kiosk_id),
                headers={
                    "Content-Type": PKCS10_CONTENT_TYPE,
                    "Content-Transfer-Encoding": "base64",
                },
            )
    except httpx.HTTPError as exc:
        if new_key:
            (ident.directory / (KEY_NAME + NEXT)).unlink(missing_ok=True)
        raise transport_error(exc, "renewing the certificate") from exc
    if resp.status_code != 200:
        if new_key:
            (ident.directory / (KEY_NAME + NEXT)).unlink(missing_ok=True)
        raise hub_error(resp, "renewing the certificate")
    cert_pem = _issued_cert(resp, key, "renewing the certificate")
    if new_key:
        atomic_write_bytes(ident.directory / (CERT_NAME + NEXT), cert_pem, mode=SHARED_FILE_MODE)
        _finish_rekey(ident.directory)
    else:
        atomic_write_bytes(ident.cert_path, cert_pem, mode=SHARED_FILE_MODE)
    fresh = load_identity(DataPaths(ident.directory.parent))
    assert fresh is not None
    if audit is not None:  # the agent's audit log (it cannot write the catalog)
        audit(
            "system",
            "uplink.rekeyed" if new_key else "uplink.renewed",
            old_not_after=ident.not_after.isoformat(),
            not_after=fresh.not_after.isoformat(),
            serial=format(fresh.cert.serial_number, "x"),
        )
    return fresh


def fetch_audit_anchor(
    ident: Identity, *, hub_url: str | None = None, timeout: float = 30
) -> dict[str, Any] | None:
    """The hub's last audit anchor for this kiosk (``sohoa audit verify --hub``), None when
    the hub has none yet (nothing delivered since the anchor was introduced)."""
    doing = "reading the hub's audit anchor"
    try:
        with _client(hub_url or ident.hub_url, ident.ssl_context(), timeout) as http:
            resp = http.get(AUDIT_ANCHOR_PATH)
    except httpx.HTTPError as exc:
        raise transport_error(exc, doing) from exc
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise hub_error(resp, doing)
    return resp.json()
