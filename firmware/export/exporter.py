"""Secure USB export of confidential documents: the facade over its stages.

Each stage is a module of its own: :mod:`~firmware.export.selection` (which documents, who
may export, room needed), :mod:`~firmware.export.preflight` (the stick),
:mod:`~firmware.export.writer` (encrypt and write), :mod:`~firmware.export.manifest` (what
the folder holds, its signed manifest, the read-back), :mod:`~firmware.export.record`
(transitions and audit), :mod:`~firmware.export.purge` (local copies), with
:mod:`~firmware.export.progress` and :mod:`~firmware.export.errors` beside them.
:class:`Exporter` runs them in order and holds what they share (catalog, stick backend,
configuration, LEDs, clock), and says their order.

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
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.usb import AllowedStick, StorageBackend, open_backend
from firmware.config import ExportConfig, Settings
from firmware.errors import KioskError
from firmware.events import EventKind, ExportEvent
from firmware.export import cms, manifest, preflight, purge, record, selection, writer
from firmware.export.errors import ExportCancelled, ExportError, io_error
from firmware.export.manifest import (
    DIR_PREFIX,
    MANIFEST_NAME,
    README,
    README_NAME,
    SIGNATURE_NAME,
    FileEntry,
)
from firmware.export.preflight import MESSAGES, Preflight, Status, human_size
from firmware.export.progress import ExportProgress, ProgressFn
from firmware.export.selection import may_export
from firmware.store.catalog import Catalog, new_id, utcnow
from firmware.store.paths import DataPaths

#: What callers have always imported from here; each name lives in its stage's module.
__all__ = [
    "MANIFEST_NAME",
    "MESSAGES",
    "README_NAME",
    "SIGNATURE_NAME",
    "ExportCancelled",
    "ExportError",
    "ExportResult",
    "Exporter",
    "FileEntry",
    "Preflight",
    "Status",
    "human_size",
    "may_export",
]


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


class Exporter:
    """Export of sealed confidential documents to an authorized, encrypted USB stick.

    One per kiosk service (the UI keeps one); every public method is safe to call from the
    UI's threads, and only one export runs at a time. ``backend``, ``clock`` and ``config``
    are read at each call (tests and the demo swap them).
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
        self._stick = preflight.StickCheck(catalog)

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

    def _publish(self, event: ExportEvent) -> None:
        if self.events is not None:
            with contextlib.suppress(Exception):
                self.events.publish(EventKind.EXPORT, **event)

    # -- what is waiting ----------------------------------------------------------------
    def pending(self) -> list[dict[str, Any]]:
        """Confidential documents sealed and waiting for export (the UI's default choice)."""
        return selection.pending(self.catalog)

    def document_size(self, doc: dict[str, Any]) -> int:
        """Bytes one document takes on the stick (estimate before encryption)."""
        return selection.document_size(self.catalog, self.paths, doc)

    # -- devices ------------------------------------------------------------------------
    def devices(self) -> list[dict[str, Any]]:
        """Every plugged USB storage device and whether it may receive an export."""
        return self._stick.devices(self.backend, self.allowlist)

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
            docs = selection.select(self.catalog, self.paths, doc_ids, allow_ordinary)
            needed: int | None = selection.needed(self.catalog, self.paths, docs)
        except ExportError as exc:
            if exc.code != "nothing_to_export":
                raise
            docs, needed = [], None
        pf = self._stick.check(self.backend, self.allowlist, needed, len(docs), actor)
        if pf.volume is not None and pf.device is not None:
            preflight.release(self.backend, pf.device, eject=False)
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
            docs = selection.select(self.catalog, self.paths, doc_ids, allow_ordinary)
            recipients = cms.load_recipients(self.config.recipients or [], now=self.clock())
        except KioskError as exc:
            raise self._refuse(actor, exc) from None
        needed = selection.needed(self.catalog, self.paths, docs)
        pf = self._stick.check(self.backend, self.allowlist, needed, len(docs), actor)
        if not pf.ready:
            stick = pf.device.identity.to_dict() if pf.device else None
            refusal = ExportError(pf.status.value, pf.message_en, pf.message_vi, preflight=pf)
            raise self._refuse(actor, refusal, stick=stick) from None
        assert pf.volume is not None and pf.device is not None
        vol, dev = pf.volume, pf.device
        export_id = new_id("X")
        directory = DIR_PREFIX + export_id
        stick = {**dev.identity.to_dict(), "label": pf.label, "fstype": dev.fstype}
        fps = [r.fingerprint for r in recipients]
        sizes = {d["id"]: self.document_size(d) for d in docs}
        progress = ExportProgress(export_id, docs, sizes, on_progress, self._publish, cancel)
        self.show("usb-writing")
        progress.phase("start")
        try:
            written, failed = writer.write_documents(
                vol,
                directory,
                docs,
                recipients,
                progress,
                catalog=self.catalog,
                paths=self.paths,
                max_file_size=self.max_file_size,
                clock=self.clock,
            )
            files = [f for entries in written.values() for f in entries]
            files.append(writer.write_small(vol, directory, README_NAME, README.encode()))
            key, cert = self._signing_identity()
            listing = manifest.build(
                export_id, self.kiosk_id, actor, cert, recipients, written, files
            )
            signed = [
                writer.write_small(vol, directory, MANIFEST_NAME, listing),
                writer.write_small(
                    vol, directory, SIGNATURE_NAME, cms.sign_detached(listing, key, cert)
                ),
            ]
            progress.check_cancel()
            vol.sync()
            progress.phase("verifying")
            manifest.verify(vol, directory, files + signed, progress.check_cancel)
        except BaseException as exc:
            if isinstance(exc, OSError):
                err: KioskError = io_error(exc)
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
            released = preflight.release(self.backend, dev)
            stopped = isinstance(err, ExportCancelled) and released
            self.show("safe-to-remove" if stopped else "error")
            progress.failed(err, safe_to_remove=released)
            raise err from exc
        verified_at = utcnow()
        exported, copies = record.record_export(
            self.catalog, actor, export_id, directory, docs, written, stick, fps, verified_at
        )
        safe = preflight.release(self.backend, dev)
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
        from firmware.archive.device_keys import load_or_create_signing_identity

        return load_or_create_signing_identity(self.paths, kiosk_id=self.kiosk_id)

    # -- purge --------------------------------------------------------------------------
    def purge_due(self, actor: str = "system", now: dt.datetime | None = None) -> list[str]:
        """Purge every exported document whose retention has run out; return their ids.

        Retention ``immediate``: right after the verified export. ``N`` days: N days after
        its verification. The kiosk service calls this periodically (and at start-up).
        """
        due = purge.due(self.catalog, self.config.retention, now or self.clock())
        if due:
            self.purge(due, actor)
        return due

    def purge(self, doc_ids: list[str], actor: str) -> None:
        """Remove the local copies and OCR text of exported confidential documents, then
        mark them ``purged`` (:func:`firmware.export.purge.purge`)."""
        purge.purge(self.catalog, self.paths, doc_ids, actor)
