"""What the Export screen shows, as typed models (the OpenAPI schema of its routes,
:mod:`kiosk_ui.routers.export`): the waiting documents, the stick, the recipients, the job,
and after an export who received a document. Every message is in the session's language,
Vietnamese first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from firmware.demo import export as demo_export
from firmware.errors import KioskError
from firmware.export import cms
from firmware.export.desk import ExportJob
from firmware.export.preflight import Preflight, human_size
from kiosk_ui import labels
from kiosk_ui.context import Ui
from kiosk_ui.i18n import Translator


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
    retention_note: str = Field(
        "", description="When local copies are removed after the export, said before it."
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
        return RecipientsView(ok=False, message=exc.text(tr.lang), subjects=[])
    except OSError:
        return RecipientsView(
            ok=False,
            message=tr._("The recipient certificate file cannot be read; call IT support."),
            subjects=[],
        )
    return RecipientsView(ok=True, message="", subjects=[r.subject for r in recips])


def sim_dir(ui: Ui) -> Path | None:
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
        demo_sticks=sim_dir(ui) is not None,
        retention_note=retention_note(ui.exports.exporter.config.retention, tr),
    )


def retention_note(retention: str | int, tr: Translator) -> str:
    """Said before the export: the local copies go once the stick is read back (issue 16:
    they were deleted without a word)."""
    if retention == "immediate" or retention == 0:
        return tr._(
            "After the export, every file is read back from the USB stick and checked; the "
            "local copies on this kiosk are then removed at once."
        )
    return tr._(
        "After the export, every file is read back from the USB stick and checked; the "
        "local copies on this kiosk are removed {days} days later."
    ).replace("{days}", str(retention))


def handover_view(doc: dict[str, Any], ui: Ui, tr: Translator) -> dict[str, str] | None:
    """Who received an exported document, on which stick, when and from whom: read from
    the export record the exporter stored in the document's metadata. Offices are named by
    the certificates configured now (matched by fingerprint), else by the fingerprint."""
    rec = (doc.get("metadata") or {}).get("export")
    if not isinstance(rec, dict):
        return None
    names: dict[str, str] = {}
    try:
        for r in cms.load_recipients(ui.exports.exporter.config.recipients or []):
            names[r.fingerprint] = r.subject
    except (KioskError, OSError):
        pass
    offices = [names.get(fp, fp[:16]) for fp in rec.get("recipients", [])]
    stick = rec.get("stick") or {}
    op = ui.operators.get(rec.get("operator", "")) if rec.get("operator") else None
    at = str(rec.get("verified_at") or "")
    return {
        "offices": ", ".join(offices) or "—",
        "stick": (stick.get("serial") or "—")
        + (f" ({stick['label']})" if stick.get("label") else ""),
        "at": f"{at[8:10]}/{at[5:7]}/{at[:4]} {at[11:16]}" if len(at) >= 16 else at,
        "by": op.name if op else str(rec.get("operator") or ""),
        "export_id": str(rec.get("export_id") or ""),
    }
