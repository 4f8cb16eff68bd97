"""Writing an export to the stick: each document encrypted as it is read (ZIP -> CMS ->
stick, nothing decrypted lands on disk), split where the filesystem needs it, every file
under a temporary name, fsynced, renamed, and its directory fsynced.

A sealed PDF that no longer matches the hash recorded at sealing is left out (and audited)
instead of exported; an export where every document is damaged is refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import zipfile
from collections.abc import Callable
from typing import Any, BinaryIO

from drivers.usb import Volume
from firmware.export import cms
from firmware.export.errors import ExportError
from firmware.export.hash_pipe import BackgroundSha256
from firmware.export.manifest import DIR_PREFIX, SIGNATURE_NAME, FileEntry
from firmware.export.progress import ExportProgress
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths

log = logging.getLogger("sohoa.export")

CHUNK = 1 << 20


class DamagedCopy(Exception):
    """The sealed PDF read for export does not match the hash recorded when sealing."""


class PartWriter:
    """Receives a document's ciphertext and writes it to the stick, split at ``max_size``.

    Parts are written under a temporary name, fsynced and renamed; the whole document is
    ``<base>`` when it fits in one file, ``<base>.001``, ``.002``... otherwise.
    """

    def __init__(
        self,
        vol: Volume,
        directory: str,
        base: str,
        doc_id: str,
        max_size: int | None,
        on_bytes: Callable[[int], None],
    ):
        self.vol, self.dir, self.base, self.doc_id = vol, directory, base, doc_id
        self.max_size = max_size
        self.on_bytes = on_bytes
        self.parts: list[FileEntry] = []
        self._fh: BinaryIO | None = None
        self._tmp = ""
        self._size = 0
        self._hash: BackgroundSha256 | None = None

    def _open(self) -> None:
        self._tmp = f"{self.dir}/.{self.base}.{len(self.parts) + 1:03d}.partial"
        self._fh = self.vol.open_write(self._tmp)
        self._size = 0
        self._hash = BackgroundSha256()  # hashed beside the writes, never between them

    def _close(self, name: str, part: int | None) -> None:
        assert self._fh is not None and self._hash is not None
        self.vol.fsync(self._fh)
        self._fh.close()
        self._fh = None
        self.vol.replace(self._tmp, f"{self.dir}/{name}")
        self.vol.fsync_dir(self.dir)
        digest, self._hash = self._hash.hexdigest(), None
        self.parts.append(FileEntry(name, self._size, digest, self.doc_id, part))

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._fh is not None and self.max_size and self._size >= self.max_size:
                n = len(self.parts) + 1
                self._close(f"{self.base}.{n:03d}", n)
            if self._fh is None:
                self._open()
            assert self._fh is not None and self._hash is not None
            room = (self.max_size - self._size) if self.max_size else len(view)
            piece = view[:room]
            self._fh.write(piece)
            self._hash.update(piece)
            self._size += len(piece)
            self.on_bytes(len(piece))
            view = view[len(piece) :]

    def finish(self) -> list[FileEntry]:
        if self._fh is not None:
            if self.parts:
                n = len(self.parts) + 1
                self._close(f"{self.base}.{n:03d}", n)
            else:
                self._close(self.base, None)
        return self.parts

    def abort(self) -> None:
        if self._hash is not None:
            self._hash.close()
            self._hash = None
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
        for rel in [self._tmp] + [f"{self.dir}/{p.name}" for p in self.parts]:
            if rel:
                with contextlib.suppress(OSError):
                    self.vol.remove(rel)


def remove_stale(vol: Volume) -> None:
    """Remove export folders a pulled stick or a crash left without a signed manifest."""
    for name in vol.listdir(""):
        if name.startswith(DIR_PREFIX) and SIGNATURE_NAME not in vol.listdir(name):
            log.info("removing incomplete export %s from the stick", name)
            vol.rmtree(name)


def write_documents(
    vol: Volume,
    directory: str,
    docs: list[dict[str, Any]],
    recipients: list[cms.Recipient],
    progress: ExportProgress,
    *,
    catalog: Catalog,
    paths: DataPaths,
    max_file_size: int | None,
    clock: Callable[[], dt.datetime],
) -> tuple[dict[str, list[FileEntry]], list[dict[str, str]]]:
    """A fresh export folder with every document written; returns the files per document
    and the documents left out (damaged sealed copy) with the reason."""
    remove_stale(vol)
    vol.mkdir(directory)
    vol.fsync_dir("")
    written: dict[str, list[FileEntry]] = {}
    failed: list[dict[str, str]] = []
    for i, doc in enumerate(docs):
        progress.start_document(i, doc["id"])
        try:
            written[doc["id"]] = write_document(
                vol,
                directory,
                doc,
                recipients,
                progress,
                catalog=catalog,
                paths=paths,
                max_file_size=max_file_size,
                clock=clock,
            )
            progress.document_written()
        except DamagedCopy as exc:
            progress.document_failed("sealed_copy_damaged")
            failed.append({"doc_id": doc["id"], "code": "sealed_copy_damaged", "error": str(exc)})
            catalog.audit("system", "export.integrity_error", doc["id"], error=str(exc))
    if not written:
        raise ExportError(
            "sealed_copy_damaged",
            "The sealed copies of the selected documents are damaged; nothing was exported.",
            "Bản lưu của các tài liệu đã chọn bị hỏng; không xuất được. Hãy báo cán bộ kỹ thuật.",
            status=500,
        )
    return written, failed


def write_document(
    vol: Volume,
    directory: str,
    doc: dict[str, Any],
    recipients: list[cms.Recipient],
    progress: ExportProgress,
    *,
    catalog: Catalog,
    paths: DataPaths,
    max_file_size: int | None,
    clock: Callable[[], dt.datetime],
) -> list[FileEntry]:
    """One document as ``<doc_id>.p7m`` (or its parts); ``max_file_size`` None: the
    filesystem's own limit. Raises :class:`DamagedCopy` when the PDF read does not match
    its recorded SHA-256 (what was written of it is removed)."""
    doc_id = doc["id"]
    pdf = paths.sealed_pdf(doc_id)
    sidecar = paths.sealed_sidecar(doc_id).read_bytes()
    text = catalog.document_text(doc_id).encode("utf-8")
    pdf_hash = hashlib.sha256()
    max_size = max_file_size or vol.max_file_size
    writer = PartWriter(vol, directory, f"{doc_id}.p7m", doc_id, max_size, progress.add)
    stamp = clock().timetuple()[:6]

    def produce(stdin: BinaryIO) -> None:
        with zipfile.ZipFile(stdin, "w") as zf:
            size = pdf.stat().st_size
            info = zipfile.ZipInfo(f"{doc_id}.pdf", date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED  # already compressed images
            with (
                zf.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as out,
                open(pdf, "rb") as src,
            ):
                while chunk := src.read(CHUNK):
                    pdf_hash.update(chunk)
                    out.write(chunk)
            for name, data in ((f"{doc_id}.json", sidecar), (f"{doc_id}.txt", text)):
                zi = zipfile.ZipInfo(name, date_time=stamp)
                zi.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(zi, data)

    try:
        cms.encrypt_stream(produce, recipients, writer.write)
        entries = writer.finish()
    except BaseException:
        with contextlib.suppress(OSError):
            writer.abort()
        raise
    if doc.get("sha256") and pdf_hash.hexdigest() != doc["sha256"]:
        writer.abort()
        raise DamagedCopy(
            f"sealed PDF of {doc_id} does not match its recorded SHA-256 "
            f"({pdf_hash.hexdigest()[:16]}… != {doc['sha256'][:16]}…)"
        )
    return entries


def write_small(vol: Volume, directory: str, name: str, data: bytes) -> FileEntry:
    """A small file of the export (README, manifest, signature), written atomically."""
    tmp = f"{directory}/.{name}.partial"
    with vol.open_write(tmp) as fh:
        fh.write(data)
        vol.fsync(fh)
    vol.replace(tmp, f"{directory}/{name}")
    vol.fsync_dir(directory)
    return FileEntry(name, len(data), hashlib.sha256(data).hexdigest())
