"""Metadata in the kiosk: validated at sealing, written to XMP and sidecar under the archival
file name, sequence numbers per record file, PAdES signing when configured, and page-1
extraction for the review screen. Pages are made directly (no OCR) to stay fast."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from firmware.archive.seal import verify_sealed
from firmware.errors import KioskError
from firmware.kiosk import Kiosk
from sohoa_common.x509_build import builder, key_usage

HEADER = [  # (top, left, text): a Party letter's page-1 header, one OCR line per row
    (238, 420, "BAN CHẤP HÀNH TRUNG ƯƠNG"),
    (238, 1500, "ĐẢNG CỘNG SẢN VIỆT NAM"),
    (310, 690, "*"),
    (380, 520, "Số 64-CV/TW"),
    (380, 1300, "Hà Nội, ngày 10 tháng 4 năm 2025"),
    (450, 400, "V/v tăng cường công tác số hóa"),
    (560, 505, "Thực hiện Chỉ thị số 12-CT/TW của Ban Bí thư, đề nghị các cấp ủy"),
]


def _words(conf: float = 94) -> list[dict]:
    lines = {top: i for i, top in enumerate(sorted({t for t, _, _ in HEADER}))}
    out = []
    for top, left, text in HEADER:
        x = left
        for word in text.split():
            out.append(
                {
                    "text": word,
                    "left": x,
                    "top": top,
                    "width": 24 * len(word),
                    "height": 44,
                    "conf": conf,
                    "line": lines[top],
                    "baseline": top + 36,
                }
            )
            x += 24 * len(word) + 14
    return out


def review_document(kiosk: Kiosk, metadata: dict | None = None, *, finish: bool = False) -> str:
    """A document in review with one processed page (image + OCR words on disk);
    ``finish``: the clerk taps Finish, so the kiosk moves it to review itself."""
    cat = kiosk.catalog
    doc_id = kiosk.new_document("clerk", metadata=metadata or {})["id"]
    page_id = f"P-{doc_id}"
    frame = kiosk.paths.frame(doc_id, page_id)
    frame.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((3508, 2480, 3), 246, np.uint8)  # A4 at 300 dpi, as the pipeline makes
    cv2.putText(img, "64-CV/TW", (520, 420), cv2.FONT_HERSHEY_SIMPLEX, 2, (20, 20, 20), 4)
    ok, jpeg = cv2.imencode(".jpg", img)
    frame.write_bytes(jpeg.tobytes())
    image_path = kiosk.paths.page_image(doc_id, page_id)
    image_path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(image_path), img)
    ocr_path = kiosk.paths.page_ocr(doc_id, page_id)
    ocr_path.write_text(json.dumps({"dpi": 300, "paper": "A4", "words": _words()}))
    cat.add_page(
        doc_id,
        "clerk",
        page_id=page_id,
        frame_path=str(frame),
        frame_sha256=hashlib.sha256(jpeg.tobytes()).hexdigest(),
    )
    cat.transition_page(page_id, "queued", "system")
    cat.transition_page(
        page_id,
        "done",
        "system",
        image_path=str(image_path),
        ocr_path=str(ocr_path),
        paper="A4",
        ocr_conf=94.0,
    )
    if finish:
        assert kiosk.finish(doc_id, "clerk")["state"] == "review"
        return doc_id
    cat.transition_document(doc_id, "processing", "clerk")
    cat.transition_document(doc_id, "review", "system")
    return doc_id


@pytest.fixture
def kiosk(make_settings):
    def make(**overrides) -> Kiosk:
        k = Kiosk(make_settings(**overrides), camera=None)
        k.start(recover=False)
        made.append(k)
        return k

    made: list[Kiosk] = []
    yield make
    for k in made:
        k.stop()


META = {
    "number": "64-CV/TW",
    "date": "10/04/2025",
    "issuer": "BAN CHẤP HÀNH TRUNG ƯƠNG",
    "subject": "V/v tăng cường công tác số hóa",
    "record_code": "H49.61.8.2025.05",
    "confidentiality": "thuong",
    "register_entry": "VBD-2025-0042",  # a key another feature adds: kept, not validated
}


def test_seal_writes_archival_metadata_to_xmp_sidecar_and_catalog(kiosk):
    k = kiosk()
    first = k.seal(review_document(k), "clerk", metadata=META)
    second = k.seal(review_document(k), "clerk", metadata=META)
    assert first["state"] == second["state"] == "queued"  # sealed, then in the uplink outbox
    meta = verify_sealed(Path(first["pdf_path"]), expected_sha256=first["sha256"])
    arch = meta["archival"]
    assert arch["numberSymbol"] == "64-CV/TW"
    assert (arch["recordCode"], arch["sequence"]) == ("H49.61.8.2025.05", "1")
    assert arch["archivalCode"] == "H49.61.8.2025.05.001"
    assert arch["issuedDate"] == "2025-04-10"
    assert arch["register_entry"] == "VBD-2025-0042"
    assert set(arch) <= set(meta["extension_properties"])
    sidecar = json.loads(k.paths.sealed_sidecar(second["id"]).read_text())
    assert sidecar["archival_name"] == "H49.61.8.2025.05.002.pdf"
    assert sidecar["archival"]["doc_type"] == "CV"
    assert sidecar["signature"] is None
    stored = k.catalog.get_document(first["id"])["metadata"]
    assert (stored["number"], stored["symbol"], stored["sequence"]) == ("64", "CV/TW", 1)
    assert stored["number_symbol"] == "64-CV/TW" and stored["page_count"] == 1
    assert stored["register_entry"] == "VBD-2025-0042"


@pytest.mark.parametrize(
    ("bad", "vi"),
    [
        ({"date": "30/02/2025"}, "Ngày không có thật"),
        ({"number": "64 CV TW"}, "Số và ký hiệu không đúng dạng"),
    ],
)
def test_invalid_metadata_sends_the_document_back_to_review(kiosk, bad, vi):
    k = kiosk()
    doc_id = review_document(k)
    with pytest.raises(KioskError) as info:
        k.seal(doc_id, "clerk", metadata={**META, **bad})
    assert info.value.code == "metadata_invalid" and vi in info.value.message_vi
    doc = k.catalog.get_document(doc_id)
    assert doc["state"] == "review" and doc["error_code"] == "metadata_invalid"
    assert not k.paths.sealed_pdf(doc_id).exists()
    assert k.catalog.db.execute("SELECT COUNT(*) FROM record_items").fetchone()[0] == 0


def test_top_secret_in_the_metadata_is_stored_as_the_level_and_refused(kiosk):
    k = kiosk()
    doc_id = review_document(k)
    with pytest.raises(KioskError) as info:
        k.seal(doc_id, "clerk", metadata={**META, "confidentiality": "tuyet_mat"})
    assert info.value.code == "top_secret_refused"
    assert "Tuyệt mật không được số hóa" in info.value.message_vi
    doc = k.catalog.get_document(doc_id)
    assert (doc["state"], doc["confidentiality"]) == ("review", "tuyet_mat")
    assert "confidentiality" not in doc["metadata"]
    assert not k.paths.sealed_pdf(doc_id).exists()
    assert k.catalog.db.execute("SELECT COUNT(*) FROM record_items").fetchone()[0] == 0


def _p12(tmp_path: Path) -> tuple[Path, x509.Certificate]:
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kiosk CA")])

    def cert(subject, pub, is_ca):
        usage = key_usage(sign=not is_ca, non_repudiation=not is_ca, cert_sign=is_ca)
        b = (
            builder(
                subject,
                ca_name,
                pub,
                not_after=dt.timedelta(days=9),
                backdate=dt.timedelta(days=1),
                now=now,
            )
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
            .add_extension(usage, critical=True)
        )
        return b.sign(ca_key, hashes.SHA256())

    ca = cert(ca_name, ca_key.public_key(), True)
    leaf = cert(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kiosk 7")]), key.public_key(), False
    )
    path = tmp_path / "kiosk.p12"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(b"k", key, leaf, [ca], serialization.NoEncryption())
    )
    return path, ca


def test_configured_signing_signs_the_file_that_is_recorded(kiosk, tmp_path):
    from firmware.archive.signing import validate_pdf

    p12, ca = _p12(tmp_path)
    k = kiosk(signing={"backend": "pkcs12", "key_file": str(p12)})
    doc = k.seal(review_document(k), "clerk", metadata=META)
    pdf = Path(doc["pdf_path"])
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() == doc["sha256"]
    assert doc["pdf_size"] == pdf.stat().st_size
    [v] = validate_pdf(pdf, [ca])
    assert v.ok and v.coverage == "ENTIRE_FILE"
    assert verify_sealed(pdf, expected_sha256=doc["sha256"])["pdfa_part"] == "2"
    sidecar = json.loads(k.paths.sealed_sidecar(doc["id"]).read_text())
    assert sidecar["sha256"] == doc["sha256"] and "Kiosk 7" in sidecar["signature"]["signer"]


def test_signing_failure_fails_the_document_with_a_reason(kiosk, tmp_path):
    k = kiosk(signing={"backend": "pkcs12", "key_file": str(tmp_path / "missing.p12")})
    doc_id = review_document(k)
    with pytest.raises(KioskError) as info:
        k.seal(doc_id, "clerk", metadata=META)
    assert info.value.code == "signing_key_missing"
    doc = k.catalog.get_document(doc_id)
    assert doc["state"] == "failed" and doc["error_code"] == "signing_key_missing"


def test_extract_metadata_prefills_from_page_one(kiosk):
    k = kiosk()
    doc_id = review_document(k)
    out = k.extract_metadata(doc_id)
    fields = {name: f["value"] for name, f in out["fields"].items()}
    assert fields["kind"] == "party" and fields["type"] == "Công văn"
    assert (fields["number"], fields["symbol"], fields["date"]) == ("64", "CV/TW", "2025-04-10")
    assert out["metadata"]["doc_type"] == "CV"
    assert out["low_confidence"] == []
    # the pre-filled values seal as they are
    assert k.seal(doc_id, "clerk", metadata=out["metadata"])["state"] == "queued"


def test_extract_metadata_before_page_one_is_processed(kiosk):
    k = kiosk()
    doc_id = k.new_document("clerk")["id"]
    with pytest.raises(KioskError) as info:
        k.extract_metadata(doc_id)
    assert info.value.code == "page_not_ready"


def test_page_one_is_read_once_when_the_document_enters_review(kiosk, monkeypatch):
    k = kiosk()
    doc_id = review_document(k, finish=True)
    cached = k.catalog.get_document(doc_id)["metadata"]["extraction"]
    assert cached["page_id"] == f"P-{doc_id}"
    assert cached["metadata"]["number"] == "64"

    def no_second_read(_doc_id):
        raise AssertionError("the review screen must use the cached reading")

    monkeypatch.setattr(k.metadata_reader, "extract", no_second_read)
    form = k.review_form(doc_id)
    assert form["read"] and form["fields"]["number_symbol"]["value"] == "64-CV/TW"
    assert form["fields"]["issuer"]["value"] == "BAN CHẤP HÀNH TRUNG ƯƠNG"
    assert form["fields"]["subject"]["source"] == "ocr"


def test_review_form_reads_a_document_reviewed_before_the_cache_existed(kiosk):
    k = kiosk()
    doc_id = review_document(k)  # moved to review without the kiosk (an older catalog)
    assert "extraction" not in k.catalog.get_document(doc_id)["metadata"]
    form = k.review_form(doc_id)
    assert form["fields"]["date"]["value"] == "2025-04-10"
    assert k.catalog.get_document(doc_id)["metadata"]["extraction"]["page_id"] == f"P-{doc_id}"


def test_a_reader_failure_never_holds_the_review_up(kiosk, monkeypatch):
    k = kiosk()

    def broken(_doc_id):
        raise RuntimeError("reader crashed")

    monkeypatch.setattr(k.metadata_reader, "extract", broken)
    doc_id = review_document(k, finish=True)
    assert k.catalog.get_document(doc_id)["state"] == "review"
    form = k.review_form(doc_id)
    assert not form["read"] and form["fields"]["number_symbol"]["value"] == ""
