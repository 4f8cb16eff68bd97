"""The kiosk-hub wire contract in code: constants, encodings and the receipt check.

``docs/uplink-protocol.md`` is the contract in words; this module is the only hub module the
kiosk may import, and the hub imports nothing else of the kiosk, so every rule both sides must
apply identically (tus metadata encoding, the enrollment QR URI, the canonical JSON a receipt
signature covers, what makes a receipt valid) lives here once. It depends on the standard
library and ``cryptography`` only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7

# --- transport ----------------------------------------------------------------------------

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "termination", "checksum")
TUS_CHECKSUM_ALGORITHMS = ("sha1", "sha256")
TUS_CONTENT_TYPE = "application/offset+octet-stream"
FILES_PATH = "/files/"

EST_CACERTS = "/.well-known/est/cacerts"
EST_SIMPLEENROLL = "/.well-known/est/simpleenroll"
EST_SIMPLEREENROLL = "/.well-known/est/simplereenroll"
PKCS7_CONTENT_TYPE = "application/pkcs7-mime"
PKCS10_CONTENT_TYPE = "application/pkcs10"

RECEIPT_HEADER = "Sohoa-Receipt"
DEVICE_URI_PREFIX = "urn:sohoa:kiosk:"
ENROLL_URI_SCHEME = "sohoa-enroll"

DEFAULT_CERT_DAYS = 90
RENEW_AT_FRACTION = 2 / 3
"""The kiosk renews its certificate when this share of its lifetime has passed."""

REQUIRED_METADATA = ("filename", "sha256", "document_id")
OPTIONAL_METADATA = ("content_type", "kind", "confidentiality")

# --- the confidentiality rule, as both ends of the WAN read it ------------------------------
#: The only level that may cross the WAN (firmware.routing.Level.THUONG); any other value
#: (Mật, Tối mật, Tuyệt mật, or one not understood) is refused by the kiosk's uplink worker
#: just before each request and by the hub at ingest.
ORDINARY_LEVEL = "thuong"
#: XMP namespace of Sohoa's archival properties (firmware.archive.xmp writes it, both ends read it).
SOHOA_XMP_NS = "https://sohoa.vn/ns/archive/1.0/"


def may_cross_wan(level: str | None) -> bool:
    """True only for an ordinary level; None (not said) is for the caller to judge."""
    return level == ORDINARY_LEVEL


def xmp_confidentiality(path: Any) -> str | None:
    """The ``sohoa:confidentiality`` a PDF's XMP metadata says, or None when the file has
    no readable XMP or no level in it. Read with pikepdf (the document catalog's
    /Metadata stream), so a level in a compressed stream is found too."""
    import pikepdf

    try:
        with pikepdf.open(path) as pdf:
            meta = pdf.Root.get("/Metadata")
            if meta is None:
                return None
            data = meta.read_bytes()
    except (pikepdf.PdfError, OSError, ValueError):
        return None
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data.strip(b"\x00 \r\n\t"), parser)
    except etree.XMLSyntaxError:
        return None
    name = f"{{{SOHOA_XMP_NS}}}confidentiality"
    for el in root.iter(name):  # element form (what firmware.archive.xmp writes)
        return (el.text or "").strip()
    for el in root.iter():  # attribute form (rdf:Description sohoa:confidentiality="...")
        if name in el.attrib:
            return el.attrib[name].strip()
    return None


#: The kiosk's audit-chain anchor, sent in ``Upload-Metadata`` with every delivery
#: (docs/uplink-protocol.md, "Audit anchor"): the head it signed (``audit_seq``,
#: ``audit_head``, ``audit_at``, ``audit_sig`` = base64 DER ECDSA-P256-SHA256 over
#: :func:`audit_checkpoint_payload`, ``audit_signer`` = SHA-256 hex of the signing key's
#: SubjectPublicKeyInfo) and, when it reported one before, its chain's hash at the last
#: reported record (``audit_prev_seq``, ``audit_prev_head``), recomputed from the chain as it
#: is now, so the hub can tell a fork from growth.
AUDIT_METADATA = (
    "audit_seq",
    "audit_head",
    "audit_at",
    "audit_sig",
    "audit_signer",
    "audit_prev_seq",
    "audit_prev_head",
)
AUDIT_CHECKPOINT_VERSION = 1
AUDIT_ANCHOR_PATH = "/audit/anchor"
"""``GET`` over mutual TLS: the hub's last anchor for the calling kiosk (JSON) or 404."""


def audit_checkpoint_payload(kiosk_id: str, seq: int, head: str, at: str) -> bytes:
    """The bytes a kiosk signs for one audit checkpoint (canonical JSON)."""
    body = {"v": AUDIT_CHECKPOINT_VERSION, "kiosk": kiosk_id, "seq": seq, "head": head, "at": at}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


RECEIPT_VERSION = 1
RECEIPT_FIELDS = (
    "v",
    "hub",
    "device",
    "document_id",
    "sha256",
    "size",
    "stored_as",
    "received_at",
    "duplicate",
    "signer",
    "sig",
)

# Stable error codes of the hub's JSON error bodies (the kiosk branches on these).
E_CERT_REQUIRED = "cert_required"
E_CERT_INVALID = "cert_invalid"
E_DEVICE_REVOKED = "device_revoked"
E_TOKEN_INVALID = "token_invalid"
E_CSR_INVALID = "csr_invalid"
E_DEVICE_EXISTS = "device_exists"
E_NOT_FOUND = "not_found"
E_OFFSET_MISMATCH = "offset_mismatch"
E_CHECKSUM_MISMATCH = "checksum_mismatch"
E_HASH_MISMATCH = "hash_mismatch"
E_STORAGE_FULL = "storage_full"
E_TOO_LARGE = "too_large"
E_BAD_REQUEST = "bad_request"
E_UNSUPPORTED_MEDIA = "unsupported_media_type"
E_TUS_VERSION = "tus_version"
E_UPLOAD_BUSY = "upload_busy"
E_CLASSIFIED = "classified_refused"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_KIOSK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_META_KEY = re.compile(r"^[^\s,]+$")


def is_sha256_hex(value: str) -> bool:
    """True for a lower-case 64-digit hex SHA-256 (the only form the protocol uses)."""
    return bool(_HEX64.match(value))


# --- device identity ------------------------------------------------------------------------


def is_valid_kiosk_id(kiosk_id: str) -> bool:
    """Kiosk ids travel in certificate URIs and object paths: a short, plain token."""
    return bool(_KIOSK_ID.match(kiosk_id))


def device_uri(kiosk_id: str) -> str:
    """The SAN URI that names a device in its certificate and CSR."""
    if not is_valid_kiosk_id(kiosk_id):
        raise ValueError(f"invalid kiosk id: {kiosk_id!r}")
    return DEVICE_URI_PREFIX + kiosk_id


def kiosk_id_from_uri(uri: str) -> str | None:
    """The kiosk id of a ``urn:sohoa:kiosk:<id>`` URI, or None for anything else."""
    if not uri.startswith(DEVICE_URI_PREFIX):
        return None
    kiosk_id = uri[len(DEVICE_URI_PREFIX) :]
    return kiosk_id if is_valid_kiosk_id(kiosk_id) else None


def device_uris(obj: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    """Every SAN URI of a certificate or CSR (empty when it has no SAN)."""
    try:
        san = obj.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


def kiosk_id_from_cert(obj: x509.Certificate | x509.CertificateSigningRequest) -> str | None:
    """The device a certificate or CSR names: exactly one SAN URI of the device form."""
    uris = device_uris(obj)
    if len(uris) != 1:
        return None
    return kiosk_id_from_uri(uris[0])


def cert_sha256(cert: x509.Certificate) -> str:
    """Hex SHA-256 of a certificate's DER: the CA fingerprint carried in the enrollment QR."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


# --- PKCS#7 / PKCS#10 bodies (EST uses base64 of DER) ---------------------------------------


def pkcs7_certs_body(certs: list[x509.Certificate]) -> bytes:
    """Base64 of a DER PKCS#7 certs-only bundle: the body of EST certificate responses."""
    der = pkcs7.serialize_certificates(certs, serialization.Encoding.DER)
    return base64.encodebytes(der)


def load_pkcs7_certs_body(body: bytes | str) -> list[x509.Certificate]:
    """Certificates of an EST certs-only response body; ValueError when it is not one."""
    try:
        der = base64.b64decode(_strip_ws(body), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("PKCS#7 body is not base64") from exc
    certs = pkcs7.load_der_pkcs7_certificates(der)
    if not certs:
        raise ValueError("PKCS#7 body holds no certificate")
    return certs


def csr_body(csr: x509.CertificateSigningRequest) -> bytes:
    """Base64 of a CSR's DER: the body of simpleenroll / simplereenroll requests."""
    return base64.encodebytes(csr.public_bytes(serialization.Encoding.DER))


def load_csr_body(body: bytes | str) -> x509.CertificateSigningRequest:
    """The CSR of an EST request body; ValueError when it is not base64 DER of one."""
    try:
        der = base64.b64decode(_strip_ws(body), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("CSR body is not base64") from exc
    return x509.load_der_x509_csr(der)


def _strip_ws(body: bytes | str) -> bytes:
    raw = body.encode("ascii", "replace") if isinstance(body, str) else body
    return b"".join(raw.split())


# --- enrollment QR ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollmentInfo:
    """What an enrollment QR carries: where the hub is, the one-time token, the CA pin."""

    hub: str
    token: str
    ca_sha256: str


def build_enroll_uri(hub: str, token: str, ca_sha256: str) -> str:
    """``sohoa-enroll:?hub=<url>&token=<token>&ca=<hex>``, the text of the enrollment QR."""
    info = _check_enrollment(hub, token, ca_sha256)
    query = urlencode({"hub": info.hub, "token": info.token, "ca": info.ca_sha256}, quote_via=quote)
    return f"{ENROLL_URI_SCHEME}:?{query}"


def parse_enroll_uri(text: str) -> EnrollmentInfo:
    """Parse the QR text; ValueError with a plain reason when it is not a valid one."""
    parts = urlsplit(text.strip())
    if parts.scheme != ENROLL_URI_SCHEME:
        raise ValueError(f"not a {ENROLL_URI_SCHEME}: URI")
    fields = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    values: dict[str, str] = {}
    for key in ("hub", "token", "ca"):
        got = fields.get(key, [])
        if len(got) != 1:
            raise ValueError(f"enrollment URI needs exactly one {key!r}")
        values[key] = got[0]
    return _check_enrollment(values["hub"], values["token"], values["ca"])


def _check_enrollment(hub: str, token: str, ca_sha256: str) -> EnrollmentInfo:
    hub_parts = urlsplit(hub)
    if hub_parts.scheme != "https" or not hub_parts.hostname:
        raise ValueError("hub URL must be https://host[:port]")
    if not _TOKEN.match(token):
        raise ValueError("token is not url-safe base64")
    ca = ca_sha256.lower()
    if not is_sha256_hex(ca):
        raise ValueError("CA fingerprint must be 64 hex digits")
    return EnrollmentInfo(hub=hub.rstrip("/"), token=token, ca_sha256=ca)


# --- tus ----------------------------------------------------------------------------------------


def encode_tus_metadata(meta: Mapping[str, str]) -> str:
    """The ``Upload-Metadata`` header: ``key base64(value)`` pairs joined by commas."""
    pairs = []
    for key, value in meta.items():
        if not _META_KEY.match(key):
            raise ValueError(f"invalid tus metadata key: {key!r}")
        pairs.append(f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}")
    return ",".join(pairs)


def decode_tus_metadata(header: str) -> dict[str, str]:
    """Decode ``Upload-Metadata``; ValueError on malformed pairs, bad base64 or non-UTF-8.

    A key without a value (allowed by tus) decodes to the empty string; duplicate keys are
    refused because either reading would be a guess.
    """
    out: dict[str, str] = {}
    if not header.strip():
        return out
    for pair in header.split(","):
        items = pair.strip().split(" ")
        if len(items) > 2 or not items[0] or not _META_KEY.match(items[0]):
            raise ValueError(f"malformed tus metadata pair: {pair.strip()[:40]!r}")
        key = items[0]
        if key in out:
            raise ValueError(f"duplicate tus metadata key: {key!r}")
        if len(items) == 1 or items[1] == "":
            out[key] = ""
            continue
        try:
            out[key] = base64.b64decode(items[1], validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"tus metadata value of {key!r} is not base64 UTF-8") from exc
    return out


def upload_checksum(data: bytes, algorithm: str = "sha256") -> str:
    """The ``Upload-Checksum`` header value for one PATCH body."""
    if algorithm not in TUS_CHECKSUM_ALGORITHMS:
        raise ValueError(f"unsupported checksum algorithm: {algorithm}")
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm} {base64.b64encode(digest).decode('ascii')}"


def parse_upload_checksum(value: str) -> tuple[str, bytes]:
    """``(algorithm, digest)`` of an ``Upload-Checksum`` header; ValueError when malformed."""
    items = value.strip().split(" ")
    if len(items) != 2 or items[0] not in TUS_CHECKSUM_ALGORITHMS:
        raise ValueError("Upload-Checksum must be '<sha1|sha256> <base64>'")
    try:
        digest = base64.b64decode(items[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("Upload-Checksum digest is not base64") from exc
    if len(digest) != hashlib.new(items[0]).digest_size:
        raise ValueError("Upload-Checksum digest has the wrong length")
    return items[0], digest


# --- receipts -----------------------------------------------------------------------------------


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes a receipt signature covers."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def receipt_signed_bytes(receipt: Mapping[str, Any]) -> bytes:
    """The canonical JSON of every receipt field except ``sig``."""
    return canonical_json({k: v for k, v in receipt.items() if k != "sig"})


def encode_receipt_header(receipt: Mapping[str, Any]) -> str:
    """The ``Sohoa-Receipt`` header value: base64url (unpadded) of the receipt JSON."""
    return base64.urlsafe_b64encode(canonical_json(dict(receipt))).rstrip(b"=").decode("ascii")


def decode_receipt_header(value: str) -> dict[str, Any]:
    """The receipt carried by a ``Sohoa-Receipt`` header; ValueError when unreadable."""
    raw = value.strip()
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        obj = json.loads(data)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("Sohoa-Receipt header is not base64url JSON") from exc
    if not isinstance(obj, dict):
        raise ValueError("Sohoa-Receipt header does not hold a JSON object")
    return obj


class ReceiptError(ValueError):
    """A receipt that must not count as delivery; ``code`` says why, in a stable word."""

    def __init__(self, code: str, message: str, message_vi: str):
        super().__init__(message)
        self.code = code
        self.message = message
        self.message_vi = message_vi


def _load_cert(cert: x509.Certificate | bytes | str) -> x509.Certificate:
    if isinstance(cert, x509.Certificate):
        return cert
    raw = cert.encode("ascii") if isinstance(cert, str) else cert
    if b"-----BEGIN" in raw:
        return x509.load_pem_x509_certificate(raw)
    return x509.load_der_x509_certificate(raw)


def verify_receipt(
    receipt: Mapping[str, Any],
    ca_cert: x509.Certificate | bytes | str,
    expect_sha256: str,
    expect_document_id: str,
    expect_device: str,
) -> dict[str, Any]:
    """Check a hub receipt; return it as a dict, or raise :class:`ReceiptError`.

    A receipt proves delivery only when its signer certificate was issued by the fleet CA
    (and was valid when the hub signed), the ECDSA P-256 signature covers the canonical JSON
    of every other field, and it names the very bytes, document and device the kiosk sent.
    ``ca_cert`` is the fleet CA as a certificate, PEM or DER.
    """
    r = dict(receipt)
    missing = [k for k in RECEIPT_FIELDS if k not in r]
    if missing:
        raise ReceiptError(
            "receipt_malformed",
            f"Receipt lacks {', '.join(missing)}.",
            f"Biên nhận của máy chủ thiếu trường {', '.join(missing)}.",
        )
    types_ok = (
        r["v"] == RECEIPT_VERSION
        and all(
            isinstance(r[k], str)
            for k in ("hub", "device", "document_id", "sha256", "stored_as", "received_at")
        )
        and isinstance(r["size"], int)
        and not isinstance(r["size"], bool)
        and isinstance(r["duplicate"], bool)
        and isinstance(r["signer"], str)
        and isinstance(r["sig"], str)
    )
    if not types_ok:
        raise ReceiptError(
            "receipt_malformed",
            "Receipt fields have the wrong version or types.",
            "Biên nhận của máy chủ sai phiên bản hoặc sai kiểu dữ liệu.",
        )
    try:
        ca = _load_cert(ca_cert)
        signer = x509.load_der_x509_certificate(base64.b64decode(r["signer"], validate=True))
        sig = base64.b64decode(r["sig"], validate=True)
        received_at = datetime.fromisoformat(r["received_at"].replace("Z", "+00:00"))
    except (binascii.Error, ValueError) as exc:
        raise ReceiptError(
            "receipt_malformed",
            f"Receipt cannot be read: {exc}.",
            "Không đọc được biên nhận của máy chủ.",
        ) from exc
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)
    try:
        signer.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise ReceiptError(
            "receipt_untrusted",
            "Receipt is signed by a certificate the fleet CA did not issue.",
            "Biên nhận được ký bởi chứng thư không do CA của hệ thống cấp.",
        ) from exc
    if not (signer.not_valid_before_utc <= received_at <= signer.not_valid_after_utc):
        raise ReceiptError(
            "receipt_untrusted",
            "Receipt signer certificate was not valid at the time of receipt.",
            "Chứng thư ký biên nhận không còn hiệu lực tại thời điểm nhận.",
        )
    try:
        ku = signer.extensions.get_extension_for_class(x509.KeyUsage).value
        signing_allowed = ku.digital_signature
    except x509.ExtensionNotFound:
        signing_allowed = False
    key = signer.public_key()
    if not signing_allowed or not (
        isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    ):
        raise ReceiptError(
            "receipt_untrusted",
            "Receipt signer certificate is not a P-256 signing certificate.",
            "Chứng thư ký biên nhận không phải chứng thư ký số P-256.",
        )
    try:
        key.verify(sig, receipt_signed_bytes(r), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise ReceiptError(
            "receipt_bad_signature",
            "Receipt signature does not match its content.",
            "Chữ ký trên biên nhận không khớp với nội dung.",
        ) from exc
    for field, expected in (
        ("sha256", expect_sha256.lower()),
        ("document_id", expect_document_id),
        ("device", expect_device),
    ):
        if r[field] != expected:
            raise ReceiptError(
                "receipt_mismatch",
                f"Receipt is for another {field} ({r[field]!r}, expected {expected!r}).",
                f"Biên nhận không khớp với tài liệu đã gửi (trường {field}).",
            )
    return r


# --- errors ----------------------------------------------------------------------------------


def error_body(code: str, message: str, message_vi: str) -> dict[str, dict[str, str]]:
    """The JSON body of every hub error."""
    return {"error": {"code": code, "message": message, "message_vi": message_vi}}


@dataclass(frozen=True)
class HubErrorInfo:
    """A hub error as the kiosk reads it back from a response body."""

    code: str
    message: str
    message_vi: str


def parse_error_body(body: bytes | str | Mapping[str, Any]) -> HubErrorInfo | None:
    """The error of a hub response body, or None when the body is not a hub error."""
    obj: Any = body
    if isinstance(body, bytes | str):
        try:
            obj = json.loads(body)
        except ValueError:
            return None
    err = obj.get("error") if isinstance(obj, Mapping) else None
    if not isinstance(err, Mapping) or not isinstance(err.get("code"), str):
        return None
    return HubErrorInfo(
        code=err["code"],
        message=str(err.get("message", "")),
        message_vi=str(err.get("message_vi", "")),
    )


def utc_now_iso() -> str:
    """ISO 8601 UTC with a ``Z``, second precision: the time format of receipts."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
