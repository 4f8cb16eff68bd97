"""JSON API of the register under ``/api/v1``: import from a stick or the import folder
(archivists), the register candidates of a document under review, custody, progress data.

An import runs in a thread of its own and reports progress (rows read, rows written) that
the Progress screen polls, so a 50,000-row register never holds a request open.
"""

from __future__ import annotations

import secrets
import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from firmware.errors import KioskError
from firmware.events import EventKind
from firmware.store.catalog import NotFound
from kiosk_ui.context import Ui
from kiosk_ui.deps import Actor, Archivist, ArchivistView, UiDep, Viewer, run
from kiosk_ui.schemas.register import (
    CustodyItem,
    DocumentRegister,
    EntryChosen,
    ImportJob,
    ImportPreview,
    ImportRecord,
    ImportUndone,
    RegisterProgress,
    RegisterRow,
    Returned,
    SourceView,
)
from kiosk_ui.views import parse_date, progress_data

router = APIRouter(prefix="/api/v1", tags=["register"])


class ImportRequest(BaseModel):
    source: str = Field(..., max_length=600, description="id from GET /register/sources")
    name: str = Field("", max_length=120, description="register name; empty = file name")
    direction: Literal["in", "out"]
    sha256: str = Field(
        "",
        max_length=64,
        description="the file's hash from the preview the archivist confirmed: a file "
        "that changed since is refused",
    )


class EntryChoice(BaseModel):
    entry_id: int | None = Field(None, ge=1, description="register entry; null = none")


class ImportJobs:
    """Register imports running or finished in this service (kept until restart)."""

    def __init__(self, ui: Ui):
        self.ui = ui
        self.jobs: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def start(self, body: ImportRequest, actor: str) -> dict[str, Any]:
        with self.lock:
            if any(j["state"] == "running" for j in self.jobs.values()):
                raise KioskError(
                    "import_running",
                    "Another register import is running; wait for it to finish.",
                    "Đang nhập một sổ khác; hãy đợi xong rồi nhập tiếp.",
                )
            job_id = secrets.token_hex(6)
            job = {
                "id": job_id,
                "state": "running",
                "phase": "copy",
                "done": 0,
                "total": None,
                "report": None,
                "error": None,
            }
            self.jobs[job_id] = job
        threading.Thread(
            target=self._run, args=(job, body, actor), daemon=True, name="register-import"
        ).start()
        return dict(job)

    def _run(self, job: dict[str, Any], body: ImportRequest, actor: str) -> None:
        kiosk = self.ui.kiosk

        def progress(phase: str, done: int, total: int | None) -> None:
            job.update(phase=phase, done=done, total=total)
            kiosk.events.publish(
                EventKind.REGISTER_IMPORT, job=job["id"], phase=phase, done=done, total=total
            )

        try:
            report = read_register_file(self.ui, body, actor, dry_run=False, progress=progress)
            job.update(state="done", report=report.to_dict())
        except KioskError as exc:
            kiosk.catalog.audit(
                actor, "register.import_refused", None, code=exc.code, error=exc.message_en
            )
            job.update(state="failed", error=exc.to_dict())
        except Exception as exc:  # shown as a state, never a silent thread death
            kiosk.catalog.audit(actor, "register.import_failed", None, error=str(exc))
            job.update(
                state="failed",
                error={
                    "code": "import_failed",
                    "message_en": f"The import failed: {exc}. Nothing was imported.",
                    "message_vi": "Nhập sổ bị lỗi; chưa có dòng nào được nhập.",
                },
            )
        kiosk.events.publish(EventKind.REGISTER_IMPORT, job=job["id"], state=job["state"])


def read_register_file(
    ui: Ui, body: ImportRequest, actor: str, *, dry_run: bool, progress: Any = None
) -> Any:
    """Import (or, with ``dry_run``, preview) the register file ``body`` names. The screen's
    import refuses a file already imported, and one that changed since its preview."""
    from firmware.metadata.party_codes import PartyCodesError, load_party_codes
    from firmware.register.errors import RegisterFileError
    from firmware.register.importer import import_register
    from firmware.register.sources import fetch

    settings = ui.kiosk.settings
    path, source = fetch(settings, body.source)
    codes = None
    if settings.metadata.party_codes_file:
        try:
            codes = load_party_codes(settings.metadata.party_codes_file)
        except PartyCodesError as exc:
            raise KioskError("party_codes_unavailable", exc.message_en, exc.message_vi) from None
    if body.sha256 and not dry_run:
        from sohoa_common.atomic import sha256_file

        if sha256_file(path) != body.sha256:
            raise RegisterFileError(
                "file_changed",
                "The file changed since its preview; look at the preview again.",
                "Tệp đã thay đổi sau khi xem trước; hãy xem trước lại.",
                status=409,
            )
    name = body.name.strip() or source.name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return import_register(
        ui.kiosk.catalog,
        path,
        name=name,
        direction=body.direction,
        actor=actor,
        types=settings.metadata.document_types,
        party_codes=codes,
        progress=progress,
        dry_run=dry_run,
        refuse_same_file=True,
    )


def preview_view(report: Any, lang: str) -> dict[str, Any]:
    """What the archivist confirms: register, rows, period, and an earlier import."""

    def shown(iso: str | None) -> str:
        return f"{iso[8:10]}/{iso[5:7]}/{iso[:4]}" if iso else "—"

    prev = report.previous
    out = {
        "register": report.register,
        "file": report.file,
        "sha256": report.sha256,
        "rows": report.rows,
        "imported": report.imported,
        "already_present": report.already_present,
        "rejected": len(report.rejected),
        "date_from": report.date_from,
        "date_to": report.date_to,
        "period": f"{shown(report.date_from)} – {shown(report.date_to)}",
        "previous": prev,
        "message": report.summary(lang),
    }
    if prev:
        at = shown(prev["at"][:10])
        out["previous_message"] = (
            f"Tệp này đã được nhập vào sổ «{prev['register']}» ngày {at} ({prev['by']})."
            if lang == "vi"
            else f"This file was already imported into {prev['register']!r} on {at} ({prev['by']})."
        )
    return out


def jobs_of(ui: Ui) -> ImportJobs:
    jobs = getattr(ui, "register_jobs", None)
    if jobs is None:
        jobs = ui.register_jobs = ImportJobs(ui)  # type: ignore[attr-defined]
    return jobs


def job_view(job: dict[str, Any], lang: str) -> dict[str, Any]:
    """A job with its messages in the session's language."""
    out = dict(job)
    if job.get("error"):
        e = job["error"]
        out["message"] = e["message_vi"] if lang == "vi" else e["message_en"]
    rep = job.get("report")
    if rep:
        from firmware.register.importer import ImportReport, Rejected

        r = ImportReport(**{**rep, "rejected": [Rejected(**x) for x in rep["rejected"]]})
        out["message"] = r.summary(lang)
        out["rejected"] = [
            {"line": x.line, "reason": x.reason_vi if lang == "vi" else x.reason_en}
            for x in r.rejected
        ]
    return out


@router.get("/register/sources", response_model=list[SourceView])
async def sources(_: ArchivistView, ui: UiDep) -> Any:
    """Register files on plugged USB sticks and in the data directory's import folder."""
    from firmware.register.sources import list_sources

    return [s.to_dict() for s in await run(list_sources, ui.kiosk.settings)]


@router.post("/register/import", response_model=ImportJob, response_model_exclude_unset=True)
async def start_import(body: ImportRequest, request: Request, s: Archivist, ui: UiDep) -> Any:
    job = jobs_of(ui).start(body, s.operator.code)
    return job_view(job, ui.tr(request, s).lang)


@router.post(
    "/register/import/preview", response_model=ImportPreview, response_model_exclude_unset=True
)
async def preview_import(body: ImportRequest, request: Request, s: Archivist, ui: UiDep) -> Any:
    """What an import of this file would do (nothing written): register name, rows,
    period, and whether the same file (by hash) was imported before."""
    report = await run(read_register_file, ui, body, s.operator.code, dry_run=True)
    return preview_view(report, ui.tr(request, s).lang)


@router.get("/register/imports", response_model=list[ImportRecord])
async def import_history(_: ArchivistView, ui: UiDep) -> Any:
    """Imports that wrote rows, newest first, with whether each was undone."""
    from firmware.register.history import imports

    return await run(imports, ui.kiosk.catalog)


@router.post("/register/imports/{seq}/undo", response_model=ImportUndone)
async def undo(seq: int, s: Archivist, ui: UiDep) -> Any:
    """Take an import back (its entries removed; audited as register.import_undone)."""
    from firmware.register.history import undo_import

    return await run(undo_import, ui.kiosk.catalog, seq, s.operator.code)


@router.get(
    "/register/import/{job_id}", response_model=ImportJob, response_model_exclude_unset=True
)
async def import_status(job_id: str, request: Request, s: ArchivistView, ui: UiDep) -> Any:
    job = jobs_of(ui).jobs.get(job_id)
    if job is None:
        raise NotFound(job_id)
    return job_view(job, ui.tr(request, s).lang)


@router.get("/registers", response_model=list[RegisterRow])
async def registers(_: Viewer, ui: UiDep) -> Any:
    # every register with its entries and how many are matched; the file's hash is left
    # to ``sohoa register list``
    from firmware.register.history import registers as all_registers

    return [
        {k: v for k, v in r.items() if k != "source_sha256"}
        for r in await run(all_registers, ui.kiosk.catalog)
    ]


@router.get("/register/progress", response_model=RegisterProgress)
async def register_progress(_: Viewer, ui: UiDep) -> Any:
    return await run(progress_data, ui)


@router.post("/custody/{custody_id}/return", response_model=Returned)
async def return_original(custody_id: int, s: Archivist, ui: UiDep) -> Any:
    """An archivist marks an original back in the archive (audited custody.return)."""
    from firmware.register.custody import return_original as mark

    return await run(mark, ui.kiosk.catalog, custody_id, s.operator.code)


@router.get("/custody", response_model=list[CustodyItem])
async def custody(_: Viewer, ui: UiDep) -> Any:
    """Originals checked out to the kiosk and not returned, oldest first."""
    from firmware.register.custody import not_returned

    return not_returned(ui.kiosk.catalog)


@router.get("/documents/{doc_id}/register", response_model=DocumentRegister)
async def document_register(
    doc_id: str,
    request: Request,
    s: Viewer,
    ui: UiDep,
    number: Annotated[str, Query(max_length=60)] = "",
    date: Annotated[str, Query(max_length=10)] = "",
    doc_type: Annotated[str, Query(max_length=8)] = "",
    title: Annotated[str, Query(max_length=500)] = "",
) -> Any:
    """The register entry of a document under review: linked, chosen or candidates
    (with scores), and whether it is inside the selection for digitization. The query
    carries what the clerk has typed so far (date as dd/mm/yyyy)."""
    from firmware.register.hooks import review_info

    doc = ui.kiosk.catalog.get_document(doc_id)
    typed: dict[str, Any] = {"number": number.strip(), "doc_type": doc_type, "subject": title}
    try:
        typed["date"] = parse_date(date)
    except KioskError:
        typed["date"] = None
    if typed["number"]:
        typed["number_symbol"] = typed["number"]
    info = await run(review_info, ui.kiosk.catalog, ui.kiosk.settings, doc, typed)
    lang = ui.tr(request, s).lang
    sel = info["selection"]
    info["selection"] = {
        "inside": sel["inside"],
        "message": sel["message_vi"] if lang == "vi" else sel["message_en"],
    }
    return info


@router.put("/documents/{doc_id}/register-entry", response_model=EntryChosen)
async def choose_entry(doc_id: str, body: EntryChoice, s: Actor, ui: UiDep) -> Any:
    """The clerk confirms which register entry the document is (applied at sealing)."""
    from firmware.register.hooks import choose_entry as choose

    await run(choose, ui.kiosk.catalog, doc_id, body.entry_id, s.operator.code)
    return {"document": doc_id, "entry_id": body.entry_id}
