"""JSON API of the register under ``/api/v1``: import from a stick or the import folder
(archivists), the register candidates of a document under review, custody, progress data.

An import runs in a thread of its own and reports progress (rows read, rows written) that
the Progress screen polls, so a 50,000-row register never holds a request open.
"""

from __future__ import annotations

import secrets
import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from firmware.catalog import NotFound
from firmware.errors import KioskError
from firmware.operators import Session
from kiosk_ui.api import Actor, UiDep, Viewer, _need, parse_date, run
from kiosk_ui.context import Ui

Archivist = Annotated[Session, Depends(_need("archivist", True))]
ArchivistView = Annotated[Session, Depends(_need("archivist", False))]


class ImportRequest(BaseModel):
    source: str = Field(..., max_length=600, description="id from GET /register/sources")
    name: str = Field("", max_length=120, description="register name; empty = file name")
    direction: Literal["in", "out"]


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
        from firmware.metadata.party_codes import PartyCodesError, load_party_codes
        from firmware.register.importer import import_register
        from firmware.register.sources import fetch

        kiosk = self.ui.kiosk
        settings = kiosk.settings

        def progress(phase: str, done: int, total: int | None) -> None:
            job.update(phase=phase, done=done, total=total)
            kiosk.events.publish(
                "register_import", job=job["id"], phase=phase, done=done, total=total
            )

        try:
            path, source = fetch(settings, body.source)
            codes = None
            if settings.metadata.party_codes_file:
                try:
                    codes = load_party_codes(settings.metadata.party_codes_file)
                except PartyCodesError as exc:
                    raise KioskError(
                        "party_codes_unavailable", exc.message_en, exc.message_vi
                    ) from None
            name = body.name.strip() or source.name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            report = import_register(
                kiosk.catalog,
                path,
                name=name,
                direction=body.direction,
                actor=actor,
                types=settings.metadata.document_types,
                party_codes=codes,
                progress=progress,
            )
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
        kiosk.events.publish("register_import", job=job["id"], state=job["state"])


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


def type_name_for(types: str, lang: str) -> Any:
    """code -> the type's name in ``lang`` (a code the list does not know stays as is)."""
    from firmware.metadata.types import registry

    reg = registry(types)

    def name(code: str) -> str:
        t = reg.code(code) if code else None
        if t is None:
            return code
        return t.name if lang == "vi" or not t.name_en else t.name_en

    return name


def progress_data(ui: Ui) -> dict[str, Any]:
    """Register progress and originals not returned (the Progress screen and its API)."""
    from firmware.register import selection
    from firmware.register.custody import not_returned
    from firmware.register.progress import register_progress

    cat = ui.kiosk.catalog
    data = register_progress(cat, rules=selection.all_rules(cat, ui.kiosk.settings))
    data["custody"] = not_returned(cat)
    data["rules"] = [r.to_dict() for r in selection.all_rules(cat, ui.kiosk.settings)]
    return data


def build_register_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["register"])

    @r.get("/register/sources")
    async def sources(_: ArchivistView, ui: UiDep):
        """Register files on plugged USB sticks and in the data directory's import folder."""
        from firmware.register.sources import list_sources

        return [s.to_dict() for s in await run(list_sources, ui.kiosk.settings)]

    @r.post("/register/import")
    async def start_import(body: ImportRequest, request: Request, s: Archivist, ui: UiDep):
        job = jobs_of(ui).start(body, s.operator.code)
        return job_view(job, ui.tr(request, s).lang)

    @r.get("/register/import/{job_id}")
    async def import_status(job_id: str, request: Request, s: ArchivistView, ui: UiDep):
        job = jobs_of(ui).jobs.get(job_id)
        if job is None:
            raise NotFound(job_id)
        return job_view(job, ui.tr(request, s).lang)

    @r.get("/registers")
    async def registers(_: Viewer, ui: UiDep):
        return list(
            ui.kiosk.catalog.db.query(
                "SELECT r.id, r.name, r.direction, r.imported_at, r.source_name, "
                "COUNT(e.id) AS entries, COUNT(e.document_id) AS matched FROM registers r "
                "LEFT JOIN register_entries e ON e.register_id = r.id GROUP BY r.id ORDER BY r.name"
            )
        )

    @r.get("/register/progress")
    async def register_progress(_: Viewer, ui: UiDep):
        return await run(progress_data, ui)

    @r.get("/custody")
    async def custody(_: Viewer, ui: UiDep):
        """Originals checked out to the kiosk and not returned, oldest first."""
        from firmware.register.custody import not_returned

        return not_returned(ui.kiosk.catalog)

    @r.get("/documents/{doc_id}/register")
    async def document_register(
        doc_id: str,
        request: Request,
        s: Viewer,
        ui: UiDep,
        number: Annotated[str, Query(max_length=60)] = "",
        date: Annotated[str, Query(max_length=10)] = "",
        doc_type: Annotated[str, Query(max_length=8)] = "",
        title: Annotated[str, Query(max_length=500)] = "",
    ):
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

    @r.put("/documents/{doc_id}/register-entry")
    async def choose_entry(doc_id: str, body: EntryChoice, s: Actor, ui: UiDep):
        """The clerk confirms which register entry the document is (applied at sealing)."""
        from firmware.register.hooks import choose_entry as choose

        await run(choose, ui.kiosk.catalog, doc_id, body.entry_id, s.operator.code)
        return {"document": doc_id, "entry_id": body.entry_id}

    return r
