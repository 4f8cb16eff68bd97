"""Documents: list, parked work, open, resume, finish, page order, seal, review form,
classification, discard, and the sealed PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from firmware.errors import KioskError
from firmware.store import states
from firmware.store.catalog import NotFound
from kiosk_ui.deps import Actor, UiDep, Viewer, run
from kiosk_ui.schemas.documents import (
    Discarded,
    DocumentDetail,
    DocumentView,
    PageView,
    ParkedDocument,
    Reclassified,
    ReviewForm,
    Sealed,
)
from kiosk_ui.views import (
    check_doc_type,
    destination,
    doc_view,
    page_view,
    parked_documents,
    parse_date,
    visible_document,
    visible_documents,
)

router = APIRouter(prefix="/api/v1", tags=["documents"])

#: The OpenAPI description of the sealed PDF's route.
PDF = {"content": {"application/pdf": {}}, "description": "the sealed PDF/A"}


class OrderRequest(BaseModel):
    order: list[Annotated[str, Field(max_length=64)]] = Field(..., max_length=2000)


class SealRequest(BaseModel):
    title: str = Field("", max_length=500, description="Title or subject summary.")
    doc_type: str | None = Field(None, max_length=8, description="Type code, e.g. CV, NQ, QĐ.")
    number: str = Field("", max_length=60, description="Number and symbol, e.g. 64-CV/TW.")
    date: str = Field("", max_length=10, description="Date of the document, dd/mm/yyyy.")
    issuer: str = Field("", max_length=500, description="Issuing body (cơ quan ban hành).")
    confidentiality: Literal["thuong", "mat", "toi_mat", "tuyet_mat"] | None = Field(
        None, description="Độ mật; omitted: the level the document already has."
    )


class ClassifyRequest(BaseModel):
    confidentiality: Literal["thuong", "mat", "toi_mat", "tuyet_mat"]
    reason: str = Field("", max_length=500, description="Why (required to lower a level).")


class DiscardRequest(BaseModel):
    reason: str = Field("", max_length=500)


@router.get("/documents", response_model=list[DocumentView])
async def documents(
    request: Request,
    s: Viewer,
    ui: UiDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    state: Annotated[str | None, Query(max_length=20)] = None,
) -> Any:
    tr = ui.tr(request, s)
    docs = visible_documents(ui, s, [state] if state else None, limit=limit)
    return [doc_view(d, tr) for d in docs]


@router.get("/documents/parked", response_model=list[ParkedDocument])
async def parked(request: Request, s: Viewer, ui: UiDep) -> Any:
    return parked_documents(ui, ui.tr(request, s), s)


@router.post("/documents", response_model=DocumentView)
async def new_document(request: Request, s: Actor, ui: UiDep) -> Any:
    doc = await run(ui.kiosk.new_document, s.operator.code)
    return doc_view(doc, ui.tr(request, s))


@router.get("/documents/{doc_id}", response_model=DocumentDetail)
async def document(doc_id: str, request: Request, s: Viewer, ui: UiDep) -> Any:
    tr = ui.tr(request, s)
    doc = visible_document(ui, s, doc_id)
    out = doc_view(doc, tr)
    out["pages"] = [page_view(p, tr) for p in ui.kiosk.catalog.pages(doc_id)]
    out["current"] = ui.kiosk.current_doc_id == doc_id
    return out


@router.post("/documents/{doc_id}/resume", response_model=DocumentView)
async def resume(doc_id: str, request: Request, s: Actor, ui: UiDep) -> Any:
    """Make a parked document the one being captured (to add or retake pages)."""
    visible_document(ui, s, doc_id)
    doc = await run(ui.kiosk.resume, doc_id, s.operator.code)
    return doc_view(doc, ui.tr(request, s))


@router.post("/documents/{doc_id}/finish", response_model=DocumentView)
async def finish(doc_id: str, request: Request, s: Actor, ui: UiDep) -> Any:
    visible_document(ui, s, doc_id)
    doc = await run(ui.kiosk.finish, doc_id, s.operator.code)
    return doc_view(doc, ui.tr(request, s))


@router.put("/documents/{doc_id}/order", response_model=list[PageView])
async def reorder(doc_id: str, body: OrderRequest, request: Request, s: Actor, ui: UiDep) -> Any:
    visible_document(ui, s, doc_id)
    await run(ui.kiosk.editable, doc_id)
    try:
        ui.kiosk.catalog.reorder_pages(doc_id, body.order, s.operator.code)
    except ValueError:
        raise KioskError(
            "bad_order",
            "The new order must name every page of the document once.",
            "Thứ tự mới phải gồm đúng mỗi trang một lần.",
            status=422,
        ) from None
    tr = ui.tr(request, s)
    return [page_view(p, tr) for p in ui.kiosk.catalog.pages(doc_id)]


@router.post("/documents/{doc_id}/seal", response_model=Sealed)
async def seal(doc_id: str, body: SealRequest, request: Request, s: Actor, ui: UiDep) -> Any:
    """Seal with the clerk's metadata; the level is stored (firmware.classification)
    in the same transaction as the move to ``sealing``, before anything routes."""
    doc = visible_document(ui, s, doc_id)
    metadata: dict[str, Any] = {}
    doc_type = check_doc_type(ui, body.doc_type)
    if doc_type:
        metadata["doc_type"] = doc_type
    if body.number.strip():
        metadata["number"] = body.number.strip()
        if not metadata["number"].isdigit():
            # The field holds number and symbol: it replaces a symbol stored apart
            # (e.g. from a cover sheet), which would otherwise contradict a correction.
            metadata["symbol"] = ""
    iso = parse_date(body.date)
    if iso:
        metadata["date"] = iso
    if body.issuer.strip():
        metadata["issuer"] = " ".join(body.issuer.split())
    title = body.title.strip() or None
    if title:
        metadata["subject"] = title
    doc = await run(
        ui.kiosk.seal,
        doc_id,
        s.operator.code,
        title=title,
        metadata=metadata,
        level=body.confidentiality,
    )
    tr = ui.tr(request, s)
    return {"document": doc_view(doc, tr), "destination": destination(doc, tr)}


@router.get("/documents/{doc_id}/form", response_model=ReviewForm)
async def review_form(doc_id: str, s: Viewer, ui: UiDep) -> Any:
    """The review form pre-filled: per field its value, source (clerk, coversheet,
    register, ocr), confidence and whether the clerk should check it; the register
    entry that filled it and the candidates to offer."""
    visible_document(ui, s, doc_id)
    return await run(ui.kiosk.review_form, doc_id)


@router.post(
    "/documents/{doc_id}/classification",
    response_model=Reclassified,
    response_model_exclude_unset=True,  # destination and incident only when they apply
)
async def classify(
    doc_id: str, body: ClassifyRequest, request: Request, s: Actor, ui: UiDep
) -> Any:
    """An archivist changes the level (after sealing, or lowers it at any time, with a
    reason). Thường -> Mật takes the document out of the upload queue; if the hub
    already holds it, the answer (and the audit log) says so as an incident."""
    visible_document(ui, s, doc_id)
    out = await run(
        ui.kiosk.reclassify, doc_id, body.confidentiality, s.operator.code, reason=body.reason
    )
    tr = ui.tr(request, s)
    doc = out["document"]
    change = out["change"]
    answer: dict[str, Any] = {
        "document": doc_view(doc, tr),
        "change": change,
        "message": tr._("The confidentiality level was changed."),
    }
    if doc.get("pdf_path") and doc["state"] in states.DOC_DIGITIZED:
        answer["destination"] = destination(doc, tr)
    if change["pulled_from_outbox"]:
        answer["message"] = tr._(
            "The document was taken out of the upload queue: it never goes over the "
            "network and waits for export to a secure USB stick."
        )
    if change["delivered_incident"]:
        answer["incident"] = True
        answer["message"] = tr._(
            "Incident: this document had already been sent to the provincial archive "
            "over the network before it was classified. Report it to the security officer."
        )
    return answer


@router.post("/documents/{doc_id}/discard", response_model=Discarded)
async def discard(doc_id: str, body: DiscardRequest, request: Request, s: Actor, ui: UiDep) -> Any:
    """Discard an unsealed document: its frames, images and OCR text are deleted from
    the kiosk and the search index (audited). A Tuyệt mật capture ends this way."""
    visible_document(ui, s, doc_id)
    doc = await run(ui.kiosk.discard, doc_id, s.operator.code, reason=body.reason)
    out = doc_view(doc, ui.tr(request, s))
    out["removed"] = doc["removed"]
    return out


@router.get("/documents/{doc_id}/pdf", responses={200: PDF})
async def pdf(doc_id: str, s: Viewer, ui: UiDep) -> FileResponse:
    doc = visible_document(ui, s, doc_id)
    if not doc.get("pdf_path") or not Path(doc["pdf_path"]).exists():
        raise NotFound(doc_id)
    return FileResponse(
        doc["pdf_path"],
        media_type="application/pdf",
        content_disposition_type="inline",
        filename=f"{doc_id}.pdf",
    )
