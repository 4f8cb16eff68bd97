"""The touchscreen screens: server-rendered HTML, first paint without waiting for scripts.

Each screen is a Jinja2 template over ``base.html`` (status bar, language, idle warning).
A request without a session is sent to the sign-in screen; after an idle sign-out the
sign-in screen says so ("Đã tự đăng xuất do không sử dụng").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from firmware.catalog import NotFound
from firmware.export import may_export
from firmware.operators import Session
from kiosk_ui import labels
from kiosk_ui.api import (
    destination,
    doc_view,
    page_view,
    parked_documents,
    search_documents,
    state_counts,
)
from kiosk_ui.context import Ui

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _render(request: Request, name: str, s: Session | None, **ctx: Any) -> Response:
    ui: Ui = request.app.state.ui
    tr = ui.tr(request, s)
    config = {
        "lang": tr.lang,
        "signedIn": s is not None,
        "idleTimeout": ui.options.idle_timeout_s,
        "idleWarning": ui.options.idle_warning_s,
        "liveInterval": ui.options.live_interval_ms,
        "statusInterval": ui.options.status_interval_ms,
        "autoCapture": ui.options.auto_capture,
        "messages": tr.js_messages(),
    }
    return TEMPLATES.TemplateResponse(
        request,
        name,
        {
            "_": tr._,
            "lang": tr.lang,
            "operator": s.operator if s else None,
            "config_json": json.dumps(config, ensure_ascii=False).replace("</", "<\\/"),
            "screen": name.removesuffix(".html"),
            **ctx,
        },
        headers={"Cache-Control": "no-store"},
    )


def _load_document(
    ui: Ui, tr: Any, doc_id: str
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]] | None:
    """A document (catalog row and view) with its page views, or None if it is unknown."""
    try:
        raw = ui.kiosk.catalog.get_document(doc_id)
    except NotFound:
        return None
    return raw, doc_view(raw, tr), [page_view(p, tr) for p in ui.kiosk.catalog.pages(doc_id)]


def build_pages() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    def signed_in(request: Request, role: str = "operator") -> Session | Response:
        ui: Ui = request.app.state.ui
        ui.expire_idle()
        s = ui.session(request, touch=True)
        if s is None:
            return RedirectResponse("/signin", status_code=303)
        if not s.operator.may(role):
            return RedirectResponse("/", status_code=303)
        return s

    @r.get("/signin", response_class=HTMLResponse)
    async def signin(request: Request, reason: str = "") -> Response:
        ui: Ui = request.app.state.ui
        if ui.session(request) is not None:
            return RedirectResponse("/", status_code=303)
        return _render(request, "signin.html", None, idle=reason == "idle")

    @r.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        s = signed_in(request)
        if isinstance(s, Response):
            return s
        ui: Ui = request.app.state.ui
        tr = ui.tr(request, s)
        current = None
        if ui.kiosk.current_doc_id:
            try:
                current = doc_view(ui.kiosk.catalog.get_document(ui.kiosk.current_doc_id), tr)
            except NotFound:
                current = None
        return _render(
            request,
            "home.html",
            s,
            parked=parked_documents(ui, tr),
            current=current,
            may_export=may_export(s.operator.role),
            export_waiting=len(ui.exports.pending()),
        )

    @r.get("/export", response_class=HTMLResponse)
    async def export(request: Request) -> Response:
        s = signed_in(request)
        if isinstance(s, Response):
            return s
        if not may_export(s.operator.role):
            return RedirectResponse("/", status_code=303)
        import asyncio

        from kiosk_ui.export_api import overview

        ui: Ui = request.app.state.ui
        tr = ui.tr(request, s)
        data = await asyncio.get_running_loop().run_in_executor(
            None, overview, ui, tr, s.operator.code
        )
        return _render(request, "export.html", s, data=data)

    @r.get("/scan", response_class=HTMLResponse)
    async def scan(request: Request) -> Response:
        s = signed_in(request)
        if isinstance(s, Response):
            return s
        ui: Ui = request.app.state.ui
        tr = ui.tr(request, s)
        doc = None
        pages: list[dict[str, Any]] = []
        if ui.kiosk.current_doc_id:
            try:
                doc = doc_view(ui.kiosk.catalog.get_document(ui.kiosk.current_doc_id), tr)
                pages = [page_view(p, tr) for p in ui.kiosk.catalog.pages(doc["id"])]
            except NotFound:
                doc = None
        return _render(
            request,
            "scan.html",
            s,
            doc=doc,
            pages=pages,
            has_camera=ui.live is not None,
            sources=ui.kiosk.sources(),
            source=ui.kiosk.capture_source,
        )

    @r.get("/review/{doc_id}", response_class=HTMLResponse)
    async def review(request: Request, doc_id: str) -> Response:
        s = signed_in(request)
        if isinstance(s, Response):
            return s
        ui: Ui = request.app.state.ui
        tr = ui.tr(request, s)
        loaded = _load_document(ui, tr, doc_id)
        if loaded is None:
            return RedirectResponse("/documents", status_code=303)
        raw, doc, pages = loaded
        return _render(
            request,
            "review.html",
            s,
            doc=doc,
            pages=pages,
            doc_types=[(c, tr._(n)) for c, n in labels.DOC_TYPES],
            levels=[(c, tr._(n)) for c, n in labels.CONFIDENTIALITY],
            destination=destination(raw, tr) if doc["has_pdf"] else None,
        )

    @r.get("/documents", response_class=HTMLResponse)
    async def documents(request: Request, q: str = "") -> Response:
        s = signed_in(request)
        if isinstance(s, Response):
            return s
        ui: Ui = request.app.state.ui
        tr = ui.tr(request, s)
        q = q[:200]
        if q.strip():
            docs = search_documents(ui, tr, q)
        else:
            docs = [doc_view(d, tr) for d in ui.kiosk.catalog.list_documents(limit=30)]
        return _render(request, "documents.html", s, docs=docs, q=q)

    @r.get("/documents/{doc_id}", response_class=HTMLResponse)
    async def document(request: Request, doc_id: str) -> Response:
        s = signed_in(request)
        if isinstance(s, Response):
            return s
        ui: Ui = request.app.state.ui
        tr = ui.tr(request, s)
        loaded = _load_document(ui, tr, doc_id)
        if loaded is None:
            return RedirectResponse("/documents", status_code=303)
        raw, doc, pages = loaded
        types = dict(labels.DOC_TYPES)
        levels = dict(labels.CONFIDENTIALITY)
        meta = doc["metadata"]
        type_name = types.get(str(meta.get("doc_type")), "")
        return _render(
            request,
            "document.html",
            s,
            doc=doc,
            pages=pages,
            type_label=tr._(type_name) if type_name else "",
            level_label=tr._(levels.get(doc["confidentiality"], labels.CONFIDENTIALITY[0][1])),
            destination=destination(raw, tr) if doc["has_pdf"] else None,
        )

    @r.get("/progress", response_class=HTMLResponse)
    async def progress(request: Request) -> Response:
        s = signed_in(request)
        if isinstance(s, Response):
            return s
        ui: Ui = request.app.state.ui
        tr = ui.tr(request, s)
        counts = state_counts(ui)
        rows = [
            {"state": k, "label": tr._(v[0]), "tone": v[1], "count": counts.get(k, 0)}
            for k, v in labels.DOC_STATES.items()
            if k not in ("open", "sealing")  # both are moments, not places a document stays
        ]
        done = sum(
            counts.get(k, 0) for k in ("sealed", "queued", "delivered", "exported", "purged")
        )
        pages = ui.kiosk.catalog.db.execute(
            "SELECT COUNT(*) FROM pages p JOIN documents d ON d.id = p.doc_id "
            "WHERE p.state != 'deleted' AND d.state IN "
            "('sealed','queued','delivered','exported','purged')"
        ).fetchone()[0]
        biggest = max([row["count"] for row in rows] + [1])
        from kiosk_ui.register_api import progress_data, type_name_for

        return _render(
            request,
            "progress.html",
            s,
            rows=rows,
            done=done,
            pages=pages,
            biggest=biggest,
            total=sum(counts.values()),
            reg=progress_data(ui),
            type_name=type_name_for(ui.kiosk.settings.metadata.document_types, tr.lang),
            can_import=s.operator.may("archivist"),
        )

    @r.get("/maintenance", response_class=HTMLResponse)
    async def maintenance(request: Request) -> Response:
        s = signed_in(request, "maintainer")
        if isinstance(s, Response):
            return s
        import asyncio

        from kiosk_ui.maintenance import report

        ui: Ui = request.app.state.ui
        tr = ui.tr(request, s)
        data = await asyncio.get_running_loop().run_in_executor(None, report, ui, tr)
        return _render(request, "maintenance.html", s, data=data)

    @r.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    return r
