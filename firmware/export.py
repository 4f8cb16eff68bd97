"""Secure USB export of confidential documents: preflight, encrypted export, read-back
verification, then the purge of local copies.

What leaves the kiosk, per export, in ``sohoa-export-<id>/`` on the stick::

    <doc_id>.p7m            CMS EnvelopedData (AES-256) to every recipient certificate,
                            holding a ZIP of the sealed PDF, its metadata JSON, its OCR text
    <doc_id>.p7m.001, .002  the same, split, when the filesystem cannot hold it (FAT32 4 GiB);
                            ``cat`` / ``copy /b`` joins the parts
    README.txt              how to decrypt with ``openssl cms`` (vi, en)
    manifest.json           export id, kiosk, operator, time, recipients' fingerprints, and
                            for every file its name, size and SHA-256 (no titles: nothing
                            confidential is in the clear)
    manifest.json.p7s       detached CMS signature of the manifest by the kiosk's key

Order (why nothing is ever lost): every file is written under a temporary name, fsynced and
renamed; after the manifest, every file is read back from the medium (page cache dropped)
and its hash compared; only then are the documents marked ``exported`` (one transition and
one audit record each: who, when, which stick, which recipients). The stick is then synced,
unmounted and powered off ("safe to remove"), and only after that are local copies purged
(retention ``immediate``) or later by :meth:`Exporter.purge_due`. A stick that is full,
read-only or pulled out at any point leaves the documents ``sealed``: still waiting for
export, and a new export starts clean (stale incomplete export folders are removed first).

The confidentiality rule itself lives in :mod:`firmware.routing`; export only asks it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import logging
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from drivers.usb import (
    AllowedStick,
    MountError,
    StorageBackend,
    UsbStorage,
    Volume,
    authorize,
    open_backend,
)
from drivers.usb.base import SUPPORTED_FILESYSTEMS
from firmware import cms
from firmware.catalog import Catalog, NotFound, new_id, utcnow
from firmware.config import ExportConfig, Settings
from firmware.errors import KioskError
from firmware.hash_pipe import BackgroundSha256, read_sha256
from firmware.paths import DataPaths
from firmware.routing import Route, RoutingError, is_confidential, route_for
from firmware.states import DocState

log = logging.getLogger("sohoa.export")

FORMAT = "sohoa-export/1"
DIR_PREFIX = "sohoa-export-"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.json.p7s"
README_NAME = "README.txt"
EXPORT_ROLE = "archivist"
CHUNK = 1 << 20
PER_DOC_OVERHEAD = 64 * 1024  # CMS headers, ZIP headers, recipient infos
FIXED_OVERHEAD = 1 << 20  # manifest, signature, readme, filesystem slack
VERIFY_CHUNK = 1 << 20  # read-back chunk; hashing runs beside it (firmware.hash_pipe)
PROGRESS_STEP = 256 * 1024  # an event per 256 KiB written: bars move, ~4 events per MB


class Status(StrEnum):
    NO_DEVICE = "no_device"
    SEVERAL_DEVICES = "several_devices"
    UNAUTHORIZED = "unauthorized"
    READ_ONLY = "read_only"
    NOT_ENOUGH_SPACE = "not_enough_space"
    UNSUPPORTED_FILESYSTEM = "unsupported_filesystem"
    MOUNT_ERROR = "mount_error"
    READY = "ready"


# status -> (English, Vietnamese); {placeholders} are filled by the preflight.
MESSAGES: dict[str, tuple[str, str]] = {
    Status.NO_DEVICE: (
        "Insert the registered secure USB stick.",
        "Hãy cắm USB bảo mật đã đăng ký.",
    ),
    Status.SEVERAL_DEVICES: (
        "More than one USB stick is plugged in; leave only the one for the export.",
        "Đang cắm nhiều hơn một USB; chỉ để lại USB dùng để xuất.",
    ),
    Status.UNAUTHORIZED: (
        "This USB stick is not registered for confidential export; use a registered stick.",
        "USB này chưa được đăng ký để xuất tài liệu mật; hãy dùng USB đã đăng ký.",
    ),
    "foreign_interface": (
        "This device is not a plain USB stick (it also acts as {classes}); it is refused. "
        "Remove it.",
        "Thiết bị này không phải USB lưu trữ thông thường (có thêm chức năng {classes_vi}); "
        "không được phép sử dụng. Hãy rút thiết bị ra.",
    ),
    Status.READ_ONLY: (
        "The USB stick is write-protected; slide its lock switch off and insert it again.",
        "USB đang bị khóa ghi; hãy gạt khóa chống ghi rồi cắm lại.",
    ),
    Status.NOT_ENOUGH_SPACE: (
        "Not enough free space on the USB stick: {need} needed, {free} free.",
        "USB không đủ dung lượng: cần {need}, còn trống {free}.",
    ),
    Status.UNSUPPORTED_FILESYSTEM: (
        "The USB stick's format ({fs}) is not supported; format it as FAT32 or exFAT.",
        "Định dạng của USB ({fs}) không được hỗ trợ; hãy định dạng USB theo FAT32 hoặc exFAT.",
    ),
    Status.MOUNT_ERROR: (
        "The USB stick could not be opened; remove it and insert it again.",
        "Không mở được USB; hãy rút USB ra rồi cắm lại.",
    ),
    Status.READY: (
        "Ready to export {count} document(s) to {label}.",
        "Sẵn sàng xuất {count} tài liệu ra {label}.",
    ),
}


def may_export(role: str) -> bool:
    """The one rule for who exports confidential documents: archivists only (not even a
    maintainer, whose role is technical: separation of duties)."""
    return role == EXPORT_ROLE


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


class ExportError(KioskError):
    """Export refused or failed; ``preflight`` is set when the stick was the reason."""

    def __init__(self, code: str, en: str, vi: str, *, status: int = 409, preflight=None):
        super().__init__(code, en, vi, status=status)
        self.preflight: Preflight | None = preflight


class ExportCancelled(ExportError):
    """The archivist stopped the export; what was written is removed, nothing is lost."""

    def __init__(self) -> None:
        super().__init__(
            "export_cancelled",
            "The export was stopped. Nothing was lost: the documents are still waiting for export.",
            "Đã dừng xuất. Không mất dữ liệu: tài liệu vẫn đang chờ xuất.",
        )


@dataclass
class Preflight:
    """What the touchscreen shows before an export; ``status`` is one of :class:`Status`."""

    status: Status
    message_en: str
    message_vi: str
    device: UsbStorage | None = None
    devices: list[UsbStorage] = field(default_factory=list)
    reason: str = ""  # unauthorized: foreign_interface | not_listed | no_serial
    label: str = ""
    free_bytes: int | None = None
    needed_bytes: int | None = None
    volume: Volume | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        return self.status == Status.READY

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "message_en": self.message_en,
            "message_vi": self.message_vi,
            "reason": self.reason,
            "label": self.label,
            "device": self.device.to_dict() if self.device else None,
            "devices": [d.to_dict() for d in self.devices],
            "free_bytes": self.free_bytes,
            "needed_bytes": self.needed_bytes,
        }


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


@dataclass
class ExportResult:
    export_id: str
    directory: str  # on the stick
    stick: dict[str, Any]
    recipients: list[str]  # SHA-256 fingerprints
    exported: list[str]  # confidential documents, now ``exported``
    copies: list[str]  # ordinary documents copied with allow_ordinary (still ``sealed``)
    failed: list[dict[str, str]]  # documents left out (damaged sealed copy), with the reason
    files: list[FileEntry]
    bytes_written: int
    safe_to_remove: bool
    purged: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "export_id": self.export_id,
            "directory": self.directory,
            "stick": self.stick,
            "recipients": self.recipients,
            "exported": self.exported,
            "copies": self.copies,
            "failed": self.failed,
            "files": [f.to_dict() for f in self.files],
            "bytes_written": self.bytes_written,
            "safe_to_remove": self.safe_to_remove,
            "purged": self.purged,
        }


ProgressFn = Callable[[dict[str, Any]], None]


def _io_error(exc: OSError) -> ExportError:
    """What a failed write on the stick means for the clerk; the documents are safe."""
    safe_en = " Nothing was lost: the documents are still waiting for export."
    safe_vi = " Không mất dữ liệu: tài liệu vẫn đang chờ xuất."
    if exc.errno == errno.ENOSPC:
        return ExportError(
            "usb_full",
            "The USB stick became full while writing."
            + safe_en
            + " Use a stick with more free space.",
            "USB đã đầy khi đang ghi." + safe_vi + " Hãy dùng USB còn nhiều dung lượng hơn.",
            status=507,
        )
    if exc.errno == errno.EROFS:
        return ExportError(
            "usb_read_only",
            "The USB stick refused writing (read-only)." + safe_en,
            "USB không cho ghi (chỉ đọc)." + safe_vi,
        )
    if exc.errno in (errno.ENODEV, errno.ENXIO, errno.EIO, errno.ENOENT, errno.ESHUTDOWN):
        return ExportError(
            "usb_removed",
            "The USB stick was removed or failed while writing."
            + safe_en
            + " Insert it again and export again.",
            "USB bị rút ra hoặc bị lỗi khi đang ghi." + safe_vi + " Hãy cắm lại USB và xuất lại.",
            status=503,
        )
    return ExportError(
        "usb_write_error",
        f"Writing to the USB stick failed ({exc.strerror or exc})." + safe_en,
        "Lỗi ghi dữ liệu ra USB." + safe_vi + " Hãy thử lại với USB khác.",
        status=500,
    )


class _PartWriter:
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


README = """\
SOHOA — XUẤT TÀI LIỆU MẬT / CONFIDENTIAL DOCUMENT EXPORT
========================================================

Tiếng Việt
----------
Thư mục này chứa tài liệu mật đã được mã hóa (CMS, AES-256) cho chứng thư số của cơ quan
nhận. Chỉ cơ quan nhận giải mã được, bằng khóa bí mật của mình (tệp khóa hoặc thiết bị ký số).

1. Kiểm tra chữ ký của bản kê (manifest) do máy số hóa ký:
   openssl cms -verify -binary -inform DER -in manifest.json.p7s \\
       -content manifest.json -CAfile <chứng thư của máy số hóa> -out /dev/null
2. So khớp SHA-256 của từng tệp với manifest.json:  sha256sum *.p7m*
3. Giải mã một tài liệu (nếu tài liệu bị chia nhiều phần .001, .002..., nối lại trước:
   cat TL.p7m.0* > TL.p7m  — trên Windows: copy /b TL.p7m.001+TL.p7m.002 TL.p7m):
   openssl cms -decrypt -binary -inform DER -in TL.p7m -inkey khoa.pem -out TL.zip
   Tệp ZIP gồm: bản PDF/A lưu trữ, siêu dữ liệu (JSON) và văn bản nhận dạng (TXT).
Hoặc dùng lệnh: sohoa decrypt <thư mục này> --key khoa.pem

English
-------
This folder holds confidential documents encrypted (CMS, AES-256) to the receiving office's
certificate(s). Only the receiving office can decrypt them, with its private key.

1. Verify the kiosk's signature of the manifest:
   openssl cms -verify -binary -inform DER -in manifest.json.p7s \\
       -content manifest.json -CAfile <kiosk certificate> -out /dev/null
2. Compare each file's SHA-256 with manifest.json:  sha256sum *.p7m*
3. Decrypt one document (join split parts .001, .002... first: cat DOC.p7m.0* > DOC.p7m):
   openssl cms -decrypt -binary -inform DER -in DOC.p7m -inkey key.pem -out DOC.zip
   The ZIP holds the archival PDF/A, its metadata (JSON) and the OCR text (TXT).
Or: sohoa decrypt <this folder> --key key.pem
"""


class Exporter:
    """Export of sealed confidential documents to an authorized, encrypted USB stick.

    One per kiosk service (the UI keeps one); every public method is safe to call from the
    UI's threads, and only one export runs at a time.
    """

    def __init__(
        self,
        catalog: Catalog,
        paths: DataPaths,
        config: ExportConfig,
        *,
        kiosk_id: str = "dev-kiosk",
        backend: StorageBackend | None = None,
        leds: Any | None = None,
        events: Any | None = None,
        max_file_size: int | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.catalog = catalog
        self.paths = paths
        self.config = config
        self.kiosk_id = kiosk_id
        self.sim_dir = Path(config.sim_dir) if config.sim_dir else paths.root / "usb-sim"
        self.backend = backend or open_backend(config.backend, self.sim_dir)
        self.leds = leds
        self.events = events
        self.max_file_size = max_file_size  # None: the filesystem's own limit (FAT32)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._busy = threading.Lock()
        self._rejected_seen: set[str] = set()

    @classmethod
    def for_kiosk(cls, kiosk: Any, **kw: Any) -> Exporter:
        """The exporter of a running :class:`~firmware.kiosk.Kiosk` (its catalog, LEDs, bus)."""
        settings: Settings = kiosk.settings
        kw.setdefault("leds", kiosk.leds)
        kw.setdefault("events", kiosk.events)
        return cls(kiosk.catalog, kiosk.paths, settings.export, kiosk_id=settings.kiosk_id, **kw)

    @property
    def allowlist(self) -> list[AllowedStick]:
        return [
            AllowedStick(s.vid, s.pid, s.serial, s.label)
            for s in (self.config.allowed_sticks or [])
        ]

    # -- small helpers ------------------------------------------------------------------
    def show(self, status: str) -> None:
        """Put the LEDs in ``status`` (a :class:`drivers.leds.Status` value); LED trouble
        never stops an export."""
        if self.leds is None:
            return
        with contextlib.suppress(Exception):
            from drivers.leds import Status as Led

            self.leds.show(Led(status))

    def _publish(self, **data: Any) -> None:
        if self.events is not None:
            with contextlib.suppress(Exception):
                self.events.publish("export", **data)

    # -- what is waiting ----------------------------------------------------------------
    def pending(self) -> list[dict[str, Any]]:
        """Confidential documents sealed and waiting for export (the UI's default choice)."""
        docs = self.catalog.list_documents([DocState.SEALED], limit=100000)
        out = []
        for d in docs:
            with contextlib.suppress(RoutingError):
                if route_for(d) == Route.SECURE_USB:
                    out.append(d)
        return sorted(out, key=lambda d: (d["created_at"], d["id"]))

    def _select(self, doc_ids: list[str] | None, allow_ordinary: bool) -> list[dict[str, Any]]:
        if doc_ids is None:
            docs = self.pending()
        else:
            docs = []
            for doc_id in dict.fromkeys(doc_ids):
                try:
                    docs.append(self.catalog.get_document(doc_id))
                except NotFound:
                    raise ExportError(
                        "unknown_document",
                        f"Document {doc_id} does not exist.",
                        f"Không có tài liệu {doc_id}.",
                        status=404,
                    ) from None
        if not docs:
            raise ExportError(
                "nothing_to_export",
                "No confidential document is waiting for export.",
                "Không có tài liệu mật nào đang chờ xuất.",
            )
        for d in docs:
            try:
                route = route_for(d)
            except RoutingError as exc:
                raise ExportError(exc.code, exc.message_en, exc.message_vi) from None
            if d["state"] != DocState.SEALED:
                raise ExportError(
                    "not_sealed",
                    f"Document {d['id']} is {d['state']}; only sealed documents waiting "
                    "for export can be exported.",
                    f"Tài liệu {d['id']} không ở trạng thái chờ xuất (đã xuất hoặc chưa lưu).",
                )
            if route != Route.SECURE_USB and not allow_ordinary:
                raise ExportError(
                    "not_confidential",
                    f"Document {d['id']} is not confidential: it goes to the archive over "
                    "the network. Secure USB export is for Mật and Tối mật documents.",
                    f"Tài liệu {d['id']} là tài liệu thường, được gửi qua mạng; chỉ tài liệu "
                    "Mật và Tối mật mới xuất ra USB bảo mật.",
                )
            for p in (self.paths.sealed_pdf(d["id"]), self.paths.sealed_sidecar(d["id"])):
                if not p.exists():
                    raise ExportError(
                        "sealed_copy_missing",
                        f"The sealed copy of document {d['id']} is missing ({p.name}).",
                        f"Không tìm thấy bản lưu của tài liệu {d['id']}; hãy báo cán bộ kỹ thuật.",
                        status=500,
                    )
        return docs

    def document_size(self, doc: dict[str, Any]) -> int:
        """Bytes one document takes on the stick (estimate before encryption)."""
        return self._needed([doc]) - FIXED_OVERHEAD

    def _needed(self, docs: list[dict[str, Any]]) -> int:
        total = FIXED_OVERHEAD
        for d in docs:
            total += self.paths.sealed_pdf(d["id"]).stat().st_size
            total += self.paths.sealed_sidecar(d["id"]).stat().st_size
            total += len(self.catalog.document_text(d["id"]).encode()) + PER_DOC_OVERHEAD
        return total

    # -- devices ------------------------------------------------------------------------
    def devices(self) -> list[dict[str, Any]]:
        """Every plugged USB storage device and whether it may receive an export."""
        out = []
        for dev in self.backend.devices():
            verdict = authorize(dev.identity, self.allowlist)
            out.append(
                {
                    **dev.to_dict(),
                    "authorized": verdict.ok,
                    "reason": verdict.reason,
                    "allowlist_label": verdict.label,
                    "foreign_interfaces": [str(i) for i in verdict.foreign],
                }
            )
        return out

    def _result(self, status: Status, **kw: Any) -> Preflight:
        fmt = kw.pop("fmt", {})
        key = kw.get("reason") if kw.get("reason") in MESSAGES else status
        en, vi = MESSAGES[key]
        return Preflight(status, en.format(**fmt), vi.format(**fmt), **kw)

    def _audit_rejection(self, dev: UsbStorage, reason: str, actor: str) -> None:
        """One audit record per rejected device plugged, not one per screen refresh."""
        seen = f"{dev.identity.key}|{dev.identity.descriptor_sha256}|{reason}"
        if seen in self._rejected_seen:
            return
        self._rejected_seen.add(seen)
        self.catalog.audit(actor, "usb.rejected", reason=reason, device=dev.identity.to_dict())

    def _preflight(self, needed: int | None, count: int, actor: str) -> Preflight:
        """Check the stick; on READY it stays mounted (``volume``), otherwise it is not."""
        devices = self.backend.devices()
        if not devices:
            return self._result(Status.NO_DEVICE)
        if len(devices) > 1:
            return self._result(Status.SEVERAL_DEVICES, devices=devices)
        dev = devices[0]
        verdict = authorize(dev.identity, self.allowlist)
        if not verdict.ok:
            self._audit_rejection(dev, verdict.reason, actor)
            classes = sorted({i.name_en for i in verdict.foreign}) or ["unknown"]
            classes_vi = sorted({i.name_vi for i in verdict.foreign}) or ["không rõ"]
            return self._result(
                Status.UNAUTHORIZED,
                device=dev,
                devices=devices,
                reason=verdict.reason,
                fmt={"classes": ", ".join(classes), "classes_vi": ", ".join(classes_vi)},
            )
        label = verdict.label or dev.identity.product or dev.identity.serial
        base: dict[str, Any] = {"device": dev, "devices": devices, "label": label}
        if dev.fstype not in SUPPORTED_FILESYSTEMS:
            fs = dev.fstype or "không có / none"
            return self._result(Status.UNSUPPORTED_FILESYSTEM, fmt={"fs": fs}, **base)
        if dev.read_only:
            return self._result(Status.READ_ONLY, **base)
        try:
            vol = self.backend.mount(dev)
        except MountError as exc:
            self.catalog.audit(actor, "usb.mount_error", error=str(exc), serial=dev.identity.serial)
            return self._result(Status.MOUNT_ERROR, **base)
        try:
            vol.probe_writable()
            free = vol.free_bytes()
        except OSError as exc:
            self._release(dev, eject=False)
            if exc.errno == errno.EROFS:
                return self._result(Status.READ_ONLY, **base)
            return self._result(Status.MOUNT_ERROR, **base)
        if needed is not None and free < needed:
            self._release(dev, eject=False)
            return self._result(
                Status.NOT_ENOUGH_SPACE,
                free_bytes=free,
                needed_bytes=needed,
                fmt={"need": human_size(needed), "free": human_size(free)},
                **base,
            )
        return self._result(
            Status.READY,
            free_bytes=free,
            needed_bytes=needed,
            volume=vol,
            fmt={"count": count, "label": label},
            **base,
        )

    def _release(self, dev: UsbStorage, *, eject: bool = True) -> bool:
        """Sync and unmount (and, with ``eject``, power the stick down); True when the
        stick may now be pulled out. A preflight does not eject: the export follows."""
        try:
            self.backend.unmount(dev, power_off=eject)
            return True
        except (MountError, OSError) as exc:
            log.warning("unmounting %s failed: %s", dev.node, exc)
            return False

    def preflight(
        self,
        doc_ids: list[str] | None = None,
        *,
        allow_ordinary: bool = False,
        actor: str = "system",
    ) -> Preflight:
        """Check the plugged stick for exporting ``doc_ids`` (default: all pending).

        Mounts the stick to measure it and unmounts it again; the UI calls this on every
        hot-plug event and shows ``message_vi``.
        """
        try:
            docs = self._select(doc_ids, allow_ordinary)
            needed: int | None = self._needed(docs)
        except ExportError as exc:
            if exc.code != "nothing_to_export":
                raise
            docs, needed = [], None
        pf = self._preflight(needed, len(docs), actor)
        if pf.volume is not None and pf.device is not None:
            self._release(pf.device, eject=False)
            pf.volume = None
        return pf

    # -- export -------------------------------------------------------------------------
    def export(
        self,
        actor: str,
        role: str,
        doc_ids: list[str] | None = None,
        *,
        allow_ordinary: bool = False,
        on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> ExportResult:
        """Export ``doc_ids`` (default: every confidential document waiting) to the stick.

        ``role`` is the signed-in operator's role: only an archivist may export. Setting
        ``cancel`` stops the export at the next chunk (:class:`ExportCancelled`). Raises
        :class:`ExportError` (a :class:`KioskError`) with a code and both messages when the
        export is refused or fails; the documents then stay ``sealed``, waiting.
        """
        if not may_export(role):
            self.catalog.audit(actor, "export.refused", reason="role", role=role)
            raise ExportError(
                "export_forbidden",
                "Only an archivist may export confidential documents.",
                "Chỉ cán bộ lưu trữ mới được xuất tài liệu mật.",
                status=403,
            )
        if not self._busy.acquire(blocking=False):
            raise ExportError(
                "export_busy", "An export is already running.", "Đang xuất dữ liệu, xin chờ."
            )
        try:
            return self._export(actor, doc_ids, allow_ordinary, on_progress, cancel)
        finally:
            self._busy.release()

    def _refuse(self, actor: str, err: KioskError, **details: Any) -> KioskError:
        self.catalog.audit(actor, "export.refused", code=err.code, error=err.message_en, **details)
        self.show("attention")
        return err

    def _export(
        self,
        actor: str,
        doc_ids: list[str] | None,
        allow_ordinary: bool,
        on_progress: ProgressFn | None,
        cancel: threading.Event | None = None,
    ) -> ExportResult:
        try:
            docs = self._select(doc_ids, allow_ordinary)
            recipients = cms.load_recipients(self.config.recipients or [], now=self.clock())
        except KioskError as exc:
            raise self._refuse(actor, exc) from None
        needed = self._needed(docs)
        pf = self._preflight(needed, len(docs), actor)
        if not pf.ready:
            stick = pf.device.identity.to_dict() if pf.device else None
            err = ExportError(pf.status.value, pf.message_en, pf.message_vi, preflight=pf)
            raise self._refuse(actor, err, stick=stick) from None
        assert pf.volume is not None and pf.device is not None
        vol, dev = pf.volume, pf.device
        export_id = new_id("X")
        directory = DIR_PREFIX + export_id
        stick = {**dev.identity.to_dict(), "label": pf.label, "fstype": dev.fstype}
        fps = [r.fingerprint for r in recipients]
        sizes = {d["id"]: self.document_size(d) for d in docs}
        progress = _Progress(export_id, docs, sizes, on_progress, self._publish, cancel)
        self.show("usb-writing")
        progress.phase("start")
        try:
            written, failed = self._write_all(vol, directory, docs, recipients, progress)
            files = [f for entries in written.values() for f in entries]
            files.append(self._write_small(vol, directory, README_NAME, README.encode()))
            manifest = self._manifest(export_id, actor, recipients, written, files)
            key, cert = self._signing_identity()
            signed = [
                self._write_small(vol, directory, MANIFEST_NAME, manifest),
                self._write_small(
                    vol, directory, SIGNATURE_NAME, cms.sign_detached(manifest, key, cert)
                ),
            ]
            progress.check_cancel()
            vol.sync()
            progress.phase("verifying")
            self._verify(vol, directory, files + signed, progress.check_cancel)
        except BaseException as exc:
            if isinstance(exc, OSError):
                err: KioskError = _io_error(exc)
            elif isinstance(exc, KioskError):
                err = exc
            else:  # a bug: still leave the stick and the LEDs in a sane state
                err = ExportError(
                    "export_error",
                    f"The export failed unexpectedly ({type(exc).__name__}: {exc}).",
                    "Xuất dữ liệu gặp lỗi; tài liệu vẫn đang chờ xuất. Hãy báo cán bộ kỹ thuật.",
                    status=500,
                )
            self.catalog.audit(
                actor,
                "export.failed",
                export_id=export_id,
                code=err.code,
                error=str(exc),
                stick=stick,
                documents=[d["id"] for d in docs],
            )
            with contextlib.suppress(OSError):
                vol.rmtree(directory)  # an incomplete export is never left to look complete
            released = self._release(dev)
            stopped = isinstance(err, ExportCancelled) and released
            self.show("safe-to-remove" if stopped else "error")
            progress.failed(err, safe_to_remove=released)
            raise err from exc
        verified_at = utcnow()
        exported, copies = self._record(
            actor, export_id, directory, docs, written, stick, fps, verified_at
        )
        safe = self._release(dev)
        self.show("safe-to-remove" if safe else "attention")
        result = ExportResult(
            export_id=export_id,
            directory=directory,
            stick=stick,
            recipients=fps,
            exported=exported,
            copies=copies,
            failed=failed,
            files=files,
            bytes_written=progress.done,
            safe_to_remove=safe,
        )
        self.catalog.audit(
            actor,
            "export.complete",
            export_id=export_id,
            exported=exported,
            copies=copies,
            failed=failed,
            stick_serial=dev.identity.serial,
            safe_to_remove=safe,
        )
        if safe:  # data is on the medium and flushed: local copies may go now
            result.purged = self.purge_due(actor)
        progress.done_with(result.to_dict())
        return result

    def _signing_identity(self) -> tuple[Any, Any]:
        from firmware.device_keys import load_or_create_signing_identity

        return load_or_create_signing_identity(self.paths, kiosk_id=self.kiosk_id)

    def _write_all(
        self,
        vol: Volume,
        directory: str,
        docs: list[dict[str, Any]],
        recipients: list[cms.Recipient],
        progress: _Progress,
    ) -> tuple[dict[str, list[FileEntry]], list[dict[str, str]]]:
        self._remove_stale(vol)
        vol.mkdir(directory)
        vol.fsync_dir("")
        written: dict[str, list[FileEntry]] = {}
        failed: list[dict[str, str]] = []
        for i, doc in enumerate(docs):
            progress.start_document(i, doc["id"])
            try:
                written[doc["id"]] = self._write_document(vol, directory, doc, recipients, progress)
                progress.document_written()
            except _DamagedCopy as exc:
                progress.document_failed("sealed_copy_damaged")
                failed.append(
                    {"doc_id": doc["id"], "code": "sealed_copy_damaged", "error": str(exc)}
                )
                self.catalog.audit("system", "export.integrity_error", doc["id"], error=str(exc))
        if not written:
            raise ExportError(
                "sealed_copy_damaged",
                "The sealed copies of the selected documents are damaged; nothing was exported.",
                "Bản lưu của các tài liệu đã chọn bị hỏng; không xuất được. Hãy báo cán bộ kỹ thuật.",
                status=500,
            )
        return written, failed

    def _remove_stale(self, vol: Volume) -> None:
        """Remove export folders a pulled stick or a crash left without a signed manifest."""
        for name in vol.listdir(""):
            if name.startswith(DIR_PREFIX) and SIGNATURE_NAME not in vol.listdir(name):
                log.info("removing incomplete export %s from the stick", name)
                vol.rmtree(name)

    def _write_document(
        self,
        vol: Volume,
        directory: str,
        doc: dict[str, Any],
        recipients: list[cms.Recipient],
        progress: _Progress,
    ) -> list[FileEntry]:
        doc_id = doc["id"]
        pdf = self.paths.sealed_pdf(doc_id)
        sidecar = self.paths.sealed_sidecar(doc_id).read_bytes()
        text = self.catalog.document_text(doc_id).encode("utf-8")
        pdf_hash = hashlib.sha256()
        max_size = self.max_file_size or vol.max_file_size
        writer = _PartWriter(vol, directory, f"{doc_id}.p7m", doc_id, max_size, progress.add)
        stamp = self.clock().timetuple()[:6]

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
            raise _DamagedCopy(
                f"sealed PDF of {doc_id} does not match its recorded SHA-256 "
                f"({pdf_hash.hexdigest()[:16]}… != {doc['sha256'][:16]}…)"
            )
        return entries

    def _write_small(self, vol: Volume, directory: str, name: str, data: bytes) -> FileEntry:
        tmp = f"{directory}/.{name}.partial"
        with vol.open_write(tmp) as fh:
            fh.write(data)
            vol.fsync(fh)
        vol.replace(tmp, f"{directory}/{name}")
        vol.fsync_dir(directory)
        return FileEntry(name, len(data), hashlib.sha256(data).hexdigest())

    def _manifest(
        self,
        export_id: str,
        actor: str,
        recipients: list[cms.Recipient],
        written: dict[str, list[FileEntry]],
        files: list[FileEntry],
    ) -> bytes:
        _, cert = self._signing_identity()
        manifest = {
            "format": FORMAT,
            "export_id": export_id,
            "kiosk_id": self.kiosk_id,
            "operator": actor,
            "created": utcnow(),
            "signer_sha256": cms.fingerprint(cert),
            "recipients": [{"sha256": r.fingerprint, "subject": r.subject} for r in recipients],
            "documents": [
                {"id": doc_id, "files": [e.name for e in entries]}
                for doc_id, entries in written.items()
            ],
            "files": [f.to_dict() for f in files],
        }
        return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    def _verify(
        self,
        vol: Volume,
        directory: str,
        files: list[FileEntry],
        check_cancel: Callable[[], None] = lambda: None,
    ) -> None:
        """Read every file back from the medium and compare it with what was written."""
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

    def _record(
        self,
        actor: str,
        export_id: str,
        directory: str,
        docs: list[dict[str, Any]],
        written: dict[str, list[FileEntry]],
        stick: dict[str, Any],
        fps: list[str],
        verified_at: str,
    ) -> tuple[list[str], list[str]]:
        """One transition + audit record per document, naming operator, stick, recipients."""
        exported, copies = [], []
        where = f"USB {stick['vid']}:{stick['pid']} serial {stick['serial']}"
        if stick.get("label"):
            where += f" ({stick['label']})"
        for doc in docs:
            if doc["id"] not in written:
                continue
            record = {
                "export_id": export_id,
                "directory": directory,
                "operator": actor,
                "stick": {
                    k: stick[k] for k in ("vid", "pid", "serial", "label", "descriptor_sha256")
                },
                "recipients": fps,
                "files": [e.name for e in written[doc["id"]]],
                "verified_at": verified_at,
            }
            reason = f"export {export_id} to {where}; recipients " + ", ".join(fps)
            if is_confidential(doc["confidentiality"]):
                self.catalog.transition_document(
                    doc["id"],
                    DocState.EXPORTED,
                    actor,
                    reason=reason,
                    metadata={**doc["metadata"], "export": record},
                )
                exported.append(doc["id"])
            else:  # an ordinary document keeps its way to the archive over the network
                self.catalog.audit(
                    actor, "document.export_copy", doc["id"], reason=reason, **record
                )
                copies.append(doc["id"])
        return exported, copies

    # -- purge --------------------------------------------------------------------------
    def purge_due(self, actor: str = "system", now: dt.datetime | None = None) -> list[str]:
        """Purge every exported document whose retention has run out; return their ids.

        Retention ``immediate``: right after the verified export. ``N`` days: N days after
        its verification. The kiosk service calls this periodically (and at start-up).
        """
        now = now or self.clock()
        keep = self.config.retention
        days = 0 if keep == "immediate" else int(keep)
        due = []
        for doc in self.catalog.list_documents([DocState.EXPORTED], limit=100000):
            stamp = (doc["metadata"].get("export") or {}).get("verified_at") or doc["updated_at"]
            when = dt.datetime.fromisoformat(stamp)
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            if when + dt.timedelta(days=days) <= now:
                due.append(doc["id"])
        if due:
            self.purge(due, actor)
        return due

    def purge(self, doc_ids: list[str], actor: str) -> None:
        """Remove the local sealed copy, frames, work files and OCR text of exported
        confidential documents, then mark them ``purged``.

        Only ``exported`` documents qualify: that state is reached only after the read-back
        verification. The text is deleted with SQLite's ``secure_delete`` (freed pages are
        zeroed), the FTS index is merged so no segment keeps the words, and the WAL is
        truncated, so the words are gone from ``catalog.db`` and its journal.
        """
        docs = [self.catalog.get_document(d) for d in doc_ids]
        for d in docs:
            if d["state"] != DocState.EXPORTED or not is_confidential(d["confidentiality"]):
                raise ExportError(
                    "not_purgeable",
                    f"Document {d['id']} is {d['state']}; only exported confidential "
                    "documents are purged.",
                    f"Tài liệu {d['id']} chưa được xuất nên không thể xóa bản lưu.",
                )
        for d in docs:
            self.paths.remove_document_files(d["id"])
        self._erase_text([d["id"] for d in docs])
        for d in docs:
            export_id = (d["metadata"].get("export") or {}).get("export_id", "")
            self.catalog.transition_document(
                d["id"],
                DocState.PURGED,
                actor,
                reason=f"local copies removed after verified export {export_id}",
                pdf_path=None,
            )

    def _erase_text(self, doc_ids: list[str]) -> None:
        cat = self.catalog
        with cat.transaction() as db:
            db.execute("PRAGMA secure_delete=ON")
            for doc_id in doc_ids:
                db.execute("DELETE FROM page_text WHERE doc_id = ?", [doc_id])
            db.execute("INSERT INTO page_text(page_text) VALUES('optimize')")
        with contextlib.suppress(Exception):
            cat.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class _DamagedCopy(Exception):
    """The sealed PDF read for export does not match the hash recorded when sealing."""


class _Progress:
    """Per-file progress for the UI (callback and event bus), and the cancel check.

    Events carry the whole export (``bytes_done`` / ``bytes_total``) and the current
    document (``doc_bytes_done`` / ``doc_bytes_total``, estimated from the sealed files
    before encryption); ``doc_state`` is writing, written or failed. Phases: start,
    writing, verifying, done, failed.
    """

    def __init__(
        self,
        export_id: str,
        docs: list[dict[str, Any]],
        sizes: dict[str, int],
        callback: ProgressFn | None,
        publish: Callable[..., None],
        cancel: threading.Event | None = None,
    ):
        self.export_id = export_id
        self.doc_ids = [d["id"] for d in docs]
        self.sizes = sizes
        self.count, self.total = len(docs), sum(sizes.values())
        self.callback, self.publish, self.cancel = callback, publish, cancel
        self.done = 0
        self.index = 0
        self.doc_id = ""
        self.doc_done = 0
        self.doc_state = ""

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ExportCancelled()

    def _emit(self, phase: str, **extra: Any) -> None:
        event = {
            "phase": phase,
            "export_id": self.export_id,
            "index": self.index,
            "count": self.count,
            "doc_id": self.doc_id,
            "doc_state": self.doc_state,
            "doc_bytes_done": self.doc_done,
            "doc_bytes_total": self.sizes.get(self.doc_id, 0),
            "bytes_done": self.done,
            "bytes_total": self.total,
            **extra,
        }
        if self.callback is not None:
            self.callback(event)
        self.publish(**event)

    def start_document(self, index: int, doc_id: str) -> None:
        self.check_cancel()
        self.index, self.doc_id, self.doc_done, self.doc_state = index, doc_id, 0, "writing"
        self._emit("writing")

    def add(self, n: int) -> None:
        self.check_cancel()
        before = self.doc_done
        self.done += n
        self.doc_done += n
        if before // PROGRESS_STEP != self.doc_done // PROGRESS_STEP:
            self._emit("writing")

    def document_written(self) -> None:
        self.doc_state = "written"
        self._emit("writing")

    def document_failed(self, code: str) -> None:
        self.doc_state = "failed"
        self._emit("writing", code=code)

    def phase(self, name: str) -> None:
        if name == "start":
            self._emit("start", doc_ids=self.doc_ids, doc_bytes=self.sizes)
        else:
            self.doc_id, self.doc_state, self.doc_done = "", "", 0
            self._emit(name)

    def failed(self, err: KioskError, *, safe_to_remove: bool) -> None:
        self._emit("failed", safe_to_remove=safe_to_remove, **err.to_dict())

    def done_with(self, result: dict[str, Any]) -> None:
        self.doc_id, self.doc_state, self.doc_done = "", "", 0
        self._emit("done", **result)
