"""The export desk of a running kiosk: the stick's state, export jobs in the background,
hot-plug, and the periodic purge.

Why a separate object from :class:`~firmware.export.exporter.Exporter`: the exporter does one export
from start to end (CLI and tests call it directly); the touchscreen needs more around it.
An export takes minutes on a slow stick, so it runs in a thread while the screen follows
its per-file progress (events on the kiosk's bus, and :meth:`ExportService.job` for a
screen that was reloaded); the status bar needs the stick's state at a glance (none,
present, refused, writing, safe to remove) without mounting anything; a stick plugged or
pulled must reach the screen at once (the backend's watcher); and exported documents whose
retention ran out must be purged even when nobody exports for weeks.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.usb import UsbStorage, authorize
from firmware.errors import KioskError
from firmware.events import EventKind, ExportEvent, UsbStatus
from firmware.export.errors import ExportError
from firmware.export.exporter import Exporter
from firmware.export.preflight import Preflight
from firmware.export.selection import may_export
from sohoa_common.errors import ErrorFields

log = logging.getLogger("sohoa.export")

#: How often the retention purge runs (it also runs once at start-up).
PURGE_INTERVAL_S = 3600.0
#: How long :meth:`ExportService.start_export` waits for the export to pass its checks.
START_TIMEOUT_S = 120.0


class UsbState:
    """What the status bar shows for the USB stick."""

    NONE = "none"  # nothing plugged
    PRESENT = "present"  # a registered stick, idle
    REFUSED = "refused"  # not registered, or a composite device (keyboard, network...)
    SEVERAL = "several"  # more than one stick
    WRITING = "writing"  # an export is writing or verifying: do not remove
    SAFE = "safe"  # export finished, stick unmounted and flushed: safe to remove


@dataclass
class DocProgress:
    id: str
    title: str
    bytes_total: int
    bytes_done: int = 0
    state: str = "waiting"  # waiting | writing | written | verified | failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "state": self.state,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
        }


@dataclass
class ExportJob:
    """One export started from the screen, as the screen shows it."""

    actor: str
    state: str = "starting"  # starting | running | verifying | done | failed | cancelled
    export_id: str = ""
    documents: list[DocProgress] = field(default_factory=list)
    bytes_done: int = 0
    bytes_total: int = 0
    error: ErrorFields | None = None
    safe_to_remove: bool = False
    exported: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event, repr=False)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def running(self) -> bool:
        return self.state in ("starting", "running", "verifying")

    def to_dict(self) -> dict[str, Any]:
        return {
            "export_id": self.export_id,
            "operator": self.actor,
            "state": self.state,
            "documents": [d.to_dict() for d in self.documents],
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "error": self.error,
            "safe_to_remove": self.safe_to_remove,
            "exported": self.exported,
            "purged": self.purged,
        }


class ExportService:
    """One per kiosk service; every method is safe to call from the UI's threads."""

    def __init__(
        self,
        exporter: Exporter,
        *,
        purge_interval_s: float = PURGE_INTERVAL_S,
        on_usb: Callable[[UsbStatus], None] | None = None,
    ):
        self.exporter = exporter
        self.purge_interval_s = purge_interval_s
        self.on_usb = on_usb
        self._lock = threading.Lock()
        self._devices: dict[str, UsbStorage] | None = None  # None: no watcher, ask each time
        self._job: ExportJob | None = None
        self._stop = threading.Event()
        self._unwatch: Callable[[], None] | None = None
        self._purger: threading.Thread | None = None

    @classmethod
    def for_kiosk(cls, kiosk: Any, **kw: Any) -> ExportService:
        """The export desk of a :class:`~firmware.kiosk.Kiosk` (its catalog, LEDs, bus)."""
        return cls(Exporter.for_kiosk(kiosk), **kw)

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> ExportService:
        """Watch for sticks being plugged and pulled; purge what is due, now and hourly."""
        with self._lock:
            self._devices = {d.node: d for d in self._safe_devices()}
        try:
            self._unwatch = self.exporter.backend.watch(self._on_device)
        except Exception as exc:  # no udev (container, CI): poll on demand instead
            log.warning("USB hot-plug watch unavailable (%s); reading devices on demand", exc)
            with self._lock:
                self._devices = None
        self._purger = threading.Thread(target=self._purge_loop, name="export-purge", daemon=True)
        self._purger.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        job = self._job
        if job is not None and job.running:
            job.cancel.set()
        if self._unwatch is not None:
            with contextlib.suppress(Exception):
                self._unwatch()
            self._unwatch = None
        if self._purger is not None:
            self._purger.join(timeout=10)

    def _purge_loop(self) -> None:
        while not self._stop.is_set():
            try:
                purged = self.exporter.purge_due("system")
                if purged:
                    log.info("retention: purged %d exported document(s)", len(purged))
            except Exception:  # the next round retries; the failure is in the log
                log.exception("retention purge failed")
            self._stop.wait(self.purge_interval_s)

    # -- the stick ------------------------------------------------------------------------
    def _safe_devices(self) -> list[UsbStorage]:
        try:
            return self.exporter.backend.devices()
        except Exception as exc:
            log.warning("listing USB devices failed: %s", exc)
            return []

    def devices(self) -> list[UsbStorage]:
        with self._lock:
            known = None if self._devices is None else list(self._devices.values())
        return known if known is not None else self._safe_devices()

    def refresh(self) -> None:
        """Read the device list now (after the demo plugged a simulated stick), rather
        than when the watcher next looks; the watcher still reports the change."""
        with self._lock:
            if self._devices is not None:
                self._devices = {d.node: d for d in self._safe_devices()}

    def _on_device(self, action: str, dev: UsbStorage) -> None:
        """Hot-plug report from the backend's watcher thread; never lets it die."""
        try:
            self._record_device(action, dev)
        except Exception:
            log.exception("USB %s of %s could not be recorded", action, dev.node)

    def _record_device(self, action: str, dev: UsbStorage) -> None:
        with self._lock:
            if self._devices is not None:
                if action == "add":
                    self._devices[dev.node] = dev
                else:
                    self._devices.pop(dev.node, None)
            job = self._job
            if action == "remove" and job is not None and not job.running:
                self._job = None  # the stick left: the finished export is history
        if action == "remove" and job is not None and not job.running:
            self.exporter.show("ready")
        state = self.usb_state()
        self.exporter.catalog.audit(
            "system",
            f"usb.{'plugged' if action == 'add' else 'removed'}",
            device=dev.identity.to_dict(),
        )
        self._publish_usb(action, state)

    def _publish_usb(self, action: str, state: UsbStatus) -> None:
        if self.exporter.events is not None:
            with contextlib.suppress(Exception):
                self.exporter.events.publish(EventKind.USB, action=action, **state)
        if self.on_usb is not None:
            self.on_usb(state)

    def usb_state(self) -> UsbStatus:
        """The stick at a glance, without mounting it (the status bar asks every 5 s)."""
        job = self._job
        devs = self.devices()
        count = len(devs)
        if job is not None and job.running:
            return UsbStatus(count=count, label="", serial="", state=UsbState.WRITING)
        if job is not None and job.state in ("done", "cancelled") and job.safe_to_remove:
            return UsbStatus(count=count, label="", serial="", state=UsbState.SAFE)
        if not devs:
            return UsbStatus(count=count, label="", serial="", state=UsbState.NONE)
        if len(devs) > 1:
            return UsbStatus(count=count, label="", serial="", state=UsbState.SEVERAL)
        dev = devs[0]
        verdict = authorize(dev.identity, self.exporter.allowlist)
        return UsbStatus(
            count=count,
            label=verdict.label or dev.identity.product or dev.identity.serial,
            serial=dev.identity.serial,
            state=UsbState.PRESENT if verdict.ok else UsbState.REFUSED,
        )

    def preflight(self, doc_ids: list[str] | None = None, actor: str = "system") -> Preflight:
        """The stick checked for this selection; while an export runs, nothing is touched."""
        job = self._job
        if job is not None and job.running:
            raise ExportError(
                "export_busy", "An export is already running.", "Đang xuất dữ liệu, xin chờ."
            )
        return self.exporter.preflight(doc_ids, actor=actor)

    # -- export jobs ----------------------------------------------------------------------
    def job(self) -> ExportJob | None:
        return self._job

    def start_export(self, actor: str, role: str, doc_ids: list[str] | None = None) -> ExportJob:
        """Start an export in the background; refusals (role, stick, certificates...) are
        raised here, before anything is written, so the screen shows them at once."""
        if not may_export(role):
            self.exporter.catalog.audit(actor, "export.refused", reason="role", role=role)
            raise ExportError(
                "export_forbidden",
                "Only an archivist may export confidential documents.",
                "Chỉ cán bộ lưu trữ mới được xuất tài liệu mật.",
                status=403,
            )
        with self._lock:
            if self._job is not None and self._job.running:
                raise ExportError(
                    "export_busy", "An export is already running.", "Đang xuất dữ liệu, xin chờ."
                )
            job = ExportJob(actor)
            self._job = job
        titles = {}
        for doc_id in doc_ids or []:
            with contextlib.suppress(Exception):
                titles[doc_id] = self.exporter.catalog.get_document(doc_id).get("title") or ""
        outcome: dict[str, BaseException] = {}

        def run() -> None:
            try:
                result = self.exporter.export(
                    actor,
                    role,
                    doc_ids,
                    on_progress=lambda ev: self._on_progress(job, ev, titles),
                    cancel=job.cancel,
                )
                with self._lock:
                    job.state = "done"
                    job.safe_to_remove = result.safe_to_remove
                    job.exported, job.purged = result.exported, result.purged
                    for d in job.documents:
                        if d.state == "written":
                            d.state = "verified"
            except KioskError as exc:
                with self._lock:
                    job.state = "cancelled" if exc.code == "export_cancelled" else "failed"
                    job.error = exc.to_dict()
                    for d in job.documents:
                        if d.state in ("writing", "written"):
                            d.state = "waiting"  # nothing was recorded: still waiting
                outcome["error"] = exc
            except BaseException as exc:  # a bug: the screen must still leave "writing"
                log.exception("export crashed")
                with self._lock:
                    job.state = "failed"
                    job.error = {
                        "code": "export_error",
                        "message_en": f"The export failed unexpectedly ({exc}).",
                        "message_vi": "Xuất dữ liệu gặp lỗi; tài liệu vẫn đang chờ xuất.",
                    }
                outcome["error"] = exc
            finally:
                job.started.set()
                self._publish_usb("export", self.usb_state())

        threading.Thread(target=run, name="export", daemon=True).start()
        job.started.wait(START_TIMEOUT_S)
        err = outcome.get("error")
        if err is not None and not job.export_id:  # refused before writing: say so now
            with self._lock:
                if self._job is job:
                    self._job = None
            if isinstance(err, KioskError):
                raise err
            raise ExportError(
                "export_error",
                f"The export failed unexpectedly ({err}).",
                "Xuất dữ liệu gặp lỗi; tài liệu vẫn đang chờ xuất. Hãy báo cán bộ kỹ thuật.",
                status=500,
            )
        return job

    def _on_progress(self, job: ExportJob, ev: ExportEvent, titles: dict[str, str]) -> None:
        with self._lock:
            phase = ev["phase"]
            job.bytes_done, job.bytes_total = ev["bytes_done"], ev["bytes_total"]
            if phase == "start":
                job.export_id = ev["export_id"]
                job.state = "running"
                job.documents = []
                for doc_id in ev["doc_ids"]:
                    title = titles.get(doc_id)
                    if title is None:
                        with contextlib.suppress(Exception):
                            title = self.exporter.catalog.get_document(doc_id).get("title")
                    job.documents.append(
                        DocProgress(doc_id, title or "", int(ev["doc_bytes"].get(doc_id, 0)))
                    )
                job.started.set()
            elif phase == "writing" and ev["doc_id"]:
                for d in job.documents:
                    if d.id == ev["doc_id"]:
                        d.state = ev["doc_state"] or "writing"
                        d.bytes_done = ev["doc_bytes_done"]
                        if d.state == "written":
                            d.bytes_total = d.bytes_done  # the exact size once written
            elif phase == "verifying":
                job.state = "verifying"
            elif phase == "failed":
                job.safe_to_remove = bool(ev.get("safe_to_remove"))

    def cancel(self) -> ExportJob | None:
        """Stop the running export at the next chunk; what it wrote is removed."""
        job = self._job
        if job is not None and job.running:
            job.cancel.set()
        return job

    def pending(self) -> list[dict[str, Any]]:
        return self.exporter.pending()
