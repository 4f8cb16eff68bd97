"""The kiosk's signing identity: a P-256 key made on the device and its certificate.

The private key is generated here and never leaves the box (mode 0600 in a 0700 directory
under the data dir; on the kiosk the data partition belongs to the service user). Until the
fleet enrolls the kiosk, the certificate is self-signed, which still proves that every
manifest came from the same key; :func:`install_certificate` swaps in the fleet-issued
certificate for the same key at enrollment. Export manifests (CMS detached signatures) use
it now; PAdES signing of sealed PDFs reuses :func:`load_or_create_signing_identity`.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from firmware.store.paths import DataPaths
from sohoa_common.atomic import atomic_write_bytes
from sohoa_common.x509_build import builder, key_usage

log = logging.getLogger("sohoa.keys")

KEY_NAME = "signing.key.pem"
CERT_NAME = "signing.crt.pem"
SELF_SIGNED_DAYS = 3650


class SigningKeyError(Exception):
    """The stored key or certificate is unusable (wrong type, mismatch)."""


def keys_dir(paths: DataPaths) -> Path:
    return paths.root / "keys"


def _self_signed(key: ec.EllipticCurvePrivateKey, kiosk_id: str) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sohoa"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Sohoa kiosk {kiosk_id}"),
        ]
    )
    pub = key.public_key()
    return (
        builder(
            name,
            name,
            pub,
            not_after=dt.timedelta(days=SELF_SIGNED_DAYS),
            backdate=dt.timedelta(minutes=5),
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(sign=True, non_repudiation=True), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"urn:sohoa:kiosk:{kiosk_id}")]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
        .sign(key, hashes.SHA256())
    )


def _same_key(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)


def load_or_create_signing_identity(
    paths: DataPaths, *, kiosk_id: str = "dev-kiosk"
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The kiosk's signing key and certificate, created on first use (idempotent, locked)."""
    d = keys_dir(paths)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    key_path, cert_path = d / KEY_NAME, d / CERT_NAME
    with open(d / ".lock", "a+b") as lock:  # two processes starting at once make one key
        fcntl.flock(lock, fcntl.LOCK_EX)
        if key_path.exists():
            mode = stat.S_IMODE(key_path.stat().st_mode)
            if mode & 0o077:
                log.warning("signing key had mode %o; restricting to 0600", mode)
                os.chmod(key_path, 0o600)
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise SigningKeyError(f"{key_path} is not an EC key")
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            atomic_write_bytes(key_path, pem, mode=0o600)
            log.info("generated the kiosk signing key %s", key_path)
        cert = None
        if cert_path.exists():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if not _same_key(key, cert):
                log.warning("%s does not belong to the signing key; re-issuing", cert_path)
                cert = None
        if cert is None:
            cert = _self_signed(key, kiosk_id)
            atomic_write_bytes(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return key, cert


def install_certificate(paths: DataPaths, cert_pem: bytes) -> x509.Certificate:
    """Replace the self-signed certificate by one the fleet CA issued for the same key."""
    key, _ = load_or_create_signing_identity(paths)
    cert = x509.load_pem_x509_certificate(cert_pem)
    if not _same_key(key, cert):
        raise SigningKeyError("the certificate was not issued for this kiosk's signing key")
    atomic_write_bytes(keys_dir(paths) / CERT_NAME, cert_pem, 0o644)
    return cert
