"""In-process event bus: the kiosk core publishes, the UI (server-sent events) subscribes.

Bounded queues per subscriber: a stalled browser tab must never block capture, so a full
queue drops its oldest event (the UI re-reads state on reconnect anyway).

Every event has a named kind (:class:`EventKind`); the payload each kind carries is written
down once, as a ``TypedDict`` in :data:`PAYLOADS`, so a publisher and the screens' JavaScript
(which reads the kinds from the page config, ``KIND.PAGE``) agree on one list instead of
matching raw strings. :meth:`EventBus.publish` has one typed overload per kind, so the type
check (mypy) refuses a payload that does not match its kind: a missing or misspelt key, a
key of another kind, a value of the wrong type.
"""

from __future__ import annotations

import queue
import threading
import time
from enum import StrEnum
from typing import Any, Literal, NotRequired, Required, TypedDict, Unpack, overload

from sohoa_common.errors import ErrorFields


class EventKind(StrEnum):
    """What an event is about; the value is what the browser sees in ``ev.kind``."""

    PAGE = "page"
    DOCUMENT = "document"
    SHEET = "sheet"
    BACKLOG = "backlog"
    ERROR = "error"
    DEVICE = "device"
    USB = "usb"
    EXPORT = "export"
    UPLINK = "uplink"
    REGISTER_IMPORT = "register_import"
    UPDATE = "update"
    CLOSING = "closing"


class PageEvent(TypedDict):
    """A page was captured, processed, failed OCR or was deleted."""

    page_id: str
    doc_id: str
    state: str
    seq: NotRequired[int]
    quality: NotRequired[dict[str, Any]]
    preview: NotRequired[str | None]
    words: NotRequired[int]
    conf: NotRequired[float]


class DocumentEvent(TypedDict):
    """A document changed state (processing, parked, discarded, sealed, queued...)."""

    doc_id: str
    state: str
    sha256: NotRequired[str]


class SheetEvent(TypedDict):
    """A cover, separator or enrolment sheet was read (``sheet`` says which: cover,
    separator, enrolled, or invalid); the rest is the sheet's own summary, or the error's
    code and messages."""

    sheet: str
    doc_id: str | None
    # cover and separator sheets (firmware.coversheet.actions.apply_sheet)
    closed: NotRequired[str | None]
    closed_as: NotRequired[str | None]
    summary_vi: NotRequired[str]
    summary_en: NotRequired[str]
    metadata: NotRequired[dict[str, Any]]  # cover sheets only
    confidentiality: NotRequired[str]  # cover sheets only
    # the hub's enrollment code
    already: NotRequired[bool]
    hub: NotRequired[str]
    # an unreadable sheet or a refused enrollment ("invalid")
    code: NotRequired[str]
    message_en: NotRequired[str]
    message_vi: NotRequired[str]


class BacklogEvent(TypedDict):
    """How many pages wait for OCR."""

    backlog: int


class ErrorEvent(ErrorFields):
    """A :class:`KioskError` as shown to the clerk (Vietnamese and English): its
    ``to_dict()``."""


class DeviceEvent(TypedDict):
    """A device came or went (today the scanner)."""

    device: str
    available: bool
    name: str


class UsbStatus(TypedDict):
    """The status bar's view of the USB stick
    (:meth:`firmware.export.desk.ExportService.usb_state`)."""

    state: str
    count: int
    label: str
    serial: str


class UsbEvent(UsbStatus):
    """A USB stick was plugged or removed (``action``), and the stick as it is now."""

    action: str


class ExportDetails(TypedDict, total=False):
    """What the start, a failure and the end of an export add to its progress event."""

    # phase "start"
    doc_ids: list[str]
    doc_bytes: dict[str, int]
    # a document that failed ("writing"), or the export's error ("failed")
    code: str
    message_en: str
    message_vi: str
    safe_to_remove: bool
    # phase "done": firmware.export.exporter.ExportResult.to_dict()
    directory: str
    stick: dict[str, Any]
    recipients: list[str]
    exported: list[str]
    copies: list[str]
    failed: list[dict[str, str]]
    files: list[dict[str, Any]]
    bytes_written: int
    purged: list[str]


class ExportEvent(ExportDetails):
    """Progress of a secure export (:class:`firmware.export.progress.ExportProgress`): the
    phase, bytes, the document being written, and the phase's details."""

    phase: str
    export_id: str
    index: int
    count: int
    doc_id: str
    doc_state: str
    doc_bytes_done: int
    doc_bytes_total: int
    bytes_done: int
    bytes_total: int


class UplinkEvent(TypedDict):
    """The uploader's state changed (and the document it is sending, if any)."""

    state: str
    sending: str | None


class RegisterImportEvent(TypedDict, total=False):
    """Progress (``phase``, rows ``done`` of ``total``) or end (``state``) of a register
    import job."""

    job: Required[str]
    phase: str
    state: str
    done: int
    total: int | None


class UpdateEvent(TypedDict, total=False):
    """The agent's application update moved a step (``firmware.fleet.link.read_update_state``):
    ``switching`` while the screen must say the software is being updated."""

    step: str
    version: str | None
    previous: str | None
    outcome: str | None
    switching: bool


class ClosingEvent(TypedDict):
    """The service stops: every reader ends."""


#: the payload type of each kind (one place; the tests check every kind has one)
PAYLOADS: dict[EventKind, type] = {
    EventKind.PAGE: PageEvent,
    EventKind.DOCUMENT: DocumentEvent,
    EventKind.SHEET: SheetEvent,
    EventKind.BACKLOG: BacklogEvent,
    EventKind.ERROR: ErrorEvent,
    EventKind.DEVICE: DeviceEvent,
    EventKind.USB: UsbEvent,
    EventKind.EXPORT: ExportEvent,
    EventKind.UPLINK: UplinkEvent,
    EventKind.REGISTER_IMPORT: RegisterImportEvent,
    EventKind.UPDATE: UpdateEvent,
    EventKind.CLOSING: ClosingEvent,
}


def js_kinds() -> dict[str, str]:
    """The kinds as the screens' JavaScript reads them (``KIND.PAGE`` -> "page")."""
    return {k.name: k.value for k in EventKind}


class EventBus:
    def __init__(self, maxsize: int = 256):
        self._subs: list[queue.Queue[dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._maxsize = maxsize
        self.seq = 0
        #: set when the service stops: long-lived readers (the browser's event streams)
        #: end, so shutdown never waits on an open browser tab (issue 16)
        self.closed = threading.Event()

    def subscribe(self) -> queue.Queue[dict[str, Any]]:
        q: queue.Queue[dict[str, Any]] = queue.Queue(self._maxsize)
        with self._lock:
            self._subs.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[dict[str, Any]]) -> None:
        with self._lock:
            if q in self._subs:
                self._subs.remove(q)

    def close(self) -> None:
        """End every reader: ``closed`` is set and each subscriber gets a ``closing`` event
        (a reader blocked in ``get`` wakes up at once)."""
        self.closed.set()
        self.publish(EventKind.CLOSING)

    # One overload per kind, its payload the kind's TypedDict (PAYLOADS; a test checks
    # they agree): the type check refuses a payload that does not match its kind.
    @overload
    def publish(self, kind: Literal[EventKind.PAGE], **data: Unpack[PageEvent]) -> None: ...
    @overload
    def publish(self, kind: Literal[EventKind.DOCUMENT], **data: Unpack[DocumentEvent]) -> None: ...
    @overload
    def publish(self, kind: Literal[EventKind.SHEET], **data: Unpack[SheetEvent]) -> None: ...
    @overload
    def publish(self, kind: Literal[EventKind.BACKLOG], **data: Unpack[BacklogEvent]) -> None: ...
    @overload
    def publish(self, kind: Literal[EventKind.ERROR], **data: Unpack[ErrorEvent]) -> None: ...
    @overload
    def publish(self, kind: Literal[EventKind.DEVICE], **data: Unpack[DeviceEvent]) -> None: ...
    @overload
    def publish(self, kind: Literal[EventKind.USB], **data: Unpack[UsbEvent]) -> None: ...
    @overload
    def publish(self, kind: Literal[EventKind.EXPORT], **data: Unpack[ExportEvent]) -> None: ...
    @overload
    def publish(self, kind: Literal[EventKind.UPLINK], **data: Unpack[UplinkEvent]) -> None: ...
    @overload
    def publish(
        self, kind: Literal[EventKind.REGISTER_IMPORT], **data: Unpack[RegisterImportEvent]
    ) -> None: ...
    @overload
    def publish(self, kind: Literal[EventKind.UPDATE], **data: Unpack[UpdateEvent]) -> None: ...
    @overload
    def publish(self, kind: Literal[EventKind.CLOSING], **data: Unpack[ClosingEvent]) -> None: ...
    def publish(self, kind: EventKind, **data: Any) -> None:
        """Hand an event to every subscriber. An unknown kind is refused (ValueError): a
        kind the screens do not know would be dropped silently in the browser."""
        kind = EventKind(kind)
        with self._lock:
            self.seq += 1
            event = {"seq": self.seq, "kind": kind.value, "ts": time.time(), **data}
            for q in self._subs:
                while True:
                    try:
                        q.put_nowait(event)
                        break
                    except queue.Full:
                        try:
                            q.get_nowait()
                        except queue.Empty:
                            pass
