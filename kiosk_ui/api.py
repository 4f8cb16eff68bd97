"""The JSON API under ``/api/v1``: every action the touchscreen offers, for scripts too.

Every call needs a signed-in session (cookie from ``POST /api/v1/session/login``) except
signing in and choosing the language. Calls the screen makes by itself (status bar, live
view, event stream) do not count as activity, so an unattended kiosk still signs out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import queue
import shutil
import sqlite3
from pathlib import Path
from typing import Annotated, Any, Literal

import cv2
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator

from firmware.catalog import NotFound
from firmware.errors import KioskError
from firmware.operators import Session
from firmware.textfold import fold
from kiosk_ui import labels
from kiosk_ui.context import LANG_COOKIE, SESSION_COOKIE, Ui
from kiosk_ui.i18n import Translator

THUMB_WIDTH = 240
DATE_FORMAT = "%d/%m/%Y"


def get_ui(request: Request) -> Ui:
    return request.app.state.ui


def _need(role: str, touch: bool):
    def dep(request: Request) -> Session:
        ui = get_ui(request)
        ui.expire_idle()
        s = ui.session(request, touch=touch)
        if s is None:
            raise KioskError(
                "not_signed_in",
                "Sign in first.",
                "Hãy đăng nhập trước.",
                status=401,
            )
        if not s.operator.may(role):
            raise KioskError(
                "forbidden",
                f"This needs the {role} role.",
                "Tài khoản của bạn không có quyền làm việc này.",
                status=403,
            )
        request.state.session = s
        return s

    return dep


#: A signed-in operator acting (touches the session).
Actor = Annotated[Session, Depends(_need("operator", True))]
#: A signed-in operator's screen refreshing by itself (does not touch the session).
Viewer = Annotated[Session, Depends(_need("operator", False))]
Maintainer = Annotated[Session, Depends(_need("maintainer", True))]
UiDep = Annotated[Ui, Depends(get_ui)]


async def run(fn: Any, *a: Any, **kw: Any) -> Any:
    """Run blocking kiosk work (camera, disk, SQLite) off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*a, **kw))


# -- request bodies -----------------------------------------------------------------------
class LoginRequest(BaseModel):
    code: str = Field(..., max_length=32, description="Staff code (digits).")
    pin: str = Field(..., max_length=32, description="PIN (digits).")
    lang: Literal["vi", "en"] | None = None


class LogoutRequest(BaseModel):
    reason: Literal["signout", "idle"] = "signout"


class LanguageRequest(BaseModel):
    lang: Literal["vi", "en"]


class SourceRequest(BaseModel):
    source: Literal["camera", "scanner"]


class CaptureRequest(BaseModel):
    doc_id: str | None = Field(None, max_length=64)


class RotateRequest(BaseModel):
    quarter_turns: int = Field(1, ge=-3, le=3)


class OrderRequest(BaseModel):
    order: list[Annotated[str, Field(max_length=64)]] = Field(..., max_length=2000)


class SealRequest(BaseModel):
    title: str = Field("", max_length=500, description="Title or subject summary.")
    doc_type: str | None = Field(None, max_length=8, description="Type code, e.g. CV, NQ, QĐ.")
    number: str = Field("", max_length=60, description="Number and symbol, e.g. 64-CV/TW.")
    date: str = Field("", max_length=10, description="Date of the document, dd/mm/yyyy.")
    confidentiality: Literal["thuong", "mat", "toi_mat", "tuyet_mat"] = "thuong"

    @field_validator("doc_type")
    @classmethod
    def _known_type(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if v not in labels.DOC_TYPE_CODES:
            raise ValueError("unknown document type")
        return v


class OperatorRequest(BaseModel):
    code: str = Field(..., max_length=12)
    name: str = Field(..., max_length=120)
    role: Literal["operator", "archivist", "maintainer"] = "operator"
    pin: str = Field(..., max_length=12)


# -- helpers --------------------------------------------------------------------------------
def parse_date(text: str) -> str | None:
    """dd/mm/yyyy (leading zeros optional) -> ISO date; empty -> None; else KioskError."""
    text = text.strip()
    if not text:
        return None
    try:
        d = dt.datetime.strptime(text, DATE_FORMAT).date()
    except ValueError:
        raise KioskError(
            "bad_date",
            "Date must be written as day/month/year, e.g. 10/04/2025.",
            "Ngày phải viết theo dạng ngày/tháng/năm, ví dụ 10/04/2025.",
            status=422,
        ) from None
    if d.year < 1900 or d > dt.date.today() + dt.timedelta(days=1):
        raise KioskError(
            "bad_date",
            "The date is not plausible for a document.",
            "Ngày của văn bản không hợp lệ.",
            status=422,
        )
    return d.isoformat()


def top_secret_refused() -> KioskError:
    return KioskError(
        "top_secret_refused",
        "Top secret (Tuyệt mật) documents are not digitized. Return the original to the "
        "archive; nothing was saved.",
        "Tài liệu Tuyệt mật không được số hóa. Hãy trả bản gốc về kho lưu trữ; "
        "tài liệu chưa được lưu.",
        status=422,
    )


def page_view(page: dict[str, Any], tr: Translator) -> dict[str, Any]:
    """A page as the screen needs it: state, quality verdict in the user's language."""
    quality = page.get("quality") or {}
    issues = []
    for i in quality.get("issues", []):
        code = i.get("code", "")
        if code in labels.QUALITY:
            text = tr._(labels.QUALITY[code])
        else:
            text = i.get("message_vi" if tr.lang == "vi" else "message_en") or code
        issues.append({"code": code, "severity": i.get("severity"), "message": text})
    v = quality.get("version") if isinstance(quality, dict) else None
    return {
        "id": page["id"],
        "doc_id": page["doc_id"],
        "seq": page["seq"],
        "state": page["state"],
        "rotation": page.get("rotation") or 0,
        "ok": bool(quality.get("ok")) if quality else None,
        "issues": issues,
        "has_preview": bool(page.get("preview_path")),
        "version": f"{page.get('updated_at', '')}{v or ''}",
        "error": page.get("error_message"),
    }


def doc_view(doc: dict[str, Any], tr: Translator) -> dict[str, Any]:
    label, tone = labels.doc_state_label(doc, tr)
    meta = doc.get("metadata") or {}
    return {
        "id": doc["id"],
        "state": doc["state"],
        "state_label": label,
        "tone": tone,
        "title": doc.get("title") or "",
        "created_at": doc.get("created_at"),
        "updated_at": doc.get("updated_at"),
        "page_count": doc.get("page_count", 0),
        "confidentiality": meta.get("confidentiality", doc.get("confidentiality", "thuong")),
        "metadata": meta,
        "has_pdf": bool(doc.get("pdf_path")),
        "sha256": doc.get("sha256"),
    }


def destination(doc: dict[str, Any], tr: Translator) -> dict[str, str]:
    """Where a sealed document goes next, in words the clerk understands."""
    level = (doc.get("metadata") or {}).get("confidentiality", "thuong")
    if level in labels.CONFIDENTIAL_LEVELS:
        return {
            "route": "secure_usb",
            "message": tr._(
                "Confidential document: it never goes over the network. It waits on this "
                "kiosk for export to an authorized secure USB stick."
            ),
        }
    return {
        "route": "upload_queue",
        "message": tr._(
            "Waiting to upload: it will be sent to the provincial archive automatically "
            "when the connection is available."
        ),
    }


def disk_usage(path: Path) -> dict[str, int]:
    try:
        du = shutil.disk_usage(path)
    except OSError:
        return {"free": 0, "total": 0}
    return {"free": du.free, "total": du.total}


def state_counts(ui: Ui) -> dict[str, int]:
    rows = ui.kiosk.catalog.db.execute(
        "SELECT state, COUNT(*) FROM documents GROUP BY state"
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def parked_documents(ui: Ui, tr: Translator) -> list[dict[str, Any]]:
    """Unfinished work: documents with pages that are not sealed yet (resumable)."""
    docs = ui.kiosk.catalog.list_documents(
        ["open", "capturing", "processing", "review", "failed"], limit=50
    )
    return [
        doc_view(d, tr) for d in docs if d["page_count"] > 0 and d["id"] != ui.kiosk.current_doc_id
    ]


def thumbnail(ui: Ui, page: dict[str, Any]) -> bytes:
    path = page.get("preview_path")
    if not path or not Path(path).exists():
        raise NotFound(page["id"])
    key = (path, Path(path).stat().st_mtime)
    cached = ui.thumbs.get(key)
    if cached is not None:
        return cached
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise NotFound(page["id"])
    h, w = img.shape[:2]
    if w > THUMB_WIDTH:
        img = cv2.resize(img, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])
    data = buf.tobytes() if ok else b""
    if len(ui.thumbs) > 500:
        ui.thumbs.clear()
    ui.thumbs[key] = data
    return data


def original_snippet(text: str, words: list[str], width: int = 40) -> str:
    """A few words around the first hit, in the page's own spelling (with its accents).

    The index matches on folded text; folding keeps one character per character of NFC
    text, so a position in the folded text is the same position in the original.
    """
    text = " ".join(text.split())
    folded = fold(text)
    if len(folded) != len(text) or not words:
        return ""
    at = min((i for i in (folded.find(w) for w in words) if i >= 0), default=-1)
    if at < 0:
        return ""
    start, end = max(0, at - width), min(len(text), at + width * 2)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def search_documents(ui: Ui, tr: Translator, q: str, limit: int = 50) -> list[dict[str, Any]]:
    """Full-text hits first (with a snippet), then documents whose title matches.

    With or without diacritics: the catalog folds both the text and the query.
    """
    try:
        hits = ui.kiosk.catalog.search(q[:200], limit=limit)
    except sqlite3.Error:  # a query FTS5 cannot parse finds nothing; it is not a crash
        hits = []
    seen: dict[str, dict[str, Any]] = {}
    words = fold(q[:200]).split()
    for h in hits:
        if h["doc_id"] not in seen:
            doc = ui.kiosk.catalog.get_document(h["doc_id"])
            snippet = original_snippet(ui.kiosk.catalog.document_text(h["doc_id"]), words)
            seen[h["doc_id"]] = {**doc_view(doc, tr), "snippet": snippet, "page": h["seq"]}
    if words:
        for d in ui.kiosk.catalog.list_documents(limit=500):
            if d["id"] not in seen and all(w in fold(d.get("title") or "") for w in words):
                seen[d["id"]] = {**doc_view(d, tr), "snippet": "", "page": None}
    return list(seen.values())[:limit]


def _limit(v: int, hi: int) -> int:
    return max(1, min(v, hi))


JPEG = {"content": {"image/jpeg": {}}, "description": "JPEG image"}
PDF = {"content": {"application/pdf": {}}, "description": "the sealed PDF/A"}


def build_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1")

    # -- session ---------------------------------------------------------------------------
    @r.post("/session/login", tags=["session"])
    async def login(body: LoginRequest, request: Request, response: Response, ui: UiDep):
        op = await run(ui.operators.authenticate, body.code, body.pin)
        lang = body.lang or ui.lang(request)
        token = ui.operators.open_session(op, lang)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", path="/")
        response.set_cookie(LANG_COOKIE, lang, samesite="strict", path="/")
        return {"operator": op.public(), "lang": lang}

    @r.post("/session/logout", tags=["session"])
    async def logout(body: LogoutRequest, request: Request, response: Response, ui: UiDep):
        token = request.cookies.get(SESSION_COOKIE)
        s = ui.session(request)
        parked = None
        if s is not None and token:
            ui.operators.end_session(token, body.reason)
            if ui.operators.open_sessions() == 0:
                parked = ui.park(s.operator.code, body.reason)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return {"signed_out": s is not None, "parked": parked}

    @r.get("/session", tags=["session"])
    async def session(s: Viewer, ui: UiDep):
        return {
            "operator": s.operator.public(),
            "lang": s.lang,
            "idle_timeout_s": ui.options.idle_timeout_s,
            "idle_warning_s": ui.options.idle_warning_s,
        }

    @r.post("/session/touch", tags=["session"])
    async def touch(s: Actor):
        return {"ok": True, "operator": s.operator.code}

    @r.put("/session/language", tags=["session"])
    async def language(body: LanguageRequest, request: Request, response: Response, ui: UiDep):
        token = request.cookies.get(SESSION_COOKIE)
        if token and ui.session(request) is not None:
            ui.operators.set_language(token, body.lang)
        response.set_cookie(LANG_COOKIE, body.lang, samesite="strict", path="/")
        return {"lang": body.lang}

    # -- status ----------------------------------------------------------------------------
    def network_state(up: dict[str, Any]) -> dict[str, Any]:
        """The status bar's Network item from the uplink status: ok (sending or nothing
        failing), failing (retrying after an error), paused (outside the upload window) or
        off (not enrolled, switched off, certificate expired); the summary says why."""
        state = up["state"]
        if state in ("not_enrolled", "disabled", "certificate_expired", "stopped"):
            tone = "off"
        elif state == "waiting_window":
            tone = "paused"
        elif up["last_error"] is not None and up["waiting"] > 0:
            tone = "failing"
        else:
            tone = "ok"
        return {
            "state": tone,
            "uplink": state,
            "last_success": up["last_success"],
            "summary_vi": up["summary_vi"],
            "summary_en": up["summary_en"],
        }

    @r.get("/status", tags=["status"])
    async def status(_: Viewer, ui: UiDep):
        st = ui.kiosk.status()
        counts = state_counts(ui)
        return {
            "camera": st["camera"],
            "pedal": st["pedal"],
            "scanner": st["scanner"],
            "capture_source": st["capture_source"],
            "ocr": st["ocr"],
            "usb": await run(ui.exports.usb_state),
            "network": network_state(st["uplink"]),
            "upload_queue": st["uplink"]["waiting"],
            "disk": disk_usage(Path(ui.kiosk.settings.data_dir)),
            "time": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "current_document": st["current_document"],
            "backlog": st["ocr"]["backlog"],
            "documents": counts,
            "last_error": st["last_error"],
        }

    @r.get("/progress", tags=["status"])
    async def progress(request: Request, s: Viewer, ui: UiDep):
        from kiosk_ui.register_api import progress_data as register_progress_data

        tr = ui.tr(request, s)
        counts = state_counts(ui)
        pages = ui.kiosk.catalog.db.execute(
            "SELECT COUNT(*) FROM pages p JOIN documents d ON d.id = p.doc_id "
            "WHERE p.state != 'deleted' AND d.state IN "
            "('sealed','queued','delivered','exported','purged')"
        ).fetchone()[0]
        done = sum(
            counts.get(k, 0) for k in ("sealed", "queued", "delivered", "exported", "purged")
        )
        return {
            "states": [
                {"state": k, "label": tr._(v[0]), "tone": v[1], "count": counts.get(k, 0)}
                for k, v in labels.DOC_STATES.items()
                if k != "open"
            ],
            "digitized_documents": done,
            "digitized_pages": pages,
            "total_documents": sum(counts.values()),
            # per register / year / type, the summary sentence, originals not returned
            "register": await run(register_progress_data, ui),
        }

    # -- documents -------------------------------------------------------------------------
    @r.get("/documents", tags=["documents"])
    async def documents(
        request: Request,
        s: Viewer,
        ui: UiDep,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        state: Annotated[str | None, Query(max_length=20)] = None,
    ):
        tr = ui.tr(request, s)
        docs = ui.kiosk.catalog.list_documents([state] if state else None, limit=limit)
        return [doc_view(d, tr) for d in docs]

    @r.get("/documents/parked", tags=["documents"])
    async def parked(request: Request, s: Viewer, ui: UiDep):
        return parked_documents(ui, ui.tr(request, s))

    @r.post("/documents", tags=["documents"])
    async def new_document(request: Request, s: Actor, ui: UiDep):
        doc = await run(ui.kiosk.new_document, s.operator.code)
        return doc_view(doc, ui.tr(request, s))

    @r.get("/documents/{doc_id}", tags=["documents"])
    async def document(doc_id: str, request: Request, s: Viewer, ui: UiDep):
        tr = ui.tr(request, s)
        doc = ui.kiosk.catalog.get_document(doc_id)
        out = doc_view(doc, tr)
        out["pages"] = [page_view(p, tr) for p in ui.kiosk.catalog.pages(doc_id)]
        out["current"] = ui.kiosk.current_doc_id == doc_id
        return out

    @r.post("/documents/{doc_id}/resume", tags=["documents"])
    async def resume(doc_id: str, request: Request, s: Actor, ui: UiDep):
        """Make a parked document the one being captured (to add or retake pages)."""
        doc = await run(ui.kiosk.resume, doc_id, s.operator.code)
        return doc_view(doc, ui.tr(request, s))

    @r.post("/documents/{doc_id}/finish", tags=["documents"])
    async def finish(doc_id: str, request: Request, s: Actor, ui: UiDep):
        doc = await run(ui.kiosk.finish, doc_id, s.operator.code)
        return doc_view(doc, ui.tr(request, s))

    @r.put("/documents/{doc_id}/order", tags=["documents"])
    async def reorder(doc_id: str, body: OrderRequest, request: Request, s: Actor, ui: UiDep):
        doc = ui.kiosk.catalog.get_document(doc_id)
        if doc["state"] not in ("open", "capturing", "processing", "review", "failed"):
            raise KioskError(
                "document_closed",
                "This document is saved and can no longer be changed.",
                "Tài liệu này đã lưu, không thể thay đổi.",
            )
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

    @r.post("/documents/{doc_id}/seal", tags=["documents"])
    async def seal(doc_id: str, body: SealRequest, request: Request, s: Actor, ui: UiDep):
        if body.confidentiality == labels.REFUSED_LEVEL:
            ui.kiosk.catalog.audit(s.operator.code, "document.top_secret_refused", doc_id)
            raise top_secret_refused()
        ui.kiosk.catalog.get_document(doc_id)
        metadata: dict[str, Any] = {"confidentiality": body.confidentiality}
        if body.doc_type:
            metadata["doc_type"] = body.doc_type
        if body.number.strip():
            metadata["number"] = body.number.strip()
            if not metadata["number"].isdigit():
                # The field holds number and symbol: it replaces a symbol stored apart
                # (e.g. from a cover sheet), which would otherwise contradict a correction.
                metadata["symbol"] = ""
        iso = parse_date(body.date)
        if iso:
            metadata["date"] = iso
        title = body.title.strip() or None
        if title:
            metadata["subject"] = title
        doc = await run(ui.kiosk.seal, doc_id, s.operator.code, title=title, metadata=metadata)
        ui.kiosk.catalog.update_document(
            doc_id, s.operator.code, "document.classify", confidentiality=body.confidentiality
        )
        doc = ui.kiosk.catalog.get_document(doc_id)
        tr = ui.tr(request, s)
        return {"document": doc_view(doc, tr), "destination": destination(doc, tr)}

    @r.get("/documents/{doc_id}/pdf", tags=["documents"], responses={200: PDF})
    async def pdf(doc_id: str, _: Viewer, ui: UiDep):
        doc = ui.kiosk.catalog.get_document(doc_id)
        if not doc.get("pdf_path") or not Path(doc["pdf_path"]).exists():
            raise NotFound(doc_id)
        return FileResponse(
            doc["pdf_path"],
            media_type="application/pdf",
            content_disposition_type="inline",
            filename=f"{doc_id}.pdf",
        )

    # -- pages -----------------------------------------------------------------------------
    @r.post("/capture", tags=["pages"])
    async def capture(body: CaptureRequest, request: Request, s: Actor, ui: UiDep):
        out = await run(ui.kiosk.capture, s.operator.code, body.doc_id)
        if ui.live is not None:
            ui.live.mark_captured()
        page = page_view(out.page, ui.tr(request, s)) if out.page is not None else None
        # "sheet": a cover sheet or separator was read instead of a page (none archived)
        return {"page": page, "sheet": out.sheet, "timings": out.timings}

    @r.post("/scan", tags=["pages"])
    async def scan(body: CaptureRequest, request: Request, s: Actor, ui: UiDep):
        """Scan with the document scanner: one flatbed page or the whole feeder."""
        outs = await run(ui.kiosk.scan_batch, s.operator.code, body.doc_id)
        tr = ui.tr(request, s)
        return {
            "pages": [page_view(o.page, tr) for o in outs if o.page is not None],
            "sheets": [o.sheet for o in outs if o.sheet is not None],
        }

    @r.put("/capture-source", tags=["pages"])
    async def capture_source(body: SourceRequest, s: Actor, ui: UiDep):
        """Choose camera or scanner for the pedal and the capture button."""
        return {"source": await run(ui.kiosk.set_capture_source, body.source, s.operator.code)}

    @r.post("/pages/{page_id}/retake", tags=["pages"])
    async def retake(page_id: str, request: Request, s: Actor, ui: UiDep):
        out = await run(ui.kiosk.retake, page_id, s.operator.code)
        if ui.live is not None:
            ui.live.mark_captured()
        if out.page is None:  # the flagged frame was a cover sheet shot too blurred to read
            return {"page": None, "sheet": out.sheet}
        return {"page": page_view(out.page, ui.tr(request, s))}

    @r.post("/pages/{page_id}/accept", tags=["pages"])
    async def accept(page_id: str, request: Request, s: Actor, ui: UiDep):
        page = await run(ui.kiosk.accept_page, page_id, s.operator.code)
        return page_view(page, ui.tr(request, s))

    @r.post("/pages/{page_id}/rotate", tags=["pages"])
    async def rotate(page_id: str, body: RotateRequest, request: Request, s: Actor, ui: UiDep):
        page = await run(ui.kiosk.rotate_page, page_id, body.quarter_turns, s.operator.code)
        return page_view(page, ui.tr(request, s))

    @r.delete("/pages/{page_id}", tags=["pages"])
    async def delete(page_id: str, s: Actor, ui: UiDep):
        await run(ui.kiosk.delete_page, page_id, s.operator.code)
        return {"deleted": page_id}

    @r.get("/pages/{page_id}/preview.jpg", tags=["pages"], responses={200: JPEG})
    async def preview(page_id: str, _: Viewer, ui: UiDep):
        page = ui.kiosk.catalog.get_page(page_id)
        if not page.get("preview_path") or not Path(page["preview_path"]).exists():
            raise NotFound(page_id)
        return FileResponse(page["preview_path"], media_type="image/jpeg")

    @r.get("/pages/{page_id}/thumb.jpg", tags=["pages"], responses={200: JPEG})
    async def thumb(page_id: str, _: Viewer, ui: UiDep):
        page = ui.kiosk.catalog.get_page(page_id)
        data = await run(thumbnail, ui, page)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})

    # -- search ----------------------------------------------------------------------------
    @r.get("/search", tags=["documents"])
    async def search(
        request: Request,
        s: Viewer,
        ui: UiDep,
        q: Annotated[str, Query(max_length=200)] = "",
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ):
        return search_documents(ui, ui.tr(request, s), q, limit)

    # -- live view and events ----------------------------------------------------------------
    @r.get("/live", tags=["live"])
    async def live(s: Viewer, ui: UiDep):
        if ui.live is None:
            raise KioskError(
                "no_camera", "No camera is configured.", "Chưa cấu hình máy ảnh.", status=503
            )
        frame, fire = await run(ui.live.tick)
        out = frame.public()
        out["auto_capture"] = ui.live.auto_capture
        out["captured"] = None
        if fire:
            try:
                res = await run(ui.kiosk.capture, s.operator.code)
                out["captured"] = res.page["id"] if res.page is not None else None
            except KioskError as exc:
                ui.kiosk.events.publish("error", **exc.to_dict())
        return out

    @r.get("/live.jpg", tags=["live"], responses={200: JPEG})
    async def live_jpeg(_: Viewer, ui: UiDep):
        frame = ui.live.last if ui.live is not None else None
        if frame is None or not frame.jpeg:
            raise NotFound("live")
        return Response(frame.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @r.get("/events", tags=["live"], response_class=StreamingResponse)
    async def events(request: Request, _: Viewer, ui: UiDep):
        """Server-sent events: page, document, backlog and error notices as they happen."""
        q = ui.kiosk.events.subscribe()
        loop = asyncio.get_running_loop()

        async def stream():
            try:
                yield "retry: 1000\n\n"
                while not await request.is_disconnected():
                    try:
                        ev = await loop.run_in_executor(None, lambda: q.get(timeout=1.0))
                    except queue.Empty:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"data: {json.dumps(ev, ensure_ascii=False, default=str)}\n\n"
            finally:
                ui.kiosk.events.unsubscribe(q)

        return StreamingResponse(stream(), media_type="text/event-stream")

    # -- maintenance -----------------------------------------------------------------------
    @r.get("/maintenance", tags=["maintenance"])
    async def maintenance(request: Request, s: Maintainer, ui: UiDep):
        from kiosk_ui.maintenance import report

        return await run(report, ui, ui.tr(request, s))

    @r.get("/operators", tags=["maintenance"])
    async def operators(_: Maintainer, ui: UiDep):
        return [
            {**o.public(), "disabled": o.disabled, "locked_until": o.locked_until}
            for o in ui.operators.list()
        ]

    @r.post("/operators", tags=["maintenance"])
    async def add_operator(body: OperatorRequest, s: Maintainer, ui: UiDep):
        op = await run(ui.operators.add, body.code, body.name, body.role, body.pin, s.operator.code)
        return op.public()

    @r.post("/operators/{code}/unlock", tags=["maintenance"])
    async def unlock(code: str, s: Maintainer, ui: UiDep):
        if ui.operators.get(code) is None:
            raise NotFound(code)
        ui.operators.unlock(code, s.operator.code)
        return {"unlocked": code}

    return r
