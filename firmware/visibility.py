"""Who may see what: the one rule for classified documents on this kiosk.

A document that is not ordinary (Mật, Tối mật, or declared Tuyệt mật) is seen, with its
thumbnails, previews, OCR text, search hits and PDF, by archivists only; the operator who
captured it keeps seeing it until it is sealed (to finish the capture or discard it).
Ordinary documents are seen by every signed-in operator. Every screen and API route asks
:func:`may_see` (one document), :func:`visible_documents` or :func:`search_visible` (lists,
search; both over :func:`visible_clause`) - nothing else decides this.

A maintainer is technical staff: separation of duties keeps classified content from that
role, as from the export (:func:`firmware.export.selection.may_export`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from firmware.routing import Level
from firmware.store.catalog import Catalog
from firmware.store.states import DOC_BEFORE_SEAL, DocState

#: The role that handles classified documents (and alone changes a level after sealing).
CLASSIFIED_ROLE = "archivist"


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the operator's code and role (None for a process, e.g. the CLI)."""

    code: str
    role: str | None


def sees_classified(role: str | None) -> bool:
    return role == CLASSIFIED_ROLE


def is_restricted(doc: dict[str, Any]) -> bool:
    """True for any level but ordinary (an unknown value is restricted, never open)."""
    return (doc.get("confidentiality") or Level.THUONG.value) != Level.THUONG.value


def may_see(doc: dict[str, Any], viewer: Viewer) -> bool:
    if not is_restricted(doc) or sees_classified(viewer.role):
        return True
    return (
        bool(doc.get("created_by"))
        and doc.get("created_by") == viewer.code
        and DocState(doc["state"]) in DOC_BEFORE_SEAL
    )


def visible_clause(viewer: Viewer, alias: str = "documents") -> tuple[str, list[Any]]:
    """The same rule as SQL over the documents table (``alias``): (condition, arguments)."""
    if sees_classified(viewer.role):
        return "1", []
    before = sorted(s.value for s in DOC_BEFORE_SEAL)
    marks = ",".join("?" * len(before))
    return (
        f"({alias}.confidentiality = ? OR ({alias}.created_by = ? AND {alias}.state IN ({marks})))",
        [Level.THUONG.value, viewer.code, *before],
    )


def visible_documents(
    catalog: Catalog, viewer: Viewer, states_in: Iterable[str] | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest documents ``viewer`` may see, optionally only those in ``states_in``."""
    where, args = visible_clause(viewer, "documents")
    st = list(states_in or [])
    if st:
        where += f" AND state IN ({','.join('?' * len(st))})"
        args = [*args, *st]
    return catalog.list_documents_where(where, args, limit=limit)


def search_visible(
    catalog: Catalog, viewer: Viewer, query: str, limit: int = 50
) -> list[dict[str, Any]]:
    """Full-text hits (:meth:`Catalog.search`) in documents ``viewer`` may see; a query the
    full-text index cannot parse finds nothing (it is not a crash)."""
    where, args = visible_clause(viewer, "d")
    try:
        return catalog.search(query, limit=limit, where=where, args=args)
    except sqlite3.Error:
        return []
