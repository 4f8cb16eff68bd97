"""CMS envelopes and signatures, checked with the real openssl; the kiosk signing key."""

from __future__ import annotations

import datetime as dt
import io
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from firmware.archive.device_keys import (
    SigningKeyError,
    install_certificate,
    keys_dir,
    load_or_create_signing_identity,
)
from firmware.export import cms
from firmware.store.paths import DataPaths
from tests.support import export as sup

recipient = sup.recipient


def test_signing_identity_is_made_once_with_private_permissions(tmp_path):
    paths = DataPaths(tmp_path / "var").ensure()
    key, cert = load_or_create_signing_identity(paths, kiosk_id="k-7")
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    key_file = keys_dir(paths) / "signing.key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir(paths).stat().st_mode) == 0o700
    assert "k-7" in cert.subject.rfc4514_string()
    key2, cert2 = load_or_create_signing_identity(paths, kiosk_id="k-7")
    assert key2.private_numbers() == key.private_numbers() and cert2 == cert
    os.chmod(key_file, 0o644)  # loosened by hand: tightened again on load
    load_or_create_signing_identity(paths)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_install_certificate_accepts_only_a_cert_for_our_key(tmp_path):
    paths = DataPaths(tmp_path / "var").ensure()
    _, own = load_or_create_signing_identity(paths)
    _, foreign = sup.make_cert(tmp_path / "f", "foreign", kind="ec", key_usage="sign")
    with pytest.raises(SigningKeyError):
        install_certificate(paths, foreign.read_bytes())
    from cryptography.hazmat.primitives import serialization

    assert install_certificate(paths, own.public_bytes(serialization.Encoding.PEM)) == own


def _encrypt(data: bytes, recipients: list[cms.Recipient]) -> bytes:
    out = io.BytesIO()
    cms.encrypt_stream(lambda w: w.write(data), recipients, out.write)
    return out.getvalue()


def test_envelope_to_several_recipients_opens_with_openssl(tmp_path, recipient):
    ec_key, ec_cert = sup.make_cert(tmp_path / "ec", "ec-office", kind="ec")
    recips = cms.load_recipients([recipient[1], ec_cert])
    data = os.urandom(3 * cms.CHUNK + 17)  # several chunks through the pipes
    blob = _encrypt(data, recips)
    assert data[:64] not in blob
    (tmp_path / "x.p7m").write_bytes(blob)
    for key in (recipient[0], ec_key):
        res = sup.openssl(
            "cms",
            "-decrypt",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "x.p7m"),
            "-inkey",
            str(key),
        )
        assert res.returncode == 0, res.stderr.decode()
        assert res.stdout == data
    info = sup.openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", str(tmp_path / "x.p7m"))
    assert b"aes-256-cbc" in info.stdout


def test_detached_signature_verifies_with_openssl(tmp_path):
    paths = DataPaths(tmp_path / "var").ensure()
    key, cert = load_or_create_signing_identity(paths)
    content = tmp_path / "m.json"
    content.write_bytes(b'{"export_id": "X1"}\n')
    sig = tmp_path / "m.json.p7s"
    sig.write_bytes(cms.sign_detached(content.read_bytes(), key, cert))
    crt = keys_dir(paths) / "signing.crt.pem"
    ok = sup.openssl(
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        str(sig),
        "-content",
        str(content),
        "-CAfile",
        str(crt),
        "-out",
        os.devnull,
    )
    assert ok.returncode == 0, ok.stderr.decode()
    check = cms.verify_detached(content, sig, [crt])
    assert check.ok and check.trusted and check.signer_fingerprint == cms.fingerprint(cert)
    content.write_bytes(b'{"export_id": "X2"}\n')
    assert not cms.verify_detached(content, sig).ok


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"days": 5, "start_days": -10}, "recipient_expired"),
        ({"start_days": 3}, "recipient_not_yet_valid"),
        ({"key_usage": "sign"}, "recipient_wrong_usage"),
        ({"kind": "ec", "key_usage": "sign"}, "recipient_wrong_usage"),
        ({"ca": True, "key_usage": None}, "recipient_wrong_usage"),
        ({"rsa_bits": 1024}, "recipient_wrong_usage"),
    ],
)
def test_unusable_recipient_certificates(tmp_path, kw, code):
    _, cert = sup.make_cert(tmp_path, "r", **kw)
    with pytest.raises(cms.CmsError) as exc:
        cms.load_recipients([cert])
    assert exc.value.code == code and exc.value.message_vi


def test_recipient_without_key_usage_is_accepted(tmp_path):
    _, cert = sup.make_cert(tmp_path, "plain", key_usage=None)
    assert len(cms.load_recipients([cert])) == 1


def test_recipient_check_uses_the_given_clock(recipient):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    with pytest.raises(cms.CmsError) as exc:
        cms.load_recipients([recipient[1]], now=later)
    assert exc.value.code == "recipient_expired"


def test_unreadable_certificate(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(cms.CmsError) as exc:
        cms.load_recipients([bad])
    assert exc.value.code == "recipient_unreadable"


def test_producer_failure_propagates_and_nothing_hangs(recipient):
    recips = cms.load_recipients([recipient[1]])

    def produce(w):
        w.write(b"x" * 1000)
        raise RuntimeError("source disk failed")

    with pytest.raises(RuntimeError, match="source disk failed"):
        cms.encrypt_stream(produce, recips, lambda b: None)
