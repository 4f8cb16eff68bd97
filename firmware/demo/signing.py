"""The demo's signing key: a demo CA and a kiosk signing certificate in a PKCS#12 file,
made once in the demo's data directory (like the demo receiving office), so the demo seals
signed PDFs (issue 16: ``[signing] backend = "none"`` meant the signature the offices
already use was never seen). The CA certificate is the trust root the document screen
validates the signature against. Demo only: a real kiosk's key comes from the province.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

CN_CA = "CA mẫu Sohoa (demo)"
CN_SIGNER = "Máy số hóa mẫu - Văn phòng Tỉnh ủy (demo)"


def signing_paths(data_dir: Path | str) -> tuple[Path, Path]:
    """(PKCS#12 key file, CA certificate) of the demo's signing key."""
    d = Path(data_dir) / "demo-signing"
    return d / "kiosk-signing.p12", d / "demo-ca.crt.pem"


def _name(cn: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Văn phòng Tỉnh ủy (mẫu)"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_signing_key(p12: Path, ca_pem: Path, days: int = 3650) -> None:
    """A P-256 demo CA and a signing certificate it issued, in ``p12`` (no passphrase,
    owner-readable only) and the CA certificate in ``ca_pem``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12

    from sohoa_common.atomic import atomic_write_bytes
    from sohoa_common.x509_build import builder, key_usage

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        builder(
            _name(CN_CA),
            _name(CN_CA),
            ca_key.public_key(),
            not_after=dt.timedelta(days=days),
            backdate=dt.timedelta(days=1),
            now=now,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        builder(
            _name(CN_SIGNER),
            ca.subject,
            key.public_key(),
            not_after=dt.timedelta(days=days - 1),
            backdate=dt.timedelta(days=1),
            now=now,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(sign=True, non_repudiation=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    blob = pkcs12.serialize_key_and_certificates(
        b"sohoa-demo", key, cert, [ca], serialization.NoEncryption()
    )
    atomic_write_bytes(p12, blob, mode=0o600)
    atomic_write_bytes(ca_pem, ca.public_bytes(serialization.Encoding.PEM), mode=0o644)


def signing_overrides(data_dir: Path | str) -> dict[str, Any]:
    """The demo's ``[signing]`` settings, making the key first if needed."""
    p12, ca = signing_paths(data_dir)
    if not (p12.exists() and ca.exists()):
        p12.parent.mkdir(parents=True, exist_ok=True)
        make_signing_key(p12, ca)
    return {"backend": "pkcs12", "key_file": str(p12), "trust_roots": [str(ca)]}
