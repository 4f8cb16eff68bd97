"""Progress of a running export for the UI (a callback and the event bus), and the
archivist's cancel, checked at every chunk written or read back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Unpack

from firmware.errors import KioskError
from firmware.events import ExportDetails, ExportEvent
from firmware.export.errors import ExportCancelled

PROGRESS_STEP = 256 * 1024  # an event per 256 KiB written: bars move, ~4 events per MB

ProgressFn = Callable[[ExportEvent], None]


class ExportProgress:
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
        to_bus: ProgressFn,
        cancel: threading.Event | None = None,
    ):
        self.export_id = export_id
        self.doc_ids = [d["id"] for d in docs]
        self.sizes = sizes
        self.count, self.total = len(docs), sum(sizes.values())
        self.callback, self.to_bus, self.cancel = callback, to_bus, cancel
        self.done = 0
        self.index = 0
        self.doc_id = ""
        self.doc_done = 0
        self.doc_state = ""

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ExportCancelled()

    def _emit(self, phase: str, **extra: Unpack[ExportDetails]) -> None:
        event: ExportEvent = {
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
        self.to_bus(event)  # the bus: Exporter._publish, typed per kind

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
