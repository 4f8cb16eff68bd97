"""Who is calling: the device named by a verified client certificate, checked per request.

The TLS handshake already proved the certificate chains to the fleet CA; here the hub adds
what the handshake cannot know: whether the certificate is inside its validity period right
now (the handshake skips time checks, see ``tls``), which device its SAN URI names, and
whether the hub issued it and has not revoked it since. The first request made with a
renewed certificate makes it the kiosk's only live one (``CertificateDB.certificate``): every older
certificate of the kiosk is refused from then on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from provisioning import schemas
from provisioning.hub.certificates_db import CertificateDB
from provisioning.hub.errors import HubError
from provisioning.hub.pki import serial_hex


@dataclass(frozen=True)
class Device:
    """A caller proven by its certificate; ``enrollment_id`` names the enrollment (token
    use) the certificate descends from: what uploads and receipts are bound to."""

    kiosk_id: str
    serial: str
    cert: x509.Certificate
    enrollment_id: str | None = None


#: Answers of :func:`issued_by`, keyed by the two certificates' DER bytes.
VERIFIED_MAX = 16384
_verified: dict[tuple[bytes, bytes], bool] = {}


def issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """Whether the CA's key signed ``cert``: a pure function of the two certificates, so
    its answer is cached. A kept-alive kiosk presents the same certificate every minute,
    and the signature check was a tenth of the hub's CPU per heartbeat; the fleet's ~3,300
    live certificates fit the cache.

    The cache holds DER bytes, not certificate objects: a parsed certificate whose
    extensions were read is some twenty objects the garbage collector tracks, and 3,300 of
    them (an ``lru_cache`` keyed by the objects) made each full collection of a busy hub
    ~60,000 objects longer, a pause every heartbeat in flight waits out (``bench/fleet.py``).
    Bytes and booleans are not tracked. Full, it starts over (at most one signature check
    per live certificate again).
    """
    key = (cert.public_bytes(Encoding.DER), ca_cert.public_bytes(Encoding.DER))
    known = _verified.get(key)
    if known is not None:
        return known
    try:
        cert.verify_directly_issued_by(ca_cert)
        ok = True
    except (ValueError, TypeError, InvalidSignature):
        ok = False
    if len(_verified) >= VERIFIED_MAX:
        _verified.clear()
    _verified[key] = ok
    return ok


def authenticate(
    cert: x509.Certificate | None,
    ca_cert: x509.Certificate,
    db: CertificateDB,
    *,
    touch: bool = True,
) -> Device:
    """The device behind ``cert``, or a :class:`HubError` (401 or 403) saying why not.
    Validity period, issuer record and revocation are checked on every call; ``touch``:
    see :meth:`CertificateDB.certificate`."""
    if cert is None:
        raise HubError(schemas.E_CERT_REQUIRED)
    if not issued_by(cert, ca_cert):
        raise HubError(schemas.E_CERT_INVALID, "not issued by the fleet CA")
    now = datetime.now(UTC)
    if now > cert.not_valid_after_utc:
        raise HubError(schemas.E_CERT_INVALID, f"expired {cert.not_valid_after_utc:%Y-%m-%d}")
    if now < cert.not_valid_before_utc:
        raise HubError(schemas.E_CERT_INVALID, "not yet valid (check the clock)")
    kiosk_id = schemas.kiosk_id_from_cert(cert)
    if kiosk_id is None:
        raise HubError(schemas.E_CERT_INVALID, f"no {schemas.DEVICE_URI_PREFIX}<id> SAN URI")
    serial = serial_hex(cert)
    state = db.certificate(serial, kiosk_id, touch=touch)
    if state.status == "unknown":
        raise HubError(schemas.E_CERT_INVALID, "not issued by this hub")
    if state.status == "superseded":
        # Not "revoked": the kiosk is fine, this is an old certificate of it (or a copy).
        raise HubError(schemas.E_CERT_INVALID, "replaced by a newer certificate of this kiosk")
    if state.status == "revoked":
        raise HubError(schemas.E_DEVICE_REVOKED)
    return Device(kiosk_id=kiosk_id, serial=serial, cert=cert, enrollment_id=state.enrollment_id)
