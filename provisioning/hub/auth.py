"""Who is calling: the device named by a verified client certificate, checked per request.

The TLS handshake already proved the certificate chains to the fleet CA; here the hub adds
what the handshake cannot know: whether the certificate is inside its validity period right
now (the handshake skips time checks, see ``tls``), which device its SAN URI names, and
whether the hub issued it and has not revoked it since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from provisioning import schemas
from provisioning.hub.db import HubDB
from provisioning.hub.errors import HubError
from provisioning.hub.pki import serial_hex


@dataclass(frozen=True)
class Device:
    kiosk_id: str
    serial: str
    cert: x509.Certificate


def authenticate(cert: x509.Certificate | None, ca_cert: x509.Certificate, db: HubDB) -> Device:
    """The device behind ``cert``, or a :class:`HubError` (401 or 403) saying why not."""
    if cert is None:
        raise HubError(schemas.E_CERT_REQUIRED)
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        raise HubError(schemas.E_CERT_INVALID, "not issued by the fleet CA") from None
    now = datetime.now(UTC)
    if now > cert.not_valid_after_utc:
        raise HubError(schemas.E_CERT_INVALID, f"expired {cert.not_valid_after_utc:%Y-%m-%d}")
    if now < cert.not_valid_before_utc:
        raise HubError(schemas.E_CERT_INVALID, "not yet valid (check the clock)")
    kiosk_id = schemas.kiosk_id_from_cert(cert)
    if kiosk_id is None:
        raise HubError(schemas.E_CERT_INVALID, f"no {schemas.DEVICE_URI_PREFIX}<id> SAN URI")
    serial = serial_hex(cert)
    status = db.certificate_status(serial, kiosk_id)
    if status == "unknown":
        raise HubError(schemas.E_CERT_INVALID, "not issued by this hub")
    if status == "revoked":
        raise HubError(schemas.E_DEVICE_REVOKED)
    return Device(kiosk_id=kiosk_id, serial=serial, cert=cert)
