"""The touchscreen screens: server-rendered HTML, first paint without waiting for scripts.

Each screen is a Jinja2 template over ``base.html`` (status bar, language, idle warning).
A request without a session is sent to the sign-in screen; after an idle sign-out the
sign-in screen says so ("Đã tự đăng xuất do không sử dụng").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from firmware.errors import KioskError
from firmware.events import js_kinds
from firmware.export.selection import may_export
from firmware.metadata.numbering import number_symbol_of
from firmware.store import states
from firmware.store.catalog import NotFound
from firmware.store.operators import Session
from firmware.visibility import CLASSIFIED_ROLE
from kiosk_ui import formats, labels
from kiosk_ui.audit_words import ROLES
from kiosk_ui.context import Ui
from kiosk_ui.deps import run
from kiosk_ui.export_views import handover_view, overview
from kiosk_ui.maintenance import report
from kiosk_ui.signature_view import signature_view
from kiosk_ui.views import (
    destination,
    digitized_counts,
    doc_view,
    page_view,
    parked_documents,
    progress_data,
    search_documents,
    state_rows,
    type_name_for,
    visible_document,
    visible_documents,
)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters.update(
    vi_date=formats.vi_date,
    vi_datetime=formats.vi_datetime,
    size=formats.size,
    number_symbol=number_symbol_of,
)


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
        "kinds": js_kinds(),  # the event kinds (firmware.events.EventKind): KIND.PAGE in JS
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
            "states": states,  # the named state sets (firmware.store.states), not copies
            **ctx,
        },
        headers={"Cache-Control": "no-store"},
    )


#: The screen renderer for the screens of other routers (the PDF screen).
render_screen = _render


def signed_in_or_redirect(request: Request, role: str = "operator") -> Session | Response:
    """The session of a screen request, or the redirect to sign in (or home, if the
    operator's role is not enough)."""
    ui: Ui = request.app.state.ui
    ui.expire_idle()
    s = ui.session(request, touch=True)
    if s is None:
        return RedirectResponse("/signin", status_code=303)
    if not s.operator.may(role):
        return RedirectResponse("/", status_code=303)
    return s


class SignInFirst(Exception):  # noqa: N818 - a redirect, not an error
    """Raised by a screen's sign-in dependency: the answer is ``response`` (a redirect to
    sign in, or home), sent by the app's handler for it."""

    def __init__(self, response: Response):
        super().__init__(response.headers.get("location", ""))
        self.response = response


def screen_session(role: str = "operator") -> Callable[[Request], Session]:
    """The dependency every screen takes: the signed-in session (the visit counts as
    activity), else :class:`SignInFirst` with :func:`signed_in_or_redirect`'s redirect."""

    def dep(request: Request) -> Session:
        s = signed_in_or_redirect(request, role)
        if isinstance(s, Response):
            raise SignInFirst(s)
        return s

    return dep


#: A screen for any signed-in operator.
Screen = Annotated[Session, Depends(screen_session())]
#: A screen for maintainers (others are sent home).
MaintainerScreen = Annotated[Session, Depends(screen_session("maintainer"))]


def _load_document(
    ui: Ui, tr: Any, doc_id: str, s: Session
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]] | None:
    """A document (catalog row and view) with its page views, or None if it is unknown
    or this operator may not see it (firmware.visibility)."""
    try:
        raw = visible_document(ui, s, doc_id)
    except (NotFound, KioskError):
        return None
    return raw, doc_view(raw, tr), [page_view(p, tr) for p in ui.kiosk.catalog.pages(doc_id)]


#: The HTML screens (not in the OpenAPI schema: the JSON API is the scripting surface).
router = APIRouter(include_in_schema=False)


@router.get("/signin", response_class=HTMLResponse)
async def signin(request: Request, reason: str = "") -> Response:
    ui: Ui = request.app.state.ui
    if ui.session(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _render(request, "signin.html", None, idle=reason == "idle")


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, s: Screen) -> Response:
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
        parked=parked_documents(ui, tr, s),
        current=current,
        may_export=may_export(s.operator.role),
        export_waiting=len(ui.exports.pending()),
    )


@router.get("/export", response_class=HTMLResponse)
async def export(request: Request, s: Screen) -> Response:
    if not may_export(s.operator.role):
        return RedirectResponse("/", status_code=303)
    ui: Ui = request.app.state.ui
    tr = ui.tr(request, s)
    data = await asyncio.get_running_loop().run_in_executor(None, overview, ui, tr, s.operator.code)
    return _render(request, "export.html", s, data=data)


@router.get("/scan", response_class=HTMLResponse)
async def scan(request: Request, s: Screen) -> Response:
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
        sim_pedal=ui.kiosk.settings.pedal.backend == "mock",
    )


@router.get("/review/{doc_id}", response_class=HTMLResponse)
async def review(request: Request, s: Screen, doc_id: str) -> Response:
    ui: Ui = request.app.state.ui
    tr = ui.tr(request, s)
    loaded = _load_document(ui, tr, doc_id, s)
    if loaded is None:
        return RedirectResponse("/documents", status_code=303)
    raw, doc, pages = loaded
    form = await run(ui.kiosk.review_form, doc_id)
    return _render(
        request,
        "review.html",
        s,
        doc=doc,
        pages=pages,
        form=form,
        doc_types=labels.doc_type_choices(ui.kiosk.settings.metadata.document_types, tr.lang),
        levels=[(c, tr._(n)) for c, n in labels.CONFIDENTIALITY],
        destination=destination(raw, tr) if doc["has_pdf"] else None,
    )


@router.get("/documents", response_class=HTMLResponse)
async def documents(request: Request, s: Screen, q: str = "") -> Response:
    ui: Ui = request.app.state.ui
    tr = ui.tr(request, s)
    q = q[:200]
    if q.strip():
        docs = search_documents(ui, tr, q, s)
    else:
        docs = [doc_view(d, tr) for d in visible_documents(ui, s, limit=30)]
    return _render(request, "documents.html", s, docs=docs, q=q)


@router.get("/documents/{doc_id}", response_class=HTMLResponse)
async def document(request: Request, s: Screen, doc_id: str) -> Response:
    ui: Ui = request.app.state.ui
    tr = ui.tr(request, s)
    loaded = _load_document(ui, tr, doc_id, s)
    if loaded is None:
        return RedirectResponse("/documents", status_code=303)
    raw, doc, pages = loaded
    types = dict(labels.doc_type_choices(ui.kiosk.settings.metadata.document_types, tr.lang))
    levels = dict(labels.CONFIDENTIALITY)
    meta = doc["metadata"]
    return _render(
        request,
        "document.html",
        s,
        doc=doc,
        pages=pages,
        type_label=types.get(str(meta.get("doc_type")), ""),
        levels=[(c, tr._(n)) for c, n in labels.CONFIDENTIALITY],
        may_classify=s.operator.role == CLASSIFIED_ROLE,
        level_label=tr._(levels.get(doc["confidentiality"], labels.CONFIDENTIALITY[0][1])),
        destination=destination(raw, tr) if doc["has_pdf"] else None,
        handover=handover_view(raw, ui, tr),
        signature=await asyncio.get_running_loop().run_in_executor(
            None,
            signature_view,
            raw.get("pdf_path"),
            ui.kiosk.settings.signing.trust_roots,
            tr,
        ),
    )


@router.get("/progress", response_class=HTMLResponse)
async def progress(request: Request, s: Screen) -> Response:
    ui: Ui = request.app.state.ui
    tr = ui.tr(request, s)
    counts = ui.kiosk.catalog.state_counts()
    rows = state_rows(counts, tr)
    done, pages = digitized_counts(ui, counts)
    biggest = max([row["count"] for row in rows] + [1])
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


@router.get("/maintenance", response_class=HTMLResponse)
async def maintenance(request: Request, s: MaintainerScreen) -> Response:
    ui: Ui = request.app.state.ui
    tr = ui.tr(request, s)
    data = await asyncio.get_running_loop().run_in_executor(None, report, ui, tr)
    roles = [(code, tr._(label)) for code, label in ROLES.items()]
    return _render(request, "maintenance.html", s, data=data, roles=roles)


@router.get("/favicon.ico")
async def favicon() -> Response:
    return Response(status_code=204)
