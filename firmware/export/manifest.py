"""What an export folder on the stick holds, the manifest that lists it, and the
read-back that proves the stick holds what was written.

Per export, in ``sohoa-export-<id>/``::

    <doc_id>.p7m            CMS EnvelopedData (AES-256) to every recipient certificate,
                            holding a ZIP of the sealed PDF, its metadata JSON, its OCR text
    <doc_id>.p7m.001, .002  the same, split, when the filesystem cannot hold it (FAT32 4 GiB)
    README.txt              how to decrypt with ``openssl cms`` (vi, en)
    manifest.json           export id, kiosk, operator, time, recipients' fingerprints, and
                            for every file its name, size and SHA-256 (no titles: nothing
                            confidential is in the clear)
    manifest.json.p7s       detached CMS signature of the manifest by the kiosk's key

The receiving office's ``sohoa decrypt`` (:mod:`firmware.export.decrypt`) reads these names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.usb import Volume
from firmware.export import cms
from firmware.export.errors import ExportError
from firmware.export.hash_pipe import read_sha256
from firmware.store.catalog import utcnow

FORMAT = "sohoa-export/1"
DIR_PREFIX = "sohoa-export-"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.json.p7s"
README_NAME = "README.txt"
VERIFY_CHUNK = 1 << 20  # read-back chunk; hashing runs beside it (firmware.export.hash_pipe)


@dataclass
class FileEntry:
    name: str
    size: int
    sha256: str
    document: str | None = None
    part: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "size": self.size, "sha256": self.sha256}
        if self.document:
            d["document"] = self.document
        if self.part is not None:
            d["part"] = self.part
        return d


README = """\
SOHOA — XUẤT TÀI LIỆU MẬT / CONFIDENTIAL DOCUMENT EXPORT
========================================================

Tiếng Việt
----------
Thư mục này chứa tài liệu mật đã được mã hóa (CMS, AES-256) cho chứng thư số của cơ quan
nhận. Chỉ cơ quan nhận giải mã được, bằng khóa bí mật của mình (tệp khóa hoặc thiết bị ký số).

1. Kiểm tra chữ ký của bản kê (manifest) do máy số hóa ký:
   openssl cms -verify -binary -inform DER -in manifest.json.p7s \\
       -content manifest.json -CAfile <CA của hệ thống số hóa> -purpose any -out /dev/null
2. So khớp SHA-256 của từng tệp với manifest.json:  sha256sum *.p7m*
3. Giải mã một tài liệu (nếu tài liệu bị chia nhiều phần .001, .002..., nối lại trước:
   cat TL.p7m.0* > TL.p7m  — trên Windows: copy /b TL.p7m.001+TL.p7m.002 TL.p7m):
   openssl cms -decrypt -binary -inform DER -in TL.p7m -inkey khoa.pem -out TL.zip
   Tệp ZIP gồm: bản PDF/A lưu trữ, siêu dữ liệu (JSON) và văn bản nhận dạng (TXT).
Hoặc dùng lệnh: sohoa decrypt <thư mục này> --key khoa.pem --trust <CA của hệ thống số hóa>

English
-------
This folder holds confidential documents encrypted (CMS, AES-256) to the receiving office's
certificate(s). Only the receiving office can decrypt them, with its private key.

1. Verify the kiosk's signature of the manifest:
   openssl cms -verify -binary -inform DER -in manifest.json.p7s \\
       -content manifest.json -CAfile <fleet CA> -purpose any -out /dev/null
2. Compare each file's SHA-256 with manifest.json:  sha256sum *.p7m*
3. Decrypt one document (join split parts .001, .002... first: cat DOC.p7m.0* > DOC.p7m):
   openssl cms -decrypt -binary -inform DER -in DOC.p7m -inkey key.pem -out DOC.zip
   The ZIP holds the archival PDF/A, its metadata (JSON) and the OCR text (TXT).
Or: sohoa decrypt <this folder> --key key.pem --trust <fleet CA>
"""


def build(
    export_id: str,
    kiosk_id: str,
    actor: str,
    signer: Any,
    recipients: list[cms.Recipient],
    written: dict[str, list[FileEntry]],
    files: list[FileEntry],
) -> bytes:
    """The manifest of an export (JSON, UTF-8); ``signer`` is the kiosk's certificate
    that signs it (its fingerprint is named inside)."""
    manifest = {
        "format": FORMAT,
        "export_id": export_id,
        "kiosk_id": kiosk_id,
        "operator": actor,
        "created": utcnow(),
        "signer_sha256": cms.fingerprint(signer),
        "recipients": [{"sha256": r.fingerprint, "subject": r.subject} for r in recipients],
        "documents": [
            {"id": doc_id, "files": [e.name for e in entries]}
            for doc_id, entries in written.items()
        ],
        "files": [f.to_dict() for f in files],
    }
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def verify(
    vol: Volume,
    directory: str,
    files: list[FileEntry],
    check_cancel: Callable[[], None] = lambda: None,
) -> None:
    """Read every file back from the medium (page cache dropped) and compare it with
    what was written."""
    for f in files:
        with vol.open_read(f"{directory}/{f.name}") as fh:
            vol.drop_cache(fh)
            size, digest = read_sha256(fh, VERIFY_CHUNK, check_cancel)
        if size != f.size or digest != f.sha256:
            raise ExportError(
                "verify_failed",
                f"{f.name} on the USB stick does not match what was written; the stick "
                "may be faulty. Nothing was lost: the documents are still waiting.",
                "Dữ liệu đọc lại từ USB không khớp, USB có thể bị lỗi. Không mất dữ liệu: "
                "tài liệu vẫn đang chờ xuất; hãy dùng USB khác.",
                status=500,
            )
