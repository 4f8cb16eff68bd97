"""The shared certificate parts (``sohoa_common.x509_build``): each use names its bits, and
validity starts before issue by the backdate asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sohoa_common.x509_build import builder, key_usage


def test_each_use_sets_only_its_bits() -> None:
    signer = key_usage(sign=True, non_repudiation=True)
    assert signer.digital_signature and signer.content_commitment
    assert not signer.key_cert_sign and not signer.key_encipherment
    ca = key_usage(cert_sign=True)
    assert ca.key_cert_sign and ca.crl_sign and not ca.digital_signature
    recipient = key_usage(encipher_keys=True)
    assert recipient.key_encipherment and not recipient.digital_signature
    tls = key_usage(sign=True)
    assert tls.digital_signature and not tls.content_commitment


def test_validity_from_a_lifetime_or_a_time() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sohoa kiosk xa-0001")])
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    cert = builder(
        name,
        name,
        key.public_key(),
        not_after=timedelta(days=30),
        backdate=timedelta(minutes=5),
        now=now,
    ).sign(key, hashes.SHA256())
    assert cert.not_valid_before_utc == now - timedelta(minutes=5)
    assert cert.not_valid_after_utc == now + timedelta(days=30)
    until = datetime(2030, 1, 1, tzinfo=UTC)
    other = builder(
        name, name, key.public_key(), not_after=until, backdate=timedelta(0), now=now
    ).sign(key, hashes.SHA256())
    assert other.not_valid_after_utc == until and other.serial_number != cert.serial_number
