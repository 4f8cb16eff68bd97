"""The fleet's keys and certificates: the CA, the hub's TLS and receipt certificates, devices.

Everything is ECDSA P-256 (small keys for the Pi, supported by every TLS stack the kiosks
and browsers use). Certificates carry subject and authority key identifiers because strict
X.509 verification (Python 3.13's default ``VERIFY_X509_STRICT``) refuses chains without
them. A device certificate copies nothing from the CSR except the public key and the single
``urn:sohoa:kiosk:<id>`` SAN URI: the hub decides the subject, key usage and lifetime.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning import schemas
from sohoa_common.atomic import atomic_write_bytes
from sohoa_common.x509_build import builder, key_usage

CA_DAYS = 3650
SERVER_DAYS = 825
CLOCK_SKEW = timedelta(minutes=5)
"""Certificates start this long before issue so a kiosk whose clock lags still accepts them."""


class CsrError(ValueError):
    """A CSR the hub refuses; the message says why in plain words (English)."""


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def save_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Private keys are written atomically and readable by the owner only."""
    atomic_write_bytes(path, key_pem(key), mode=0o600)


def save_cert(path: Path, cert: x509.Certificate) -> None:
    atomic_write_bytes(path, cert_pem(cert), mode=0o644)


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an EC private key")
    return key


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    days: float,
    now: datetime | None = None,
) -> x509.CertificateBuilder:
    return (
        builder(
            subject,
            issuer,
            public_key,
            not_after=timedelta(days=days),
            backdate=CLOCK_SKEW,
            now=now,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )


def make_ca(hub_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed fleet CA, 10 years, that may sign end-entity certificates only."""
    key = new_key()
    name = _name(f"Sohoa fleet CA ({hub_name})", "Sohoa fleet")
    cert = (
        _builder(name, name, key.public_key(), key, CA_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hub_name: str,
    sans: list[str],
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The hub's TLS certificate; ``sans`` are host names or IP addresses."""
    key = new_key()
    names: list[x509.GeneralName] = []
    for san in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    cert = (
        _builder(
            _name(hub_name, "Sohoa hub"), ca_cert.subject, key.public_key(), ca_key, SERVER_DAYS
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def make_receipt_signer(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, hub_name: str
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The certificate that signs receipts: digitalSignature only, as long-lived as the CA.

    Receipts are checked against the signer's validity at ``received_at``, so kiosks can
    verify an old receipt after the signer has been replaced.
    """
    key = new_key()
    days = (ca_cert.not_valid_after_utc - datetime.now(UTC)).total_seconds() / 86400 - 1
    cert = (
        _builder(
            _name(f"{hub_name} receipts", "Sohoa hub"),
            ca_cert.subject,
            key.public_key(),
            ca_key,
            days,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def check_csr(csr: x509.CertificateSigningRequest) -> str:
    """Return the kiosk id a CSR asks for, or raise :class:`CsrError` saying what is wrong."""
    if not csr.is_signature_valid:
        raise CsrError("CSR signature does not verify")
    key = csr.public_key()
    if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
        raise CsrError("CSR key is not ECDSA P-256")
    uris = schemas.device_uris(csr)
    if len(uris) != 1:
        raise CsrError(f"CSR must carry exactly one SAN URI {schemas.DEVICE_URI_PREFIX}<id>")
    kiosk_id = schemas.kiosk_id_from_uri(uris[0])
    if kiosk_id is None:
        raise CsrError(f"CSR SAN URI must be {schemas.DEVICE_URI_PREFIX}<id> with a plain id")
    return kiosk_id


@dataclass(frozen=True)
class IssuedCert:
    cert: x509.Certificate
    kiosk_id: str

    @property
    def serial_hex(self) -> str:
        return format(self.cert.serial_number, "x")


def issue_device_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    csr: x509.CertificateSigningRequest,
    days: float,
    now: datetime | None = None,
) -> IssuedCert:
    """A client certificate for the kiosk named by a checked CSR."""
    kiosk_id = check_csr(csr)
    key = csr.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    cert = (
        _builder(_name(kiosk_id, "Sohoa kiosk"), ca_cert.subject, key, ca_key, days, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(schemas.device_uri(kiosk_id))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return IssuedCert(cert=cert, kiosk_id=kiosk_id)


def make_csr(key: ec.EllipticCurvePrivateKey, kiosk_id: str) -> x509.CertificateSigningRequest:
    """A CSR as a kiosk sends it (used by tests and the test enrollment helper)."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kiosk_id)]))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(schemas.device_uri(kiosk_id))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def random_id(nbytes: int = 16) -> str:
    return secrets.token_hex(nbytes)
