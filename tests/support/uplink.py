"""Small stand-ins for the unit tests of firmware/uplink (the real hub runs in the
integration tests): a fleet CA, an enrolled identity on disk, an in-process tus hub behind
httpx.MockTransport that signs receipts exactly as the protocol says, and a sealed document.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from firmware.store.paths import DataPaths
from firmware.uplink import identity as idm
from provisioning import schemas
from sohoa_common.atomic import atomic_write_bytes
from sohoa_common.x509_build import key_usage


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    days: float = 90,
    start: dt.datetime | None = None,
    san: str | None = None,
) -> x509.Certificate:
    start = start or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    iname, ikey = issuer or (_name(subject), key)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(iname)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(key_usage(sign=not ca, cert_sign=ca), critical=True)
    )
    if san:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san)]), critical=False
        )
    return b.sign(ikey, hashes.SHA256())


@dataclass
class FleetCA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    signer_key: ec.EllipticCurvePrivateKey
    signer: x509.Certificate

    @classmethod
    def make(cls, name: str = "Test fleet CA") -> FleetCA:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(name, key, None, ca=True, days=3650)
        skey = ec.generate_private_key(ec.SECP256R1())
        signer = _cert("receipts", skey, (cert.subject, key), days=365)
        return cls(key, cert, skey, signer)

    def sign_receipt(self, body: dict[str, Any]) -> dict[str, Any]:
        r = {
            **body,
            "signer": base64.b64encode(
                self.signer.public_bytes(serialization.Encoding.DER)
            ).decode(),
        }
        sig = self.signer_key.sign(schemas.receipt_signed_bytes(r), ec.ECDSA(hashes.SHA256()))
        return {**r, "sig": base64.b64encode(sig).decode()}


def write_identity(
    paths: DataPaths,
    ca: FleetCA,
    kiosk_id: str,
    *,
    hub: str = "https://hub.test",
    days: float = 90,
    start: dt.datetime | None = None,
) -> idm.Identity:
    """An enrolled kiosk, as :func:`firmware.uplink.identity.enroll` leaves it on disk."""
    d = idm.identity_dir(paths)
    d.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(
        f"sohoa {kiosk_id}",
        key,
        (ca.cert.subject, ca.key),
        days=days,
        start=start,
        san=schemas.device_uri(kiosk_id),
    )
    atomic_write_bytes(d / idm.KEY_NAME, idm._key_pem(key), mode=0o600)
    atomic_write_bytes(d / idm.CERT_NAME, cert.public_bytes(serialization.Encoding.PEM))
    atomic_write_bytes(d / idm.CA_NAME, ca.cert.public_bytes(serialization.Encoding.PEM))
    atomic_write_bytes(
        d / idm.HUB_NAME,
        json.dumps(
            {"hub": hub, "ca_sha256": schemas.cert_sha256(ca.cert), "enrolled_at": "now"}
        ).encode(),
    )
    ident = idm.load_identity(paths)
    assert ident is not None
    return ident


@dataclass
class FakeTus:
    """An in-process tus 1.0 hub for client/worker unit tests.

    ``cut_after``: the next PATCH keeps only this many body bytes, then the connection
    "drops". ``fail``: statuses answered (with a hub error body) to the next requests.
    ``receipt_fault``: "sig" (tampered signature) or "sha" (receipt names other bytes).
    """

    ca: FleetCA
    device: str
    store: dict[str, bytes] = field(default_factory=dict)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    cut_after: list[int] = field(default_factory=list)
    fail: list[int] = field(default_factory=list)
    receipt_fault: str | None = None
    corrupt_next_chunk: bool = False
    requests: list[str] = field(default_factory=list)
    body_bytes: int = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _receipt(self, meta: dict[str, str], size: int, duplicate: bool) -> dict[str, Any]:
        sha = meta["sha256"]
        body = {
            "v": 1,
            "hub": "fake-hub",
            "device": self.device,
            "document_id": meta["document_id"],
            "sha256": sha,
            "size": size,
            "stored_as": f"sha256/{sha[:2]}/{sha}",
            "received_at": schemas.utc_now_iso(),
            "duplicate": duplicate,
        }
        if self.receipt_fault == "sha":
            body["sha256"] = "0" * 64
        r = self.ca.sign_receipt(body)
        if self.receipt_fault == "sig":
            r["document_id"] = r["document_id"] + "x"
        return r

    def _error(self, status: int, code: str) -> httpx.Response:
        return httpx.Response(status, json=schemas.error_body(code, code, code))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if self.fail:
            st = self.fail.pop(0)
            return self._error(st, "storage_full" if st == 507 else "internal")
        path = request.url.path
        if request.method == "POST" and path == schemas.FILES_PATH:
            meta = schemas.decode_tus_metadata(request.headers["Upload-Metadata"])
            length = int(request.headers["Upload-Length"])
            if meta["sha256"] in self.store:
                return httpx.Response(200, json=self._receipt(meta, length, True))
            uid = os.urandom(8).hex()
            self.uploads[uid] = {"length": length, "meta": meta, "data": bytearray()}
            return httpx.Response(201, headers={"Location": f"/files/{uid}"})
        uid = path.rstrip("/").split("/")[2]
        up = self.uploads.get(uid)
        if up is None:
            return self._error(404, "not_found")
        if request.method == "HEAD":
            return httpx.Response(
                200,
                headers={"Upload-Offset": str(len(up["data"])), "Upload-Length": str(up["length"])},
            )
        if request.method == "GET" and path.endswith("/receipt"):
            if "receipt" not in up:
                return self._error(404, "not_found")
            return httpx.Response(200, json=up["receipt"])
        if request.method == "PATCH":
            if int(request.headers["Upload-Offset"]) != len(up["data"]):
                return self._error(409, "offset_mismatch")
            if self.cut_after:
                keep = self.cut_after.pop(0)
                got = b""
                for piece in request.stream:  # type: ignore[union-attr]
                    got += piece
                    if len(got) >= keep:
                        break
                up["data"] += got[:keep]
                self.body_bytes += len(got[:keep])
                raise httpx.RemoteProtocolError("connection reset by the link", request=request)
            data = request.read()
            self.body_bytes += len(data)
            alg, digest = schemas.parse_upload_checksum(request.headers["Upload-Checksum"])
            if self.corrupt_next_chunk:
                self.corrupt_next_chunk = False
                data = b"X" + data[1:]
            if hashlib.new(alg, data).digest() != digest:
                return self._error(460, "checksum_mismatch")
            up["data"] += data
            headers = {"Upload-Offset": str(len(up["data"]))}
            if len(up["data"]) == up["length"]:
                if hashlib.sha256(up["data"]).hexdigest() != up["meta"]["sha256"]:
                    del self.uploads[uid]
                    return self._error(460, "hash_mismatch")
                self.store[up["meta"]["sha256"]] = bytes(up["data"])
                up["receipt"] = self._receipt(up["meta"], up["length"], False)
                headers[schemas.RECEIPT_HEADER] = schemas.encode_receipt_header(up["receipt"])
            return httpx.Response(204, headers=headers)
        return self._error(405, "bad_request")


def pdf_with_level(level: str | None, size: int, salt: str) -> bytes:
    """A real PDF of about ``size`` bytes whose XMP says ``sohoa:confidentiality`` =
    ``level`` (None: no XMP at all), as the uplink's last check and the hub read it."""
    import io
    import random

    import pikepdf

    from provisioning.schemas import SOHOA_XMP_NS

    pdf = pikepdf.new()
    pdf.add_blank_page()
    if level is not None:
        xmp = (
            '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:sohoa="{SOHOA_XMP_NS}">'
            f"<sohoa:confidentiality>{level}</sohoa:confidentiality>"
            '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
        )
        pdf.Root.Metadata = pdf.make_stream(
            xmp.encode(), Type=pikepdf.Name.Metadata, Subtype=pikepdf.Name.XML
        )
    rng = random.Random(salt)
    pdf.Root.SohoaPadding = pdf.make_stream(rng.randbytes(max(0, size - 900)))
    buf = io.BytesIO()
    pdf.save(buf, static_id=True)
    return buf.getvalue()


def sealed_document(
    catalog: Any,
    paths: DataPaths,
    *,
    level: str = "thuong",
    size: int = 50_000,
    seed: int = 0,
    xmp_level: str | None = "same",
) -> dict[str, Any]:
    """A document in ``sealed`` with a real PDF file on disk (its XMP says ``xmp_level``,
    by default the document's level) and its recorded hash."""
    doc = catalog.create_document("clerk", title="Công văn thử")
    data = pdf_with_level(level if xmp_level == "same" else xmp_level, size, f"{seed}-{doc['id']}")
    pdf = paths.sealed_pdf(doc["id"])
    atomic_write_bytes(pdf, data)
    catalog.db.execute(
        "UPDATE documents SET state='sealed', confidentiality=?, sha256=?, pdf_path=?, "
        "pdf_size=? WHERE id=?",
        [level, hashlib.sha256(data).hexdigest(), str(pdf), len(data), doc["id"]],
    )
    return catalog.get_document(doc["id"])


def qr_image(text: str, scale: int = 8) -> Any:
    """The token QR as a BGR image, rendered by segno as the hub prints it."""
    import io

    import cv2
    import numpy as np
    import segno

    buf = io.BytesIO()
    segno.make(text, micro=False).save(buf, kind="png", scale=scale, border=4)
    return cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_COLOR)
