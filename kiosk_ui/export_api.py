"""The Export screen's JSON API under ``/api/v1/export``: what waits, the stick, the job.

Only an archivist may use it (the rule is :func:`firmware.export.may_export`, the same one
the exporter enforces). The export itself runs in the background
(:class:`~firmware.export_service.ExportService`); the screen follows it through the event
stream (``kind: export`` per file, ``kind: usb`` on hot-plug) and ``GET /export/job`` after a
reload. Every message comes in the session's language, Vietnamese first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from firmware import cms, demo_export
from firmware.errors import KioskError
from firmware.export import Preflight, human_size, may_export
from firmware.export_service import ExportJob
from firmware.operators import Session
from kiosk_ui import labels
from kiosk_ui.api import _need, get_ui, run
from kiosk_ui.context import Ui
from kiosk_ui.i18n import Translator


def _need_exporter(request: Request, s: Annotated[Session, Depends(_need("operator", True))]):
    if not may_export(s.operator.role):
        raise KioskError(
            "forbidden",
            "Only an archivist may export confidential documents.",
            "Chỉ cán bộ lưu trữ mới được xuất tài liệu mật.",
            status=403,
        )
    return s


Archivist = Annotated[Session, Depends(_need_exporter)]
UiDep = Annotated[Ui, Depends(get_ui)]


# -- models (the OpenAPI schema of the screen) --------------------------------------------
class PendingDocument(BaseModel):
    id: str
    title: str = Field(description="Shown on the kiosk only; never written in the clear.")
    level: str = Field(description="Confidentiality: mat or toi_mat.")
    level_label: str
    created_at: str | None
    page_count: int
    size: int = Field(description="Bytes to write (sealed PDF, metadata, text).")
    size_label: str


class PreflightView(BaseModel):
    status: str = Field(
        description="no_device | several_devices | unauthorized | read_only | "
        "not_enough_space | unsupported_filesystem | mount_error | ready"
    )
    ready: bool
    reason: str = Field(description="unauthorized: foreign_interface | not_listed | no_serial")
    title: str = Field(description="Short heading of the status, in the session's language.")
    message: str = Field(description="What is wrong and what to do next.")
    label: str
    free_bytes: int | None
    needed_bytes: int | None


class UsbView(BaseModel):
    state: Literal["none", "present", "refused", "several", "writing", "safe"]
    count: int
    label: str
    serial: str


class JobDocument(BaseModel):
    id: str
    title: str
    state: Literal["waiting", "writing", "written", "verified", "failed"]
    bytes_done: int
    bytes_total: int


class JobError(BaseModel):
    code: str
    message: str


class JobView(BaseModel):
    export_id: str
    operator: str
    state: Literal["starting", "running", "verifying", "done", "failed", "cancelled"]
    documents: list[JobDocument]
    bytes_done: int
    bytes_total: int
    error: JobError | None
    safe_to_remove: bool
    exported: list[str]
    purged: list[str]


class RecipientsView(BaseModel):
    ok: bool
    message: str
    subjects: list[str]


class ExportOverview(BaseModel):
    documents: list[PendingDocument] = Field(
        description="Confidential documents waiting for export (the default selection)."
    )
    preflight: PreflightView | None = Field(description="None while an export is running.")
    recipients: RecipientsView
    usb: UsbView
    job: JobView | None
    demo_sticks: bool = Field(description="Simulated sticks can be plugged from the screen.")


class StartRequest(BaseModel):
    doc_ids: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=2000, description="Documents to export; omitted: all waiting."
    )


class SimStickRequest(BaseModel):
    stick: Literal["registered", "unregistered", "none"] = Field(
        description="Demo only: plug the registered stick, a stranger's stick, or pull both."
    )


# -- views ---------------------------------------------------------------------------------
def preflight_view(pf: Preflight, tr: Translator) -> PreflightView:
    title = labels.PREFLIGHT.get(pf.reason) or labels.PREFLIGHT.get(pf.status.value, "")
    return PreflightView(
        status=pf.status.value,
        ready=pf.ready,
        reason=pf.reason,
        title=tr._(title) if title else "",
        message=pf.message_vi if tr.lang == "vi" else pf.message_en,
        label=pf.label,
        free_bytes=pf.free_bytes,
        needed_bytes=pf.needed_bytes,
    )


def job_view(job: ExportJob | None, tr: Translator) -> JobView | None:
    if job is None:
        return None
    d = job.to_dict()
    err = d.pop("error")
    if err is not None:
        err = JobError(
            code=err["code"], message=err["message_vi" if tr.lang == "vi" else "message_en"]
        )
    return JobView(**d, error=err)


def pending_view(ui: Ui, tr: Translator) -> list[PendingDocument]:
    levels = dict(labels.CONFIDENTIALITY)
    exporter = ui.exports.exporter
    out = []
    for d in ui.exports.pending():
        try:
            size = exporter.document_size(d)
        except OSError:
            size = 0  # a missing sealed copy: the export says so when it is chosen
        out.append(
            PendingDocument(
                id=d["id"],
                title=d.get("title") or tr._("Untitled document"),
                level=d["confidentiality"],
                level_label=tr._(levels.get(d["confidentiality"], "")),
                created_at=d.get("created_at"),
                page_count=d.get("page_count", 0),
                size=size,
                size_label=human_size(size),
            )
        )
    return out


def recipients_view(ui: Ui, tr: Translator) -> RecipientsView:
    """The receiving office's certificates, checked now (expired, wrong usage...)."""
    exporter = ui.exports.exporter
    try:
        recips = cms.load_recipients(exporter.config.recipients or [], now=exporter.clock())
    except KioskError as exc:
        return RecipientsView(ok=False, message=exc.message(tr.lang), subjects=[])
    except OSError:
        return RecipientsView(
            ok=False,
            message=tr._("The recipient certificate file cannot be read; call IT support."),
            subjects=[],
        )
    return RecipientsView(ok=True, message="", subjects=[r.subject for r in recips])


def _sim_dir(ui: Ui) -> Path | None:
    exporter = ui.exports.exporter
    sims = getattr(exporter.backend, "sim_dir", None)
    if sims is None or not demo_export.available(Path(sims), exporter.config.backend):
        return None
    return Path(sims)


def overview(ui: Ui, tr: Translator, actor: str) -> ExportOverview:
    job = ui.exports.job()
    pf = None
    if job is None or not job.running:
        try:
            pf = preflight_view(ui.exports.preflight(actor=actor), tr)
        except KioskError:
            pf = None
    return ExportOverview(
        documents=pending_view(ui, tr),
        preflight=pf,
        recipients=recipients_view(ui, tr),
        usb=UsbView(**ui.exports.usb_state()),
        job=job_view(job, tr),
        demo_sticks=_sim_dir(ui) is not None,
    )


def build_export_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1/export", tags=["export"])

    @r.get("", response_model=ExportOverview)
    async def export_overview(request: Request, s: Archivist, ui: UiDep) -> Any:
        """Everything the Export screen shows: waiting documents, the stick, the job."""
        return await run(overview, ui, ui.tr(request, s), s.operator.code)

    @r.get("/preflight", response_model=PreflightView)
    async def preflight(
        request: Request,
        s: Archivist,
        ui: UiDep,
        doc: Annotated[list[Annotated[str, Field(max_length=64)]] | None, Query()] = None,
    ) -> Any:
        """Check the plugged stick for this selection (free space included)."""
        pf = await run(ui.exports.preflight, doc or None, s.operator.code)
        return preflight_view(pf, ui.tr(request, s))

    @r.post("/start", response_model=JobView)
    async def start(body: StartRequest, request: Request, s: Archivist, ui: UiDep) -> Any:
        """Start exporting; refusals (stick, certificates, selection) come back at once."""
        job = await run(
            ui.exports.start_export, s.operator.code, s.operator.role, body.doc_ids or None
        )
        return job_view(job, ui.tr(request, s))

    @r.get("/job", response_model=JobView | None)
    async def job(request: Request, s: Archivist, ui: UiDep) -> Any:
        """The running or last export (until its stick is pulled out)."""
        return job_view(ui.exports.job(), ui.tr(request, s))

    @r.post("/cancel", response_model=JobView | None)
    async def cancel(request: Request, s: Archivist, ui: UiDep) -> Any:
        """Stop the running export; what it wrote is removed, the documents keep waiting."""
        ui.kiosk.catalog.audit(s.operator.code, "export.cancel_requested")
        return job_view(ui.exports.cancel(), ui.tr(request, s))

    @r.put("/sim-stick", response_model=UsbView)
    async def sim_stick(body: SimStickRequest, s: Archivist, ui: UiDep) -> Any:
        """Demo kiosks only (simulated sticks): plug or pull a demo stick."""
        sims = _sim_dir(ui)
        if sims is None:
            raise KioskError(
                "no_demo_sticks",
                "This kiosk has real USB sockets: plug the stick in by hand.",
                "Máy này dùng cổng USB thật: hãy cắm USB bằng tay.",
            )
        await run(demo_export.plug, sims, body.stick)
        await run(ui.exports.refresh)
        return UsbView(**await run(ui.exports.usb_state))

    return r
