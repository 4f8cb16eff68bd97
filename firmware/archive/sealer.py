"""The sealer: a reviewed document becomes its archival PDF/A, signed, with its sidecar,
and is routed by its level.

Order (why a crash loses nothing): the metadata is checked first (a clerk's mistake sends
the document back to review before any file is written or a record-file sequence number
is taken), then the PDF is written and signed in place, then the JSON sidecar beside it,
then the catalog row moves to ``sealed`` with the file's hash. A document a crash caught in
``sealing`` is sealed again by :mod:`firmware.capture.recovery`
(:meth:`Sealer.write_sealed`). Ordinary documents then enter the uplink outbox;
confidential ones stay sealed for the secure USB export.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.capture.indicators import Indicators
from firmware.classification import set_level
from firmware.config import Settings
from firmware.errors import KioskError, disk_error
from firmware.events import EventBus, EventKind
from firmware.metadata.glue import catalog_metadata, prepare_archival, sidecar_fields, xmp_archival
from firmware.metadata.model import ArchivalMetadata, MetadataError
from firmware.ocr.engine import OcrResult
from firmware.register.hooks import after_seal, register_level
from firmware.routing import Level, check_may_digitize, parse_level
from firmware.store.catalog import Catalog
from firmware.store.crashpoints import crashpoint
from firmware.store.paths import DataPaths
from firmware.store.states import DocState, is_editable
from firmware.uplink.outbox import route_sealed
from sohoa_common.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from firmware.uplink.worker import UplinkWorker


def default_title(doc: dict[str, Any]) -> str:
    """The title of a document the clerk gave none: when it was digitized."""
    created = datetime.fromisoformat(doc["created_at"])
    return f"Tài liệu số hóa {created:%d/%m/%Y %H:%M}"


def sealed_sidecar(
    doc: dict[str, Any],
    pages: list[dict[str, Any]],
    *,
    title: str,
    kiosk_id: str,
    page_count: int,
    sha256: str,
    content_sha256: str,
    metadata: dict[str, Any],
    archival: ArchivalMetadata,
    signature: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON written beside the sealed PDF: what the kiosk knows of the document that
    the PDF does not say (each page's frame hash and paper, the signature used), so the
    archive can check every page against the frame it was made from."""
    return {
        "id": doc["id"],
        "title": title,
        "kiosk_id": kiosk_id,
        "created": doc["created_at"],
        "sealed": datetime.now(UTC).isoformat(timespec="seconds"),
        "page_count": page_count,
        "sha256": sha256,
        "content_sha256": content_sha256,
        "metadata": metadata,
        **sidecar_fields(archival),
        "signature": signature,
        "pages": [
            {
                "seq": p["seq"],
                "id": p["id"],
                "frame_sha256": p["frame_sha256"],
                "paper": p["paper"],
            }
            for p in pages
        ],
    }


class Sealer:
    """Seals reviewed documents, seals them again after a level change, routes them."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        paths: DataPaths,
        events: EventBus,
        indicators: Indicators,
    ):
        self.settings = settings
        self.catalog = catalog
        self.paths = paths
        self.events = events
        self.indicators = indicators
        #: The uplink worker, woken when a document enters the outbox (set by the service).
        self.uplink: UplinkWorker | None = None

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
        """Write the archival PDF/A, record its hash; a crash mid-way is redone at start.

        ``level`` (the clerk's choice, a cover sheet's, ``sohoa scan --level``) is stored
        by :func:`firmware.classification.set_level` in the same transaction as the move
        to ``sealing``, before anything routes the document. A document declared Tuyệt mật
        is refused (and stays so until an archivist lowers the level).
        """
        if metadata is not None and "confidentiality" in metadata:
            # a caller's metadata naming a level: it is stored as the level, never as metadata
            metadata = dict(metadata)
            said = metadata.pop("confidentiality")
            if level is not None and parse_level(level) != parse_level(said):
                raise ValueError(f"two levels given: {level!r} and metadata {said!r}")
            level = said
        doc = self.catalog.get_document(doc_id)
        refused: Exception | None = None
        if (
            level is not None
            and is_editable(doc["state"])
            and parse_level(level) == Level.TUYET_MAT
        ):
            # declared top secret while pages are still processing: the declaration sticks
            with self.catalog.transaction():
                set_level(self.catalog, doc_id, level, actor, source=source)
                self.catalog.audit(actor, "document.top_secret_refused", doc_id, None)
            check_may_digitize(level)
        if doc["state"] == DocState.REVIEW:
            fields: dict[str, Any] = {}
            if title is not None:
                fields["title"] = title
            if metadata is not None:
                fields["metadata"] = {**doc["metadata"], **metadata}
            with self.catalog.transaction():
                if level is not None:
                    set_level(self.catalog, doc_id, level, actor, source=source)
                # a register entry marked Mật (chosen, or the one exact match) raises it
                entry_level = register_level(self.catalog, {**doc, **fields})
                if entry_level is not None:
                    set_level(
                        self.catalog, doc_id, entry_level, actor, source="register", evidence=True
                    )
                stored = self.catalog.get_document(doc_id)["confidentiality"]
                try:
                    check_may_digitize(stored)
                except KioskError as exc:
                    refused = exc
                    self.catalog.audit(actor, "document.top_secret_refused", doc_id, None)
                else:
                    doc = self.catalog.transition_document(
                        doc_id, DocState.SEALING, actor, **fields
                    )
        elif doc["state"] == DocState.SEALING:
            if doc["confidentiality"] == Level.TUYET_MAT:
                check_may_digitize(doc["confidentiality"])
        else:
            raise KioskError(
                "not_ready",
                f"Document {doc_id} is {doc['state']}; it can be saved once every page "
                "is processed.",
                "Tài liệu chưa xử lý xong, hãy đợi rồi lưu lại.",
            )
        if refused is not None:
            raise refused
        return self.write_sealed(doc, actor)

    def reclassify(
        self, doc_id: str, level: str, actor: str, *, reason: str = ""
    ) -> dict[str, Any]:
        """An archivist changes the level of a document (before or after sealing).

        The rules and the outbox move are :func:`firmware.classification.set_level`'s. A
        document still on this kiosk as a sealed file is sealed again, so the XMP inside
        says the new level (the uplink and the hub read it), then routed by it: Thường ->
        Mật leaves the upload queue, Mật -> Thường enters it. Returns the document and
        what happened (``pulled_from_outbox``, ``delivered_incident``: already delivered).
        """
        change = set_level(self.catalog, doc_id, level, actor, source="reclassify", reason=reason)
        doc = self.catalog.get_document(doc_id)
        if change.changed and doc["state"] == DocState.SEALED:
            # the access mode was derived from the old level: derive it again
            meta = {k: v for k, v in (doc["metadata"] or {}).items() if k != "access_mode"}
            doc = self.catalog.transition_document(
                doc_id,
                DocState.SEALING,
                actor,
                reason=f"sealed again as {change.after.value}",
                metadata=meta,
            )
            doc = self.write_sealed(doc, actor)
        self.events.publish(EventKind.DOCUMENT, doc_id=doc_id, state=doc["state"])
        return {"document": doc, "change": change.to_dict()}

    def write_sealed(self, doc: dict[str, Any], actor: str) -> dict[str, Any]:
        """Seal a document that is in ``sealing`` (from :meth:`seal`, or again after a
        crash or a level change): PDF/A, signature, sidecar, row, then the route. A failure
        leaves the document ``review`` (metadata) or ``failed`` (file), never half sealed."""
        # pikepdf, Pillow and pyHanko are loaded at the first seal, not at every start
        from firmware.archive.seal import DocumentInfo, SealError, SealPage, seal_pdf
        from firmware.archive.signing import SigningError, sign_with_config

        doc_id = doc["id"]
        pages = self.catalog.pages(doc_id)
        meta = doc["metadata"] or {}
        # Metadata first: a clerk's mistake sends the document back to review before any
        # file is written (and before a sequence number in the record file is taken).
        try:
            archival = prepare_archival(
                self.catalog,
                doc,
                actor,
                page_count=len(pages),
                types=self.settings.metadata.document_types,
                party_codes_file=self.settings.metadata.party_codes_file,
            )
        except MetadataError as exc:
            self.catalog.transition_document(
                doc_id,
                DocState.REVIEW,
                actor,
                reason="metadata_invalid",
                error_code="metadata_invalid",
                error_message=exc.message_en,
            )
            err = KioskError("metadata_invalid", exc.message_en, exc.message_vi, status=422)
            self.indicators.report(err)
            raise err from exc
        seal_pages = []
        for p in pages:
            ocr = json.loads(Path(p["ocr_path"]).read_text(encoding="utf-8"))
            words = OcrResult.from_dict(ocr).words
            image = Path(p["image_path"])
            seal_pages.append(
                SealPage(image=image, dpi=ocr["dpi"], words=words, encoded=image.read_bytes())
            )
        title = doc["title"] or default_title(doc)
        created = datetime.fromisoformat(doc["created_at"])
        info = DocumentInfo(
            doc_id=doc_id,
            title=title,
            created=created if created.tzinfo else created.replace(tzinfo=UTC),
            kiosk_id=self.settings.kiosk_id,
            language="vi",
            subject=archival.subject,
            keywords=list(archival.keywords),
            archival=xmp_archival(archival, meta),
        )
        out = self.paths.sealed_pdf(doc_id)
        signature: dict[str, Any] | None = None
        try:
            crashpoint("seal.write")
            result = seal_pdf(
                seal_pages,
                info,
                out,
                image_dpi=self.settings.seal.image_dpi,
                jpeg_quality=self.settings.seal.jpeg_quality,
            )
            crashpoint("seal.after_write")
            # PAdES as an incremental update of the sealed file, replacing it atomically:
            # the signed file is the one hashed, recorded and sent.
            signed = sign_with_config(out, out, self.settings.signing)
            if signed is not None:
                result = replace(result, sha256=signed.sha256, size=signed.size)
                signature = {
                    "backend": signed.backend,
                    "field": signed.field_name,
                    "signer": signed.signer,
                    "format": "PAdES B-B (ETSI.CAdES.detached)",
                }
            sidecar = sealed_sidecar(
                doc,
                pages,
                title=title,
                kiosk_id=self.settings.kiosk_id,
                page_count=result.page_count,
                sha256=result.sha256,
                content_sha256=result.content_sha256,
                metadata=meta,
                archival=archival,
                signature=signature,
            )
            atomic_write_bytes(
                self.paths.sealed_sidecar(doc_id),
                json.dumps(sidecar, ensure_ascii=False, indent=2).encode(),
            )
        except (SealError, SigningError, OSError, ValueError) as exc:
            if isinstance(exc, OSError):
                err = disk_error(exc, "document")
            elif isinstance(exc, SigningError):
                err = KioskError(exc.code, exc.message_en, exc.message_vi, status=503)
            else:
                err = KioskError(
                    "seal_failed",
                    f"Sealing failed: {exc}",
                    "Không tạo được tệp PDF lưu trữ; hãy thử lưu lại.",
                    status=500,
                )
            self.catalog.transition_document(
                doc_id,
                DocState.FAILED,
                actor,
                error_code=err.code,
                error_message=err.message_en,
            )
            self.indicators.report(err)
            raise err from exc
        doc = self.catalog.transition_document(
            doc_id,
            DocState.SEALED,
            actor,
            sha256=result.sha256,
            content_sha256=result.content_sha256,
            pdf_path=str(result.path),
            pdf_size=result.size,
            title=title,
            metadata=catalog_metadata(archival, meta),
        )
        self.events.publish(EventKind.DOCUMENT, doc_id=doc_id, state="sealed", sha256=result.sha256)
        after_seal(self.catalog, self.settings, doc, actor)  # register link, selection audit
        return self.route_sealed(doc, actor)

    def route_sealed(self, doc: dict[str, Any], actor: str) -> dict[str, Any]:
        """Ordinary documents enter the uplink outbox (sealed -> queued, one transaction
        with the outbox row and audit); confidential ones stay sealed for secure USB."""
        crashpoint("seal.before_route")
        doc = route_sealed(self.catalog, doc, actor)
        if doc["state"] == DocState.QUEUED:
            self.events.publish(EventKind.DOCUMENT, doc_id=doc["id"], state="queued")
            if self.uplink is not None:
                self.uplink.wake()
        return doc
