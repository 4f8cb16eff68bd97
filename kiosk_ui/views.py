"""Documents and pages as the screens and the JSON API show them, to whom they may be shown.

Every router and screen builds its answers from these functions, so a document reads the
same on the home screen, in search, in the API and on the document screen. Who may see a
classified document is decided by :mod:`firmware.visibility` (asked here, never restated);
the queries are the catalog's own methods: no SQL in the UI.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware import visibility
from firmware.errors import KioskError
from firmware.metadata.types import registry
from firmware.register import selection
from firmware.register.custody import not_returned
from firmware.register.progress import register_progress
from firmware.routing import Level, Route, route_for
from firmware.store import states
from firmware.store.operators import Session
from firmware.store.textfold import fold
from kiosk_ui import labels
from kiosk_ui.context import Ui
from kiosk_ui.i18n import Translator
from kiosk_ui.picture_urls import page_picture_url

DATE_FORMAT = "%d/%m/%Y"


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


# -- who may see what (firmware.visibility) --------------------------------------------------
def viewer(s: Session) -> visibility.Viewer:
    return visibility.Viewer(s.operator.code, s.operator.role)


def classified_refused() -> KioskError:
    return KioskError(
        "classified",
        "This document is classified: only an archivist may open it.",
        "Tài liệu mật: chỉ lưu trữ viên mới được xem.",
        status=403,
    )


def visible_document(ui: Ui, s: Session, doc_id: str) -> dict[str, Any]:
    """The document if this operator may see it (firmware.visibility), else 403."""
    doc = ui.kiosk.catalog.get_document(doc_id)
    if not visibility.may_see(doc, viewer(s)):
        raise classified_refused()
    return doc


def visible_page(ui: Ui, s: Session, page_id: str) -> dict[str, Any]:
    page = ui.kiosk.catalog.get_page(page_id)
    visible_document(ui, s, page["doc_id"])
    return page


def visible_documents(
    ui: Ui, s: Session, states_in: list[str] | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest documents this operator may see."""
    return visibility.visible_documents(ui.kiosk.catalog, viewer(s), states_in, limit=limit)


def check_doc_type(ui: Ui, code: str | None) -> str | None:
    """A document type code of the configured registry ([metadata] document_types)."""
    if code in (None, ""):
        return None
    known = registry(ui.kiosk.settings.metadata.document_types).code(code)
    if known is None:
        raise KioskError(
            "unknown_doc_type",
            f"Unknown document type {code!r}.",
            f"Loại văn bản không có trong danh mục: {code}.",
            status=422,
        )
    return known.code


# -- views ---------------------------------------------------------------------------------
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
    version = f"{page.get('updated_at', '')}{v or ''}"
    return {
        "id": page["id"],
        "doc_id": page["doc_id"],
        "seq": page["seq"],
        "state": page["state"],
        "rotation": page.get("rotation") or 0,
        "ok": bool(quality.get("ok")) if quality else None,
        "kept": bool(quality.get("kept_by")),
        "issues": issues,
        "has_preview": bool(page.get("preview_path")),
        "version": version,
        "thumb_url": page_picture_url(page["id"], "thumb", version),
        "preview_url": page_picture_url(page["id"], "preview", version),
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
        "confidentiality": doc.get("confidentiality") or Level.THUONG.value,
        "metadata": meta,
        "has_pdf": bool(doc.get("pdf_path")),
        "sha256": doc.get("sha256"),
    }


def destination(doc: dict[str, Any], tr: Translator) -> dict[str, str]:
    """Where a sealed document goes next, in words the clerk understands: from
    :func:`firmware.routing.route_for` over the stored level, the function that routes it."""
    if route_for(doc) == Route.SECURE_USB:
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


def parked_documents(ui: Ui, tr: Translator, s: Session) -> list[dict[str, Any]]:
    """Unfinished work this operator may see (firmware.visibility): documents with pages
    that are not sealed yet (resumable)."""
    docs = visible_documents(ui, s, sorted(states.DOC_EDITABLE), limit=50)
    shown = [d for d in docs if d["page_count"] > 0 and d["id"] != ui.kiosk.current_doc_id]
    owners = ui.kiosk.catalog.document_creators([d["id"] for d in shown])
    out = []
    for d in shown:
        view = doc_view(d, tr)
        owner = owners.get(d["id"], {})
        at = d.get("updated_at") or ""
        pages = ui.kiosk.catalog.pages(d["id"])
        view.update(
            owner=owner.get("code", ""),
            owner_name=owner.get("name") or owner.get("code", ""),
            # when it was last worked on, as the clerk reads it (local time, dd/mm HH:MM)
            at_shown=_local_short(at),
            thumb=page_picture_url(pages[0]["id"], "thumb") if pages else "",
        )
        out.append(view)
    return out


def _local_short(iso: str) -> str:
    try:
        t = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return ""
    return t.strftime("%d/%m %H:%M")


# -- search --------------------------------------------------------------------------------
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


def search_documents(
    ui: Ui, tr: Translator, q: str, s: Session, limit: int = 50
) -> list[dict[str, Any]]:
    """Full-text hits first (with a snippet), then documents whose title matches; only
    documents this operator may see (their text and snippets included).

    With or without diacritics: the catalog folds both the text and the query.
    """
    hits = visibility.search_visible(ui.kiosk.catalog, viewer(s), q[:200], limit=limit)
    seen: dict[str, dict[str, Any]] = {}
    words = fold(q[:200]).split()
    for h in hits:
        if h["doc_id"] not in seen:
            doc = ui.kiosk.catalog.get_document(h["doc_id"])
            snippet = original_snippet(ui.kiosk.catalog.document_text(h["doc_id"]), words)
            seen[h["doc_id"]] = {**doc_view(doc, tr), "snippet": snippet, "page": h["seq"]}
    if words:
        for d in visible_documents(ui, s, limit=500):
            if d["id"] not in seen and all(w in fold(d.get("title") or "") for w in words):
                seen[d["id"]] = {**doc_view(d, tr), "snippet": "", "page": None}
    return list(seen.values())[:limit]


# -- progress ------------------------------------------------------------------------------
def digitized_counts(ui: Ui, counts: dict[str, int]) -> tuple[int, int]:
    """Documents and pages digitized (states.DOC_DIGITIZED), for both progress views;
    ``counts`` is :meth:`~firmware.store.catalog.Catalog.state_counts`."""
    pages = ui.kiosk.catalog.live_page_count(states.DOC_DIGITIZED)
    return sum(counts.get(k, 0) for k in states.DOC_DIGITIZED), pages


def state_rows(counts: dict[str, int], tr: Translator) -> list[dict[str, Any]]:
    """One row per lasting document state (moments such as ``sealing`` left out), with its
    label and tone: the Progress screen's bars and the progress API."""
    return [
        {"state": k, "label": tr._(v[0]), "tone": v[1], "count": counts.get(k, 0)}
        for k, v in labels.DOC_STATES.items()
        if k not in states.DOC_MOMENTS
    ]


def progress_data(ui: Ui) -> dict[str, Any]:
    """Register progress and originals not returned (the Progress screen and its API)."""
    cat = ui.kiosk.catalog
    data = register_progress(cat, rules=selection.all_rules(cat, ui.kiosk.settings))
    data["custody"] = not_returned(cat)
    data["rules"] = [r.to_dict() for r in selection.all_rules(cat, ui.kiosk.settings)]
    return data


def type_name_for(types: str, lang: str) -> Callable[[str], str]:
    """code -> the type's name in ``lang`` (a code the list does not know stays as is)."""
    reg = registry(types)

    def name(code: str) -> str:
        t = reg.code(code) if code else None
        if t is None:
            return code
        return t.name if lang == "vi" or not t.name_en else t.name_en

    return name
