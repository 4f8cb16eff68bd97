"""The kiosk core: one :class:`Kiosk` per service process, composing the stages.

It owns the catalog (the only writer), the devices and the worker pool, and wires the
parts that each do one job:

- :class:`~firmware.capture.indicators.Indicators`: LEDs, buzzer, the last error shown;
- :class:`~firmware.ocr.pool.OcrPool`: full-resolution processing and OCR beside capture;
- :class:`~firmware.capture.documents.DocumentFlow`: the document being captured, finishing,
  parking, discarding, page edits, the move to review;
- :class:`~firmware.capture.session.CaptureSession`: camera stills (the one exposed at
  pedal-down too) and scanner pages into the catalog, with preview and quality verdict;
- :class:`~firmware.archive.sealer.Sealer`: the archival PDF/A, its sidecar, the route;
- :class:`~firmware.metadata.page_one.PageOneReader`: metadata read from page 1.

Callers (the UI, the command line, the service) talk to the facade; start-up recovery
(:mod:`firmware.capture.recovery`) calls the parts' public methods.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.archive.sealer import Sealer
from firmware.capture.documents import DocumentFlow
from firmware.capture.frame_prep import PreparedFrame
from firmware.capture.indicators import Indicators
from firmware.capture.outcome import CaptureOutcome
from firmware.capture.pedal_still import EarlyFrame
from firmware.capture.recovery import recover as run_recovery
from firmware.capture.session import CaptureSession
from firmware.config import Settings
from firmware.errors import KioskError
from firmware.events import EventBus
from firmware.metadata.page_one import PageOneReader
from firmware.ocr.engine import OcrError
from firmware.ocr.pool import OcrPool
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.uplink.status import uplink_status

if TYPE_CHECKING:  # the drivers import their hardware libraries (gpiozero) when loaded
    from drivers.camera.base import Camera, Frame
    from drivers.leds import Leds
    from drivers.pedal import Pedal
    from drivers.scanner.base import Scanner
    from firmware.uplink.worker import UplinkWorker

__all__ = ["CaptureOutcome", "Kiosk"]


class Kiosk:
    """The capture/processing/sealing service core (no web framework in here)."""

    def __init__(
        self,
        settings: Settings,
        *,
        camera: Camera | None = None,
        pedal: Pedal | None = None,
        leds: Leds | None = None,
        scanner: Scanner | None = None,
        workers: int | None = None,
    ):
        self._settings = settings
        self.paths = DataPaths(Path(settings.data_dir)).ensure()
        self.catalog = Catalog(self.paths.catalog)
        self.events = EventBus()
        self.pedal = pedal
        self.indicators = Indicators(leds, self.events)
        self.ocr = OcrPool(
            settings,
            self.paths,
            self.catalog,
            self.events,
            workers=workers or settings.ocr.workers,
        )
        self.metadata_reader = PageOneReader(self.catalog, settings)
        self.documents = DocumentFlow(
            self.catalog, self.paths, self.events, self.ocr, self.metadata_reader
        )
        self.ocr.on_settled = self.documents.check_done
        self.session = CaptureSession(
            settings,
            self.catalog,
            self.paths,
            self.events,
            indicators=self.indicators,
            documents=self.documents,
            ocr=self.ocr,
            camera=camera,
            scanner=scanner,
        )
        self.sealer = Sealer(settings, self.catalog, self.paths, self.events, self.indicators)

    # -- what the parts share -------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        """New settings (the fleet's signed configuration) reach every part at once."""
        self._settings = settings
        for part in (self.ocr, self.metadata_reader, self.session, self.sealer):
            part.settings = settings

    @property
    def camera(self) -> Camera | None:
        return self.session.camera

    @camera.setter
    def camera(self, camera: Camera | None) -> None:
        self.session.camera = camera

    @property
    def scanner(self) -> Scanner | None:
        return self.session.scanner

    @scanner.setter
    def scanner(self, scanner: Scanner | None) -> None:
        self.session.scanner = scanner

    @property
    def capture_source(self) -> str:
        return self.session.capture_source

    @capture_source.setter
    def capture_source(self, source: str) -> None:
        self.session.capture_source = source

    @property
    def leds(self) -> Leds | None:
        return self.indicators.leds

    @property
    def current_doc_id(self) -> str | None:
        return self.documents.current_doc_id

    @current_doc_id.setter
    def current_doc_id(self, doc_id: str | None) -> None:
        self.documents.current_doc_id = doc_id

    @property
    def uplink(self) -> UplinkWorker | None:
        return self.sealer.uplink

    @uplink.setter
    def uplink(self, worker: UplinkWorker | None) -> None:
        self.sealer.uplink = worker

    @property
    def tessdata(self) -> str | None:
        return self.ocr.tessdata

    @property
    def ocr_error(self) -> OcrError | None:
        return self.ocr.ocr_error

    @property
    def last_error(self) -> KioskError | None:
        return self.indicators.last_error

    # -- life cycle ---------------------------------------------------------------------
    def start(self, *, recover: bool = True) -> Kiosk:
        self.ocr.locate_language_data()
        self.session.open_camera()
        if self.pedal is not None:
            self.pedal.set_handler(self.session.on_pedal)
        if recover:
            run_recovery(self)
        self.indicators.show("ready")
        return self

    def warm_up(self) -> None:
        """Start the OCR worker and the preview path now rather than at the first capture
        (the service calls this once it is up; see the parts' ``warm_up``)."""
        self.ocr.warm_up()
        self.session.warm_up()

    def stop(self) -> None:
        self.session.close()
        self.ocr.shutdown()
        for dev in (self.camera, self.pedal, self.leds):
            if dev is not None:
                with contextlib.suppress(Exception):
                    dev.close()
        self.catalog.close()

    def __enter__(self) -> Kiosk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- capture (CaptureSession) ---------------------------------------------------------
    def handle_pedal(self, event: Any, actor: str) -> None:
        self.session.handle_pedal(event, actor)

    def pedal_down(self) -> None:
        self.session.pedal_down()

    def hold_for_update(self, switching: bool) -> None:
        self.session.hold_for_update(switching)

    def capture(
        self,
        actor: str,
        doc_id: str | None = None,
        replaces: str | None = None,
        *,
        early: EarlyFrame | None = None,
    ) -> CaptureOutcome:
        return self.session.capture(actor, doc_id, replaces, early=early)

    def ingest_frame(
        self,
        frame: Frame | bytes,
        actor: str,
        doc_id: str,
        *,
        replaces: str | None = None,
        prepared: PreparedFrame | None = None,
    ) -> CaptureOutcome:
        return self.session.ingest_frame(frame, actor, doc_id, replaces=replaces, prepared=prepared)

    def scan_batch(self, actor: str, doc_id: str | None = None) -> list[CaptureOutcome]:
        return self.session.scan_batch(actor, doc_id)

    def retake(self, page_id: str, actor: str) -> CaptureOutcome:
        return self.session.retake(page_id, actor)

    def sources(self) -> list[str]:
        return self.session.sources()

    def set_capture_source(self, source: str, actor: str) -> str:
        return self.session.set_capture_source(source, actor)

    @property
    def capturing(self) -> bool:
        return self.session.capturing

    # -- OCR (OcrPool) --------------------------------------------------------------------
    def backlog(self) -> int:
        return self.ocr.backlog()

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self.ocr.wait_idle(timeout)

    def enqueue(self, page_id: str, actor: str = "system") -> None:
        self.ocr.enqueue(page_id, actor)

    # -- documents and page edits (DocumentFlow) ------------------------------------------
    def new_document(self, actor: str, **kw: Any) -> dict[str, Any]:
        return self.documents.new_document(actor, **kw)

    def editable(self, doc_id: str) -> dict[str, Any]:
        return self.documents.editable(doc_id)

    def accept_page(self, page_id: str, actor: str) -> dict[str, Any]:
        return self.documents.accept_page(page_id, actor)

    def delete_page(self, page_id: str, actor: str) -> None:
        self.documents.delete_page(page_id, actor)

    def rotate_page(self, page_id: str, quarter_turns: int, actor: str) -> dict[str, Any]:
        return self.documents.rotate_page(page_id, quarter_turns, actor)

    def finish(self, doc_id: str, actor: str) -> dict[str, Any]:
        return self.documents.finish(doc_id, actor)

    def park(self, actor: str, reason: str) -> str | None:
        return self.documents.park(actor, reason)

    def resume(self, doc_id: str, actor: str) -> dict[str, Any]:
        return self.documents.resume(doc_id, actor)

    def discard(self, doc_id: str, actor: str, *, reason: str = "") -> dict[str, Any]:
        return self.documents.discard(doc_id, actor, reason=reason)

    # -- sealing (Sealer) -----------------------------------------------------------------
    def seal(
        self,
        doc_id: str,
        actor: str,
        *,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        level: str | None = None,
        source: str = "review",
    ) -> dict[str, Any]:
        return self.sealer.seal(
            doc_id, actor, title=title, metadata=metadata, level=level, source=source
        )

    def reclassify(
        self, doc_id: str, level: str, actor: str, *, reason: str = ""
    ) -> dict[str, Any]:
        return self.sealer.reclassify(doc_id, level, actor, reason=reason)

    # -- metadata (PageOneReader) ---------------------------------------------------------
    def review_form(self, doc_id: str) -> dict[str, Any]:
        return self.metadata_reader.review_form(doc_id)

    def known_issuers(self) -> list[str]:
        return self.metadata_reader.known_issuers()

    def extract_metadata(self, doc_id: str) -> dict[str, Any]:
        return self.metadata_reader.extract(doc_id)

    # -- status ---------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The status bar and ``/api/v1/status``: devices, OCR backlog, the document being
        captured, the last error, the audit head and the upload queue."""
        cam = self.camera
        last_error = self.last_error
        return {
            "kiosk_id": self.settings.kiosk_id,
            "camera": {
                "backend": self.settings.camera.backend,
                "available": bool(cam is not None and getattr(cam, "available", True)),
            },
            "pedal": {
                "backend": self.settings.pedal.backend,
                "available": bool(
                    self.pedal is not None and getattr(self.pedal, "available", True)
                ),
            },
            "scanner": {"available": self.scanner is not None},
            "capture_source": self.capture_source,
            "ocr": {"available": self.tessdata is not None, "backlog": self.backlog()},
            "current_document": self.current_doc_id,
            "last_error": last_error.to_dict() if last_error else None,
            "audit_head": self.catalog.audit_head()[1],
            "uplink": self.uplink_status(),
        }

    def uplink_status(self) -> dict[str, Any]:
        """Upload queue for the status bar: n waiting, last success, last error in words."""
        return uplink_status(self.catalog, self.paths, self.settings.uplink, self.uplink)
