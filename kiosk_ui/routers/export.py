"""The Export screen's JSON API under ``/api/v1/export``: what waits, the stick, the job.

Only an archivist may use it (the rule is :func:`firmware.export.selection.may_export`, the
same one the exporter enforces). The export itself runs in the background
(:class:`~firmware.export.desk.ExportService`); the screen follows it through the event
stream (``kind: export`` per file, ``kind: usb`` on hot-plug) and ``GET /export/job`` after a
reload. Every message comes in the session's language, Vietnamese first.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from firmware.demo import export as demo_export
from firmware.errors import KioskError
from kiosk_ui.deps import ExportArchivist, UiDep, run
from kiosk_ui.export_views import (
    ExportOverview,
    JobView,
    PreflightView,
    UsbView,
    job_view,
    overview,
    preflight_view,
    sim_dir,
)

router = APIRouter(prefix="/api/v1/export", tags=["export"])


class StartRequest(BaseModel):
    doc_ids: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=2000, description="Documents to export; omitted: all waiting."
    )


class SimStickRequest(BaseModel):
    stick: Literal["registered", "unregistered", "none"] = Field(
        description="Demo only: plug the registered stick, a stranger's stick, or pull both."
    )


@router.get("", response_model=ExportOverview)
async def export_overview(request: Request, s: ExportArchivist, ui: UiDep) -> Any:
    """Everything the Export screen shows: waiting documents, the stick, the job."""
    return await run(overview, ui, ui.tr(request, s), s.operator.code)


@router.get("/preflight", response_model=PreflightView)
async def preflight(
    request: Request,
    s: ExportArchivist,
    ui: UiDep,
    doc: Annotated[list[Annotated[str, Field(max_length=64)]] | None, Query()] = None,
) -> Any:
    """Check the plugged stick for this selection (free space included)."""
    pf = await run(ui.exports.preflight, doc or None, s.operator.code)
    return preflight_view(pf, ui.tr(request, s))


@router.post("/start", response_model=JobView)
async def start(body: StartRequest, request: Request, s: ExportArchivist, ui: UiDep) -> Any:
    """Start exporting; refusals (stick, certificates, selection) come back at once."""
    job = await run(ui.exports.start_export, s.operator.code, s.operator.role, body.doc_ids or None)
    return job_view(job, ui.tr(request, s))


@router.get("/job", response_model=JobView | None)
async def job(request: Request, s: ExportArchivist, ui: UiDep) -> Any:
    """The running or last export (until its stick is pulled out)."""
    return job_view(ui.exports.job(), ui.tr(request, s))


@router.post("/cancel", response_model=JobView | None)
async def cancel(request: Request, s: ExportArchivist, ui: UiDep) -> Any:
    """Stop the running export; what it wrote is removed, the documents keep waiting."""
    ui.kiosk.catalog.audit(s.operator.code, "export.cancel_requested")
    return job_view(ui.exports.cancel(), ui.tr(request, s))


@router.put("/sim-stick", response_model=UsbView)
async def sim_stick(body: SimStickRequest, s: ExportArchivist, ui: UiDep) -> Any:
    """Demo kiosks only (simulated sticks): plug or pull a demo stick."""
    sims = sim_dir(ui)
    if sims is None:
        raise KioskError(
            "no_demo_sticks",
            "This kiosk has real USB sockets: plug the stick in by hand.",
            "Máy này dùng cổng USB thật: hãy cắm USB bằng tay.",
        )
    await run(demo_export.plug, sims, body.stick)
    await run(ui.exports.refresh)
    return UsbView(**await run(ui.exports.usb_state))
