"""What the kiosk does when a captured frame is a QR cover sheet or a batch separator.

Called by :meth:`firmware.capture.session.CaptureSession.ingest_frame` for every camera still and scanner page
before the frame becomes a page, so a sheet is never archived:

- **cover sheet**: the document being captured is finished (moved to processing and review,
  as "Hoàn tất" does) or, when it has flagged pages the clerk must look at first, parked
  under unfinished work; a new document starts with the sheet's metadata filled in and
  marked as read from the cover sheet. An empty document (just opened, or opened by a
  separator) takes the metadata itself instead of leaving an empty document behind.
- **separator**: the document being captured is finished (or parked) the same way and an
  empty next document is opened, so continuous scanning goes on without a touch.
- **a QR that is not a usable sheet** (someone else's QR printed on a document, a damaged
  or unknown-version payload): the frame stays an ordinary page; the reason is audited and
  shown on the scan screen.

Order of effects (why): the next document exists and the ``sheet`` event is published
before the previous document is finished, so the scan screen follows the new document
instead of jumping to the review of the old one when its "processing" event arrives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from firmware.capture.outcome import CaptureOutcome
from firmware.classification import set_level
from firmware.config import Settings
from firmware.coversheet.payload import CoverSheet, PayloadError, Sheet
from firmware.coversheet.reader import SheetRead, read_sheet
from firmware.errors import KioskError
from firmware.events import EventKind, SheetEvent
from firmware.store.states import DocState, PageState

if TYPE_CHECKING:  # the document flow imports this module to act on sheets
    from firmware.capture.documents import DocumentFlow
    from firmware.capture.indicators import Indicators

#: Confidence given to a subject the QR carried shortened: high enough to be kept, low
#: enough that the review screen asks the clerk to complete it.
SHORTENED_CONFIDENCE = 0.6
#: Extraction field name (``sohoa extract`` keys) -> metadata model key.
EXTRACTION_KEYS = {
    "type": "doc_type",
    "number": "number",
    "symbol": "symbol",
    "date": "date",
    "issuer": "issuer",
    "subject": "subject",
}


@dataclass
class SheetCheck:
    """Result of checking one frame: ``outcome`` is set when the frame was a sheet."""

    outcome: CaptureOutcome | None
    seconds: float


def check_frame(
    settings: Settings,
    docs: DocumentFlow,
    indicators: Indicators,
    jpeg: bytes,
    actor: str,
    doc_id: str,
    *,
    replaces: str | None = None,
    source: str = "camera",
    read: SheetRead | None = None,
) -> SheetCheck:
    """Look for a sheet in ``jpeg`` and act on it; ``outcome=None`` means "a page".

    ``read``: the QR search already done on ``jpeg`` (:mod:`firmware.capture.frame_prep` runs it
    beside the preview); without it the frame is searched here.
    """
    if not settings.metadata.cover_sheets:
        return SheetCheck(None, 0.0)
    if read is None:
        read = read_sheet(jpeg, types=settings.metadata.document_types)
    seconds = read.found.seconds
    if is_enrollment_code(read.found.text):
        return SheetCheck(
            enroll_by_camera(settings, docs, read.found.text or "", actor, doc_id), seconds
        )
    if read.error is not None:
        _report_unusable(docs, read.error, actor, doc_id, jpeg, read.found.text or "")
        return SheetCheck(None, seconds)
    if read.sheet is None:
        return SheetCheck(None, seconds)
    frame_sha256 = hashlib.sha256(jpeg).hexdigest()
    if replaces is not None and docs.catalog.get_page(replaces)["state"] == PageState.REJECTED:
        # A flagged frame retaken as a sheet: it was the sheet, shot too blurred to read
        # (never a page of the document). It goes; the sheet does what it says.
        docs.catalog.transition_page(
            replaces, PageState.DELETED, actor, reason="retaken: it was a cover sheet"
        )
        docs.events.publish(EventKind.PAGE, page_id=replaces, doc_id=doc_id, state="deleted")
        replaces = None
    if replaces is not None:
        docs.catalog.audit(
            actor,
            "coversheet.on_retake",
            doc_id,
            replaces,
            sheet=read.sheet.kind,
            frame_sha256=frame_sha256,
        )
        raise KioskError(
            "sheet_on_retake",
            "A cover sheet or separator was captured in place of a page; the page was not "
            "replaced. Lay the page itself under the camera and retake it.",
            "Máy chụp phải tờ bìa hoặc tờ tách lô thay cho trang cần chụp lại; trang cũ vẫn "
            "được giữ. Hãy đặt đúng trang tài liệu rồi chụp lại.",
        )
    outcome = apply_sheet(
        docs,
        indicators,
        read.sheet,
        actor,
        doc_id,
        source=source,
        frame_sha256=frame_sha256,
        payload=read.found.text or "",
        seconds=seconds,
    )
    return SheetCheck(outcome, seconds)


def is_enrollment_code(text: str | None) -> bool:
    from provisioning.schemas import ENROLL_URI_SCHEME

    return text is not None and text.strip().lower().startswith(ENROLL_URI_SCHEME + ":")


def enroll_by_camera(
    settings: Settings, docs: DocumentFlow, text: str, actor: str, doc_id: str
) -> CaptureOutcome:
    """The hub's enrollment QR (sent by provincial IT) shown to the camera: the kiosk
    enrolls with the real client (CA pinned by the code) and the frame is no page. A kiosk
    already enrolled says so and changes nothing; a refused code raises with the reason."""
    from firmware.uplink.identity import enroll, load_identity
    from firmware.uplink.qr import parse_enroll_uri

    ident = load_identity(docs.paths)
    if ident is not None:
        info: dict[str, Any] = {
            "kind": "enrollment",
            "doc_id": doc_id,
            "already": True,
            "hub": ident.hub_url,
        }
        docs.catalog.audit(actor, "enroll.qr_ignored", doc_id, reason="already enrolled")
    else:
        try:
            ident = enroll(
                docs.paths,
                settings.kiosk_id,
                parse_enroll_uri(text),
                catalog=docs.catalog,
                actor=actor,
            )
        except KioskError as exc:
            docs.catalog.audit(actor, "enroll.refused", doc_id, code=exc.code, error=str(exc))
            docs.events.publish(EventKind.SHEET, sheet="invalid", doc_id=doc_id, **exc.to_dict())
            raise
        info = {"kind": "enrollment", "doc_id": doc_id, "already": False, "hub": ident.hub_url}
    docs.events.publish(
        EventKind.SHEET,
        doc_id=info["doc_id"],
        already=info["already"],
        hub=info["hub"],
        sheet="enrolled",
    )
    return CaptureOutcome(None, {}, None, {}, sheet=info)


def _report_unusable(
    docs: DocumentFlow, err: PayloadError, actor: str, doc_id: str, jpeg: bytes, text: str
) -> None:
    docs.catalog.audit(
        actor,
        "coversheet.invalid",
        doc_id,
        None,
        code=err.code,
        error=err.message_en,
        qr_text=text[:300],
        frame_sha256=hashlib.sha256(jpeg).hexdigest(),
    )
    docs.events.publish(EventKind.SHEET, sheet="invalid", doc_id=doc_id, **err.to_dict())


def apply_sheet(
    docs: DocumentFlow,
    indicators: Indicators,
    sheet: Sheet,
    actor: str,
    doc_id: str,
    *,
    source: str = "camera",
    frame_sha256: str = "",
    payload: str = "",
    seconds: float = 0.0,
) -> CaptureOutcome:
    """Close the document ``doc_id`` as the sheet asks and make the next one current."""
    cat = docs.catalog
    doc = cat.get_document(doc_id)
    live = cat.pages(doc_id)
    capturing = doc["state"] in (DocState.OPEN, DocState.CAPTURING)
    reuse = capturing and not live
    closing = None if reuse else doc_id
    if closing is None:
        close_as = None
    elif not capturing:
        close_as = "left"  # already finished (processing, review, failed): nothing to do
    elif any(p["state"] == PageState.REJECTED for p in live):
        close_as = "parked"  # flagged pages need the clerk: set aside, never discarded
    else:
        close_as = "finished"
    target = doc_id if reuse else docs.new_document(actor, source=source)["id"]
    info: dict[str, Any] = {
        "kind": "cover" if isinstance(sheet, CoverSheet) else "separator",
        "doc_id": target,
        "closed": closing,
        "closed_as": close_as,
        "summary_vi": sheet.summary("vi"),
        "summary_en": sheet.summary("en"),
    }
    if isinstance(sheet, CoverSheet):
        meta = sheet.document_metadata()
        with cat.transaction():
            cat.update_document(
                target, actor, "document.coversheet", metadata=meta, title=sheet.subject
            )
            # the level the sheet carries, stored once (the sheet may only raise it)
            set_level(cat, target, sheet.confidentiality, actor, source="coversheet", evidence=True)
        info["metadata"] = meta
        info["confidentiality"] = sheet.confidentiality
    docs.current_doc_id = target
    # The event names the sheet kind "sheet" ("kind" is the event's own kind).
    event: SheetEvent = {
        "doc_id": target,
        "closed": closing,
        "closed_as": close_as,
        "summary_vi": info["summary_vi"],
        "summary_en": info["summary_en"],
        "sheet": info["kind"],
    }
    if isinstance(sheet, CoverSheet):
        event["metadata"] = info["metadata"]
        event["confidentiality"] = info["confidentiality"]
    docs.events.publish(EventKind.SHEET, **event)
    if close_as == "finished" and closing is not None:
        try:
            docs.finish(closing, actor)
        except KioskError as exc:  # cannot finish now: keep it for the clerk instead
            close_as = info["closed_as"] = "parked"
            info["close_error"] = exc.code
    if close_as == "parked" and closing is not None:
        cat.audit(actor, "document.parked", closing, reason=f"{info['kind']} sheet")
        docs.events.publish(EventKind.DOCUMENT, doc_id=closing, state="parked")
    cat.audit(
        actor,
        "coversheet.read" if info["kind"] == "cover" else "separator.read",
        target,
        None,
        payload=payload,
        frame_sha256=frame_sha256,
        closed=closing,
        closed_as=close_as,
        seconds=round(seconds, 4),
    )
    indicators.beep("ok")
    indicators.show("ready")
    return CaptureOutcome(None, {}, None, {"sheet": seconds}, sheet=info)


def confirmed_fields(result: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    """Overlay a document's cover-sheet values on the fields extracted from page 1.

    ``result`` is :meth:`firmware.metadata.page_one.PageOneReader.extract`'s answer; fields read from
    the cover sheet win over OCR, at confidence 1 (the sheet was printed from the register),
    except a subject the QR carried shortened, which the clerk is asked to complete.
    """
    sources = metadata.get("field_sources") or {}
    shortened = bool((metadata.get("coversheet") or {}).get("subject_shortened"))
    fields = dict(result.get("fields") or {})
    merged = dict(result.get("metadata") or {})
    low = list(result.get("low_confidence") or [])
    for name, key in EXTRACTION_KEYS.items():
        if sources.get(key) != "coversheet" or metadata.get(key) in (None, ""):
            continue
        conf = SHORTENED_CONFIDENCE if key == "subject" and shortened else 1.0
        fields[name] = {"value": metadata[key], "confidence": conf, "source": "coversheet"}
        merged[key] = metadata[key]
        if conf == 1.0 and name in low:
            low.remove(name)
        elif conf < 1.0 and name not in low:
            low.append(name)
    return {**result, "fields": fields, "metadata": merged, "low_confidence": low}
