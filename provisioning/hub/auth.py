"""Who is calling: the device named by a verified client certificate, checked per request.

The TLS handshake already proved the certificate chains to the fleet CA; here the hub adds
what the handshake cannot know: whether the certificate is inside its validity period right
now (the handshake skips time checks, see ``tls``), which device its SAN URI names, and
whether the hub issued it and has not revoked it since. The first request made with a
renewed certificate makes it the kiosk's only live one (``CertificateDB.certificate``): every older
certificate of the kiosk is refused from then on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature

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


@functools.lru_cache(maxsize=16384)
def issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """Whether the CA's key signed ``cert``: a pure function of the two certificates (they
    hash and compare by their DER bytes), so its answer is cached. A kept-alive kiosk
    presents the same certificate every minute, and the signature check was a tenth of the
    hub's CPU per heartbeat; the fleet's ~3,300 live certificates fit the cache."""
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


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
