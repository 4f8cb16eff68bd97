"""PAdES signatures with a PKCS#12 key file and with a PKCS#11 token (SoftHSM2), validated
by pyHanko's validator against a test CA made here; the signed file stays PDF/A-2b."""

from __future__ import annotations

import datetime as dt
import glob
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from firmware.archive.seal import DocumentInfo, OcrWord, SealPage, seal_pdf, verify_sealed
from firmware.archive.signing import (
    SigningError,
    pkcs11_signer,
    pkcs12_signer,
    sign_pdf,
    sign_with_config,
    validate_pdf,
)
from firmware.archive.xmp import parse_xmp
from sohoa_common.x509_build import key_usage

TOKEN_LABEL, KEY_LABEL, PIN = "sohoa-test", "kiosk-signer", "246810"
SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    *glob.glob("/usr/lib/*-linux-gnu/softhsm/libsofthsm2.so"),
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Văn phòng Tỉnh ủy"),
        ]
    )


class FakeCA:
    """A CA and the certificates it issues (EC P-256, 30 days)."""

    def __init__(self, cn: str = "Sohoa Test CA"):
        now = dt.datetime.now(dt.UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(cn)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(key_usage(cert_sign=True), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, public_key, cn: str) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage(sign=True, non_repudiation=True), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def pkcs12(self, path: Path, passphrase: bytes, cn: str = "Kiosk 01") -> x509.Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.issue(key.public_key(), cn)
        path.write_bytes(
            pkcs12.serialize_key_and_certificates(
                b"kiosk", key, cert, [self.cert], serialization.BestAvailableEncryption(passphrase)
            )
        )
        return cert


@pytest.fixture(scope="module")
def ca() -> FakeCA:
    return FakeCA()


@pytest.fixture
def sealed(tmp_path) -> Path:
    img = np.full((900, 640, 3), 245, np.uint8)
    img[120:150, 80:500] = 30
    words = [OcrWord("Công", 80, 120, 200, 30, 95, 0), OcrWord("văn", 300, 120, 200, 30, 95, 0)]
    info = DocumentInfo(
        "D20250101-1",
        "Công văn số hóa",
        dt.datetime(2025, 1, 2, tzinfo=dt.UTC),
        "kiosk-01",
        archival={"recordCode": "H49.2025.01", "sequence": "3"},
    )
    out = tmp_path / "sealed.pdf"
    seal_pdf([SealPage(img, 75, words)], info, out)
    return out


def _assert_still_pdfa(original: Path, signed: Path) -> None:
    with pikepdf.open(original) as pdf:
        xmp_before = pdf.Root.Metadata.read_bytes()
    with pikepdf.open(signed) as pdf:
        assert pdf.open_metadata().pdfa_status == "2B"
        assert pdf.Root.Metadata.read_bytes() == xmp_before  # packet untouched
        widget = pdf.Root.AcroForm.Fields[0]
        assert list(widget.Rect) == [0, 0, 0, 0]  # invisible: no appearance needed
        assert int(widget.F) & 4  # Print flag, as PDF/A requires for annotations
        assert "/NeedAppearances" not in pdf.Root.AcroForm
    meta = parse_xmp(xmp_before)
    assert (meta["pdfa_part"], meta["pdfa_conformance"]) == ("2", "B")
    # the incremental update leaves the sealed revision, and its content hash, intact
    assert verify_sealed(signed)["content_sha256"] == verify_sealed(original)["content_sha256"]
    assert signed.read_bytes().startswith(original.read_bytes())


def test_pkcs12_signature_validates_and_keeps_pdfa(tmp_path, ca, sealed):
    p12 = tmp_path / "kiosk.p12"
    ca.pkcs12(p12, b"mat-khau")
    out = tmp_path / "signed.pdf"
    report = sign_pdf(sealed, out, pkcs12_signer(p12, b"mat-khau"), location="Bắc Ninh")
    assert "Kiosk 01" in report.signer and report.size == out.stat().st_size
    [v] = validate_pdf(out, [ca.cert])
    assert v.ok and v.coverage == "ENTIRE_FILE"
    assert v.subfilter == "/ETSI.CAdES.detached"
    _assert_still_pdfa(sealed, out)


def test_a_modified_byte_breaks_the_signature(tmp_path, ca, sealed):
    p12 = tmp_path / "kiosk.p12"
    ca.pkcs12(p12, b"x")
    out = tmp_path / "signed.pdf"
    sign_pdf(sealed, out, pkcs12_signer(p12, b"x"))
    data = bytearray(out.read_bytes())
    pos = data.index(b"/Title") + 8  # inside the signed original revision
    data[pos] ^= 0x20
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    [v] = validate_pdf(tampered, [ca.cert])
    assert not v.intact and not v.ok


def test_untrusted_ca_is_reported(tmp_path, ca, sealed):
    p12 = tmp_path / "kiosk.p12"
    ca.pkcs12(p12, b"x")
    out = tmp_path / "signed.pdf"
    sign_pdf(sealed, out, pkcs12_signer(p12, b"x"))
    [v] = validate_pdf(out, [FakeCA("Another CA").cert])
    assert v.intact and v.valid and not v.trusted and not v.ok


def test_bad_key_file_and_unsigned_file_give_clear_errors(tmp_path, ca, sealed):
    p12 = tmp_path / "kiosk.p12"
    ca.pkcs12(p12, b"right")
    with pytest.raises(SigningError) as info:
        pkcs12_signer(p12, b"wrong")
    assert info.value.code == "signing_key_unreadable" and "sai mật khẩu" in info.value.message_vi
    with pytest.raises(SigningError) as info:
        pkcs12_signer(tmp_path / "missing.p12")
    assert info.value.code == "signing_key_missing"
    with pytest.raises(SigningError) as info:
        validate_pdf(sealed, [ca.cert])
    assert info.value.code == "not_signed"


def test_sign_with_config_in_place(tmp_path, ca, sealed):
    from firmware.config import SigningConfig

    p12 = tmp_path / "kiosk.p12"
    ca.pkcs12(p12, b"pw")
    (tmp_path / "pass").write_text("pw\n")
    assert sign_with_config(sealed, sealed, SigningConfig()) is None  # backend "none"
    cfg = SigningConfig(backend="pkcs12", key_file=str(p12), passphrase_file=str(tmp_path / "pass"))
    report = sign_with_config(sealed, sealed, cfg)
    assert report is not None and report.backend == "pkcs12"
    [v] = validate_pdf(sealed, [ca.cert])
    assert v.ok and v.field_name == "SohoaSignature"


# --- PKCS#11 on SoftHSM2 ----------------------------------------------------------------


@pytest.fixture(scope="module")
def softhsm(tmp_path_factory, ca):
    """A SoftHSM2 token with an EC key generated on it and its certificate from the CA."""
    module = next((m for m in SOFTHSM_MODULES if os.path.exists(m)), None)
    if module is None or shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2 is not installed (Debian package softhsm2)")
    pkcs11 = pytest.importorskip("pkcs11")
    from pkcs11 import Attribute, CertificateType, KeyType, ObjectClass
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            TOKEN_LABEL,
            "--pin",
            PIN,
            "--so-pin",
            "13579",
        ],
        check=True,
        capture_output=True,
    )
    token = pkcs11.lib(module).get_token(token_label=TOKEN_LABEL)
    with token.open(user_pin=PIN, rw=True) as session:
        params = session.create_domain_parameters(
            KeyType.EC,
            {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        pub, _priv = params.generate_keypair(store=True, label=KEY_LABEL, id=b"\x01")
        public_key = serialization.load_der_public_key(encode_ec_public_key(pub))
        cert = ca.issue(public_key, "Kiosk token")
        session.create_object(
            {
                Attribute.CLASS: ObjectClass.CERTIFICATE,
                Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                Attribute.TOKEN: True,
                Attribute.LABEL: KEY_LABEL,
                Attribute.ID: b"\x01",
                Attribute.SUBJECT: cert.subject.public_bytes(),
                Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
            }
        )
    yield module
    mp.undo()


def test_pkcs11_token_signature_validates(tmp_path, ca, sealed, softhsm):
    out = tmp_path / "signed.pdf"
    with pkcs11_signer(softhsm, token_label=TOKEN_LABEL, key_label=KEY_LABEL, pin=PIN) as s:
        report = sign_pdf(sealed, out, s, backend="pkcs11")
    assert "Kiosk token" in report.signer
    [v] = validate_pdf(out, [ca.cert])
    assert v.ok and v.coverage == "ENTIRE_FILE"
    _assert_still_pdfa(sealed, out)
    data = bytearray(out.read_bytes())
    data[len(data) // 3] ^= 0x01
    (tmp_path / "bad.pdf").write_bytes(bytes(data))
    try:
        reports = validate_pdf(tmp_path / "bad.pdf", [ca.cert])
    except SigningError:  # the flipped byte may land in the structure: unreadable is a fail
        return
    assert not all(r.ok for r in reports)


def test_pkcs11_config_with_pin_file_and_wrong_pin(tmp_path, ca, sealed, softhsm):
    from firmware.config import SigningConfig

    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN)
    cfg = SigningConfig(
        backend="pkcs11",
        pkcs11_module=softhsm,
        token_label=TOKEN_LABEL,
        key_label=KEY_LABEL,
        pin_file=str(pin_file),
    )
    assert sign_with_config(sealed, sealed, cfg).backend == "pkcs11"
    assert validate_pdf(sealed, [ca.cert])[0].ok
    pin_file.write_text("000000")
    with pytest.raises(SigningError) as info:
        sign_with_config(sealed, tmp_path / "x.pdf", cfg)
    assert info.value.code == "token_unavailable" and "token" in info.value.message_vi
    assert not (tmp_path / "x.pdf").exists()
