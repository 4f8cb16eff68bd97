"""The receiving office's side of a secure USB export: ``sohoa decrypt EXPORT_DIR``.

Order matters: first the manifest's signature (if it is not the kiosk's, nothing in the
folder can be trusted and nothing is decrypted), then every file against the manifest
(missing, altered, extra), then each document whose files are all intact is decrypted with
``openssl cms`` (key file or PKCS#11 token), unpacked, and its PDF checked against the
SHA-256 recorded when it was sealed. Every finding is reported; a tampered document never
silently yields output.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware import cms
from firmware.atomic import sha256_file
from firmware.errors import KioskError
from firmware.export import MANIFEST_NAME, SIGNATURE_NAME

CHUNK = 1 << 20


@dataclass
class DocumentOutcome:
    doc_id: str
    status: str  # ok | skipped (files missing/altered) | decrypt_failed | pdf_mismatch
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
            and self.signature.trusted is not False
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


def check_files(
    export_dir: Path, manifest: dict[str, Any]
) -> tuple[list[str], list[str], list[str]]:
    """(missing, altered, extra) file names against the manifest."""
    listed = {f["name"]: f for f in manifest.get("files", [])}
    missing, altered = [], []
    for name, entry in listed.items():
        p = export_dir / name
        if not p.is_file():
            missing.append(name)
        elif p.stat().st_size != entry["size"] or sha256_file(p) != entry["sha256"]:
            altered.append(name)
    known = set(listed) | {MANIFEST_NAME, SIGNATURE_NAME}
    extra = sorted(p.name for p in export_dir.iterdir() if p.name not in known)
    return sorted(missing), sorted(altered), extra


def _unpack(zip_path: Path, target: Path) -> None:
    """Extract only plain member names (no directories, no path tricks)."""
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            name = os.path.basename(info.filename)
            if not name or name != info.filename:
                raise ValueError(f"unexpected name in the archive: {info.filename!r}")
            with zf.open(info) as src, open(target / name, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)


def _decrypt_document(
    export_dir: Path, doc: dict[str, Any], out_dir: Path, key: cms.KeyFile | cms.Pkcs11Key
) -> DocumentOutcome:
    doc_id = doc["id"]
    target = out_dir / doc_id
    zip_path = out_dir / f".{doc_id}.zip"
    try:
        cms.decrypt_parts([export_dir / n for n in doc["files"]], zip_path, key)
        _unpack(zip_path, target)
    except (KioskError, OSError, ValueError, zipfile.BadZipFile) as exc:
        shutil.rmtree(target, ignore_errors=True)
        return DocumentOutcome(doc_id, "decrypt_failed", error=str(exc))
    finally:
        zip_path.unlink(missing_ok=True)
    pdf, sidecar = target / f"{doc_id}.pdf", target / f"{doc_id}.json"
    try:
        recorded = json.loads(sidecar.read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError):
        recorded = None
    if not pdf.is_file() or (recorded and sha256_file(pdf) != recorded):
        return DocumentOutcome(doc_id, "pdf_mismatch", target, "PDF does not match its sealed hash")
    return DocumentOutcome(doc_id, "ok", target)


def decrypt_export(
    export_dir: Path | str,
    key: cms.KeyFile | cms.Pkcs11Key,
    out_dir: Path | str,
    *,
    trust: list[Path] | None = None,
) -> DecryptReport:
    """Verify and decrypt one export folder into ``out_dir/<doc_id>/``."""
    export_dir, out_dir = Path(export_dir), Path(out_dir)
    manifest_path, sig_path = export_dir / MANIFEST_NAME, export_dir / SIGNATURE_NAME
    if not manifest_path.is_file() or not sig_path.is_file():
        missing = [n for n in (MANIFEST_NAME, SIGNATURE_NAME) if not (export_dir / n).is_file()]
        report = DecryptReport(export_dir, cms.SignatureCheck(False, None, error="no signature"))
        report.missing = missing
        report.error = "the export is incomplete (no signed manifest): export it again"
        return report
    check = cms.verify_detached(manifest_path, sig_path, trust)
    report = DecryptReport(export_dir, check)
    if not check.ok:
        report.error = "the manifest is not signed by a kiosk or was altered; nothing decrypted"
        return report
    try:
        report.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        report.error = f"unreadable manifest: {exc}"
        return report
    report.missing, report.altered, report.extra = check_files(export_dir, report.manifest)
    bad = set(report.missing) | set(report.altered)
    out_dir.mkdir(parents=True, exist_ok=True)
    for doc in report.manifest.get("documents", []):
        if bad & set(doc["files"]):
            report.documents.append(
                DocumentOutcome(doc["id"], "skipped", error="files missing or altered")
            )
            continue
        report.documents.append(_decrypt_document(export_dir, doc, out_dir, key))
    return report
