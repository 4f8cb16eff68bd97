"""Pages: capture (camera, scanner, the demo's on-screen pedal), retake, accept, rotate,
delete, and the page pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from firmware.errors import KioskError
from kiosk_ui.deps import Actor, UiDep, Viewer, run
from kiosk_ui.pictures import JPEG, PREVIEW_FALLBACK_WIDTH, page_picture, thumbnail
from kiosk_ui.schemas.documents import PageView
from kiosk_ui.schemas.pages import (
    Captured,
    CaptureSource,
    PageDeleted,
    Retaken,
    Scanned,
    SimPedal,
)
from kiosk_ui.views import page_view, visible_page

router = APIRouter(prefix="/api/v1", tags=["pages"])


class SourceRequest(BaseModel):
    source: Literal["camera", "scanner"]


class CaptureRequest(BaseModel):
    doc_id: str | None = Field(None, max_length=64)


class SimPedalRequest(BaseModel):
    pressed: bool


class RotateRequest(BaseModel):
    quarter_turns: int = Field(1, ge=-3, le=3)


@router.put("/sim-pedal", response_model=SimPedal)
async def sim_pedal(body: SimPedalRequest, s: Actor, ui: UiDep) -> Any:
    """The demo's on-screen pedal: the finger down/up drives the mock pedal's pin, so a
    press and a hold-to-finish go through the real pedal logic. Mock pedal only."""
    # the mock backend's pedal reads gpiozero mock pins (drivers.pedal.GpioPedal.pin)
    pin = getattr(ui.kiosk.pedal, "pin", None)
    if ui.kiosk.settings.pedal.backend != "mock" or pin is None:
        raise KioskError(
            "no_sim_pedal",
            "The on-screen pedal exists only in the demo (mock pedal).",
            "Bàn đạp trên màn hình chỉ có trong bản chạy thử.",
            status=404,
        )
    if body.pressed:
        pin.drive_low()
    else:
        pin.drive_high()
    return {"pressed": body.pressed}


@router.post("/capture", response_model=Captured)
async def capture(body: CaptureRequest, request: Request, s: Actor, ui: UiDep) -> Any:
    out = await run(ui.kiosk.capture, s.operator.code, body.doc_id)
    if ui.live is not None:
        ui.live.mark_captured()
    page = page_view(out.page, ui.tr(request, s)) if out.page is not None else None
    # "sheet": a cover sheet or separator was read instead of a page (none archived)
    return {"page": page, "sheet": out.sheet, "timings": out.timings}


@router.post("/scan", response_model=Scanned)
async def scan(body: CaptureRequest, request: Request, s: Actor, ui: UiDep) -> Any:
    """Scan with the document scanner: one flatbed page or the whole feeder."""
    outs = await run(ui.kiosk.scan_batch, s.operator.code, body.doc_id)
    tr = ui.tr(request, s)
    return {
        "pages": [page_view(o.page, tr) for o in outs if o.page is not None],
        "sheets": [o.sheet for o in outs if o.sheet is not None],
    }


@router.put("/capture-source", response_model=CaptureSource)
async def capture_source(body: SourceRequest, s: Actor, ui: UiDep) -> Any:
    """Choose camera or scanner for the pedal and the capture button."""
    return {"source": await run(ui.kiosk.set_capture_source, body.source, s.operator.code)}


@router.post(
    "/pages/{page_id}/retake",
    response_model=Retaken,
    response_model_exclude_unset=True,  # sheet only when the frame was a cover sheet
)
async def retake(page_id: str, request: Request, s: Actor, ui: UiDep) -> Any:
    visible_page(ui, s, page_id)
    out = await run(ui.kiosk.retake, page_id, s.operator.code)
    if ui.live is not None:
        ui.live.mark_captured()
    if out.page is None:  # the flagged frame was a cover sheet shot too blurred to read
        return {"page": None, "sheet": out.sheet}
    return {"page": page_view(out.page, ui.tr(request, s))}


@router.post("/pages/{page_id}/accept", response_model=PageView)
async def accept(page_id: str, request: Request, s: Actor, ui: UiDep) -> Any:
    visible_page(ui, s, page_id)
    page = await run(ui.kiosk.accept_page, page_id, s.operator.code)
    return page_view(page, ui.tr(request, s))


@router.post("/pages/{page_id}/rotate", response_model=PageView)
async def rotate(page_id: str, body: RotateRequest, request: Request, s: Actor, ui: UiDep) -> Any:
    visible_page(ui, s, page_id)
    page = await run(ui.kiosk.rotate_page, page_id, body.quarter_turns, s.operator.code)
    return page_view(page, ui.tr(request, s))


@router.delete("/pages/{page_id}", response_model=PageDeleted)
async def delete(page_id: str, s: Actor, ui: UiDep) -> Any:
    visible_page(ui, s, page_id)
    await run(ui.kiosk.delete_page, page_id, s.operator.code)
    return {"deleted": page_id}


@router.get("/pages/{page_id}/preview.jpg", responses={200: JPEG})
async def preview(page_id: str, s: Viewer, ui: UiDep) -> Response:
    page = visible_page(ui, s, page_id)
    if page.get("preview_path") and Path(page["preview_path"]).exists():
        return FileResponse(page["preview_path"], media_type="image/jpeg")
    data = await run(page_picture, page, PREVIEW_FALLBACK_WIDTH)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})


@router.get("/pages/{page_id}/thumb.jpg", responses={200: JPEG})
async def thumb(page_id: str, s: Viewer, ui: UiDep) -> Response:
    page = visible_page(ui, s, page_id)
    data = await run(thumbnail, ui, page)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})
