"""The shared wire helpers both sides import: tus metadata, QR URI, receipts, errors."""

from __future__ import annotations

import base64
import copy
import hashlib

import pytest

from provisioning import schemas
from provisioning.hub import pki
from provisioning.hub.receipts import ReceiptSigner


def test_tus_metadata_round_trip_with_vietnamese_and_empty_values():
    meta = {
        "filename": "Nghị quyết 12-NQ/TU.pdf",
        "sha256": "a" * 64,
        "document_id": "doc-1",
        "kind": "",
    }
    header = schemas.encode_tus_metadata(meta)
    assert " " in header and "," in header and "ị" not in header
    assert schemas.decode_tus_metadata(header) == meta
    assert schemas.decode_tus_metadata("") == {}
    assert schemas.decode_tus_metadata("flag") == {"flag": ""}


@pytest.mark.parametrize(
    "header",
    ["a b c", "k !!!", "k //79", ",", "k1 YQ==,k1 Yg==", "k\tYQ==", "k  YQ=="],
)
def test_tus_metadata_refuses_malformed_headers(header):
    with pytest.raises(ValueError):
        schemas.decode_tus_metadata(header)


def test_tus_metadata_refuses_bad_keys():
    with pytest.raises(ValueError):
        schemas.encode_tus_metadata({"a b": "x"})


def test_upload_checksum_round_trip_and_rejects():
    value = schemas.upload_checksum(b"abc", "sha1")
    alg, digest = schemas.parse_upload_checksum(value)
    assert alg == "sha1" and digest == hashlib.sha1(b"abc").digest()
    for bad in (
        "md5 AAAA",
        "sha256",
        "sha256 !!!",
        "sha256 " + base64.b64encode(b"short").decode(),
    ):
        with pytest.raises(ValueError):
            schemas.parse_upload_checksum(bad)


def test_enroll_uri_round_trip_and_refusals():
    token = "Q" * 43
    uri = schemas.build_enroll_uri("https://hub.tinh.vn:8443/", token, "AB" * 32)
    assert uri.startswith("sohoa-enroll:?hub=https%3A%2F%2Fhub.tinh.vn%3A8443")
    info = schemas.parse_enroll_uri(uri)
    assert info == schemas.EnrollmentInfo("https://hub.tinh.vn:8443", token, "ab" * 32)
    bad = [
        "https://hub/?token=x",
        "sohoa-enroll:?hub=http%3A%2F%2Fh&token=" + token + "&ca=" + "a" * 64,
        "sohoa-enroll:?hub=https%3A%2F%2Fh&token=short&ca=" + "a" * 64,
        "sohoa-enroll:?hub=https%3A%2F%2Fh&token=" + token + "&ca=xyz",
        "sohoa-enroll:?hub=https%3A%2F%2Fh&token=" + token,
        "sohoa-enroll:?hub=https%3A%2F%2Fh&hub=https%3A%2F%2Fg&token=" + token + "&ca=" + "a" * 64,
    ]
    for text in bad:
        with pytest.raises(ValueError):
            schemas.parse_enroll_uri(text)


def test_device_uri_and_kiosk_ids():
    assert schemas.device_uri("kiosk-01") == "urn:sohoa:kiosk:kiosk-01"
    assert schemas.kiosk_id_from_uri("urn:sohoa:kiosk:kiosk-01") == "kiosk-01"
    for bad in (
        "urn:sohoa:kiosk:",
        "urn:sohoa:kiosk:../x",
        "urn:other:kiosk-01",
        "urn:sohoa:kiosk:a b",
    ):
        assert schemas.kiosk_id_from_uri(bad) is None
    with pytest.raises(ValueError):
        schemas.device_uri("bad/id")


def test_canonical_json_is_sorted_compact_utf8():
    assert schemas.canonical_json({"b": 1, "a": "Đảng"}) == '{"a":"Đảng","b":1}'.encode()


@pytest.fixture(scope="module")
def fleet():
    ca_key, ca = pki.make_ca("t")
    key, cert = pki.make_receipt_signer(ca_key, ca, "t")
    return ca, ReceiptSigner(key, cert, "hub-t")


def _receipt(signer: ReceiptSigner, **over):
    r = signer.sign(
        device="kiosk-1",
        document_id="doc-1",
        sha256="c" * 64,
        size=10,
        stored_as="sha256/cc/" + "c" * 64,
        duplicate=False,
    )
    r.update(over)
    return r


def test_verify_receipt_accepts_a_good_one_in_any_form_of_ca(fleet):
    ca, signer = fleet
    r = _receipt(signer)
    from cryptography.hazmat.primitives import serialization

    for form in (ca, pki.cert_pem(ca), ca.public_bytes(serialization.Encoding.DER)):
        assert schemas.verify_receipt(r, form, "C" * 64, "doc-1", "kiosk-1") == r
    header = schemas.encode_receipt_header(r)
    assert "=" not in header and schemas.decode_receipt_header(header) == r


def test_verify_receipt_refuses_tampering_and_mismatches(fleet):
    ca, signer = fleet
    good = _receipt(signer)

    def code(receipt, sha="c" * 64, doc="doc-1", dev="kiosk-1", ca_cert=ca):
        with pytest.raises(schemas.ReceiptError) as exc:
            schemas.verify_receipt(receipt, ca_cert, sha, doc, dev)
        assert exc.value.message_vi
        return exc.value.code

    tampered = copy.deepcopy(good)
    tampered["size"] = 11
    assert code(tampered) == "receipt_bad_signature"
    assert code(good, sha="d" * 64) == "receipt_mismatch"
    assert code(good, doc="doc-2") == "receipt_mismatch"
    assert code(good, dev="kiosk-2") == "receipt_mismatch"
    other_ca_key, other_ca = pki.make_ca("other")
    assert code(good, ca_cert=other_ca) == "receipt_untrusted"
    # A receipt signed by a certificate of another CA, even if self-consistent.
    k2, c2 = pki.make_receipt_signer(other_ca_key, other_ca, "x")
    assert code(_receipt(ReceiptSigner(k2, c2, "x"))) == "receipt_untrusted"
    missing = {k: v for k, v in good.items() if k != "sig"}
    assert code(missing) == "receipt_malformed"
    assert code({**good, "size": "10"}) == "receipt_malformed"
    assert code({**good, "v": 2}) == "receipt_malformed"
    assert code({**good, "sig": "@@"}) == "receipt_malformed"
    assert code({**good, "received_at": "1999-01-01T00:00:00Z"}) == "receipt_untrusted"
    with pytest.raises(ValueError):
        schemas.decode_receipt_header("!!!")


def test_error_body_round_trip():
    body = schemas.error_body("storage_full", "full", "đầy")
    info = schemas.parse_error_body(body)
    assert info == schemas.HubErrorInfo("storage_full", "full", "đầy")
    assert schemas.parse_error_body(b"not json") is None
    assert schemas.parse_error_body({"error": "x"}) is None


def test_pkcs7_and_csr_bodies_round_trip():
    key = pki.new_key()
    csr = pki.make_csr(key, "k1")
    assert schemas.load_csr_body(schemas.csr_body(csr)) == csr
    _, ca = pki.make_ca("t")
    assert schemas.load_pkcs7_certs_body(schemas.pkcs7_certs_body([ca])) == [ca]
    with pytest.raises(ValueError):
        schemas.load_pkcs7_certs_body(b"%%%")
    with pytest.raises(ValueError):
        schemas.load_csr_body(base64.b64encode(b"not der"))


def test_hub_imports_nothing_of_the_kiosk():
    import subprocess
    import sys

    code = (
        "import sys, provisioning.hub.server, provisioning.hub.bootstrap, provisioning.hub.tokens;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('firmware', 'kiosk_ui', 'drivers'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
