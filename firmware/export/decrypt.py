"""The receiving office's side of a secure USB export: ``sohoa decrypt EXPORT_DIR``.

Order matters: first the manifest's signature, which must chain to a certificate the office
trusts (the fleet CA that certifies kiosks, or one kiosk's certificate pinned): a folder
anyone could have signed is refused before anything is written. Then the manifest's ids
and file names against strict patterns (:mod:`firmware.store.identifiers`), since a document id
becomes a folder name here; then every file against the manifest (missing, altered,
extra); then each document whose files are all intact is decrypted with ``openssl cms``
(key file or PKCS#11 token) into a fresh folder made for this run inside the output folder,
unpacked, its PDF checked against the SHA-256 recorded when it was sealed, and only then
renamed to ``<out>/<doc_id>``. Nothing that existed before the run is written into,
replaced or deleted. Every finding is reported; a tampered document never silently yields
output.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware.errors import KioskError
from firmware.export import cms
from firmware.export.manifest import MANIFEST_NAME, SIGNATURE_NAME
from firmware.store.identifiers import inside, is_doc_id, is_file_name
from sohoa_common.atomic import sha256_file

CHUNK = 1 << 20
#: Where ``sohoa decrypt`` also looks for trust anchors (paths joined with ``:``), so an
#: office can configure its fleet CA once instead of typing ``--trust`` every time.
TRUST_ENV = "SOHOA_DECRYPT_TRUST"
NO_TRUST = (
    "Chưa chỉ định chứng thư số tin cậy: hãy dùng --trust <CA của hệ thống>.pem "
    f"(hoặc biến môi trường {TRUST_ENV}); chưa giải mã gì. / "
    "No trusted certificate given: pass --trust FLEET-CA.pem (the CA that certifies the "
    f"kiosks, or one kiosk's certificate; or set {TRUST_ENV}); nothing was decrypted."
)
UNTRUSTED = (
    "Bản kê không do máy số hóa tin cậy ký (hoặc đã bị sửa); chưa giải mã gì. / "
    "The manifest is not signed by a trusted kiosk or was altered; nothing was decrypted."
)


@dataclass
class DocumentOutcome:
    doc_id: str
    status: str  # ok | skipped (files missing/altered) | exists | decrypt_failed | pdf_mismatch
    out: Path | None = None
    error: str = ""


@dataclass
class DecryptReport:
    export_dir: Path
    signature: cms.SignatureCheck
    manifest: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    documents: list[DocumentOutcome] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return (
            not self.error
            and self.signature.ok
            and self.signature.trusted is True
            and not (self.missing or self.altered or self.extra)
            and all(d.status == "ok" for d in self.documents)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "export_id": self.manifest.get("export_id"),
            "kiosk_id": self.manifest.get("kiosk_id"),
            "operator": self.manifest.get("operator"),
            "created": self.manifest.get("created"),
            "signature": {
                "ok": self.signature.ok,
                "trusted": self.signature.trusted,
                "signer": self.signature.signer_subject,
                "signer_sha256": self.signature.signer_fingerprint,
                "error": self.signature.error,
            },
            "missing": self.missing,
            "altered": self.altered,
            "extra": self.extra,
            "documents": [
                {"id": d.doc_id, "status": d.status, "out": str(d.out or ""), "error": d.error}
                for d in self.documents
            ],
            "error": self.error,
        }

    def lines(self) -> list[str]:
        """A plain report for the terminal (Vietnamese / English)."""
        s = self.signature
        out = [
            f"Xuất / export: {self.manifest.get('export_id', '?')} "
            f"({self.manifest.get('kiosk_id', '?')}, {self.manifest.get('created', '?')})"
        ]
        if not s.ok:
            out.append(f"CHỮ KÝ KHÔNG HỢP LỆ / SIGNATURE INVALID: {s.error}")
        else:
            trust = {
                True: "tin cậy / trusted",
                False: "KHÔNG tin cậy / NOT trusted",
                None: "chưa đối chiếu / not checked against a trusted certificate",
            }
            out.append(
                f"Chữ ký / signature: OK, {s.signer_subject}, "
                f"SHA-256 {s.signer_fingerprint} — {trust[s.trusted]}"
            )
        for label, names in (
            ("THIẾU / MISSING", self.missing),
            ("BỊ SỬA / ALTERED", self.altered),
            ("THỪA / EXTRA", self.extra),
        ):
            for n in names:
                out.append(f"{label}: {n}")
        for d in self.documents:
            where = f" -> {d.out}" if d.out else ""
            out.append(f"{d.doc_id}: {d.status}{where}{' (' + d.error + ')' if d.error else ''}")
        if self.error:
            out.append(f"LỖI / ERROR: {self.error}")
        out.append("KẾT QUẢ / RESULT: " + ("OK" if self.ok else "CÓ VẤN ĐỀ / PROBLEMS FOUND"))
        return out


def manifest_problems(manifest: Any) -> list[str]:
    """Everything in a (signed) manifest that must not be used as a path: a document id
    that is not an id, a file name with separators, dots or a leading dot."""
    if not isinstance(manifest, dict):
        return ["the manifest is not a JSON object"]
    problems = []
    files = manifest.get("files", [])
    docs = manifest.get("documents", [])
    if not isinstance(files, list) or not isinstance(docs, list):
        return ["files/documents are not lists"]
    for f in files:
        name = f.get("name") if isinstance(f, dict) else None
        if not is_file_name(name) or not isinstance(f.get("size"), int):
            problems.append(f"invalid file entry {name!r}")
    for d in docs:
        doc_id = d.get("id") if isinstance(d, dict) else None
        if not is_doc_id(doc_id):
            problems.append(f"invalid document id {doc_id!r}")
            continue
        parts = d.get("files")
        if not isinstance(parts, list) or not all(is_file_name(n) for n in parts):
            problems.append(f"invalid file names of document {doc_id!r}: {parts!r}")
    return problems


def check_files(
    export_dir: Path, manifest: dict[str, Any]
) -> tuple[list[str], list[str], list[str]]:
    """(missing, altered, extra) file names against the manifest."""
    listed = {f["name"]: f for f in manifest.get("files", [])}
    missing, altered = [], []
    for name, entry in listed.items():
        p = export_dir / name
        if p.is_symlink() or not p.is_file():
            missing.append(name)
        elif p.stat().st_size != entry["size"] or sha256_file(p) != entry["sha256"]:
            altered.append(name)
    known = set(listed) | {MANIFEST_NAME, SIGNATURE_NAME}
    extra = sorted(p.name for p in export_dir.iterdir() if p.name not in known)
    return sorted(missing), sorted(altered), extra


def _unpack(zip_path: Path, target: Path) -> None:
    """Extract only plain member names (no directories, no path tricks) into ``target``."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            name = os.path.basename(info.filename)
            if not is_file_name(name) or name != info.filename:
                raise ValueError(f"unexpected name in the archive: {info.filename!r}")
            with zf.open(info) as src, open(inside(target, name), "xb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)


def _decrypt_document(
    export_dir: Path, doc: dict[str, Any], out_root: Path, key: cms.KeyFile | cms.Pkcs11Key
) -> DocumentOutcome:
    """Decrypt one document into a folder made for this run, then rename it into place;
    on failure only that folder (ours) is removed."""
    doc_id = doc["id"]
    target = inside(out_root, doc_id)
    if os.path.lexists(target):
        return DocumentOutcome(
            doc_id,
            "exists",
            target,
            "đã có thư mục này, không ghi đè; hãy chọn --out khác / "
            "already there, not overwritten: choose another --out",
        )
    work = Path(tempfile.mkdtemp(prefix=f".{doc_id}.", suffix=".partial", dir=out_root))
    try:
        unpacked = work / "doc"
        unpacked.mkdir()
        zip_path = work / "doc.zip"
        cms.decrypt_parts([inside(export_dir, n) for n in doc["files"]], zip_path, key)
        _unpack(zip_path, unpacked)
        pdf, sidecar = unpacked / f"{doc_id}.pdf", unpacked / f"{doc_id}.json"
        try:
            recorded = json.loads(sidecar.read_text(encoding="utf-8")).get("sha256")
        except (OSError, ValueError):
            recorded = None
        if not pdf.is_file() or (recorded and sha256_file(pdf) != recorded):
            return DocumentOutcome(
                doc_id, "pdf_mismatch", None, "PDF does not match its sealed hash"
            )
        os.rename(unpacked, target)  # an existing non-empty folder makes this fail, never merge
    except (KioskError, OSError, ValueError, zipfile.BadZipFile) as exc:
        return DocumentOutcome(doc_id, "decrypt_failed", error=str(exc))
    finally:
        shutil.rmtree(work, ignore_errors=True)  # made by this run, for this document only
    return DocumentOutcome(doc_id, "ok", target)


def trust_from_env() -> list[Path]:
    """Trust anchors named by :data:`TRUST_ENV` (``:``-separated paths)."""
    return [Path(p) for p in os.environ.get(TRUST_ENV, "").split(os.pathsep) if p]


def decrypt_export(
    export_dir: Path | str,
    key: cms.KeyFile | cms.Pkcs11Key,
    out_dir: Path | str,
    *,
    trust: list[Path] | None = None,
) -> DecryptReport:
    """Verify and decrypt one export folder into ``out_dir/<doc_id>/``.

    ``trust`` (required) lists the certificates the manifest signer must chain to; without
    one, or when the signer does not chain to it, nothing is written at all."""
    export_dir, out_dir = Path(export_dir), Path(out_dir)
    manifest_path, sig_path = export_dir / MANIFEST_NAME, export_dir / SIGNATURE_NAME
    if not manifest_path.is_file() or not sig_path.is_file():
        missing = [n for n in (MANIFEST_NAME, SIGNATURE_NAME) if not (export_dir / n).is_file()]
        report = DecryptReport(export_dir, cms.SignatureCheck(False, None, error="no signature"))
        report.missing = missing
        report.error = "the export is incomplete (no signed manifest): export it again"
        return report
    check = cms.verify_detached(manifest_path, sig_path, trust or None)
    report = DecryptReport(export_dir, check)
    if not trust:
        report.error = NO_TRUST
        return report
    if not check.ok or check.trusted is not True:
        report.error = UNTRUSTED
        return report
    try:
        report.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        report.error = f"unreadable manifest: {exc}"
        return report
    problems = manifest_problems(report.manifest)
    if problems:
        report.manifest = report.manifest if isinstance(report.manifest, dict) else {}
        report.error = (
            "Bản kê có tên không hợp lệ; chưa giải mã gì. / The manifest names invalid "
            "ids or files; nothing was decrypted: " + "; ".join(problems)
        )
        return report
    report.missing, report.altered, report.extra = check_files(export_dir, report.manifest)
    listed = {f["name"] for f in report.manifest.get("files", [])}
    bad = set(report.missing) | set(report.altered)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_root = out_dir.resolve()
    for doc in report.manifest.get("documents", []):
        if bad & set(doc["files"]) or not set(doc["files"]) <= listed:
            report.documents.append(
                DocumentOutcome(doc["id"], "skipped", error="files missing or altered")
            )
            continue
        report.documents.append(_decrypt_document(export_dir, doc, out_root, key))
    return report
