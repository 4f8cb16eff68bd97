"""The parts every X.509 certificate Sohoa makes shares: which key uses it allows, and the
skeleton of names, key, serial and validity.

The hub's fleet CA (``provisioning.hub.pki``), the kiosk's self-signed signing identity
(``firmware.archive.device_keys``) and the demo's CAs and recipients (``firmware.demo``)
differ in the extensions they add on top; these two helpers are what they had each spelled
out, so a key usage is named once (``key_usage(sign=True)``) rather than as nine booleans.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509


def key_usage(
    *,
    sign: bool = False,
    non_repudiation: bool = False,
    encipher_keys: bool = False,
    agree_keys: bool = False,
    cert_sign: bool = False,
) -> x509.KeyUsage:
    """``sign``: digital signatures (TLS client auth, CMS); ``non_repudiation``: the
    contentCommitment bit a PAdES signature of a document carries; ``encipher_keys``: a
    recipient's RSA key wraps the content key; ``agree_keys``: a recipient's EC key agrees
    on it (ECDH); ``cert_sign``: a CA (certificates and CRLs)."""
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=non_repudiation,
        key_encipherment=encipher_keys,
        data_encipherment=False,
        key_agreement=agree_keys,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: Any,
    *,
    not_after: datetime | timedelta,
    backdate: timedelta,
    now: datetime | None = None,
) -> x509.CertificateBuilder:
    """Names, key, a random serial and validity from ``now - backdate`` (a kiosk's clock
    may lag the issuer's) to ``not_after`` (a time, or a lifetime from now)."""
    now = now or datetime.now(UTC)
    end = not_after if isinstance(not_after, datetime) else now + not_after
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - backdate)
        .not_valid_after(end)
    )
