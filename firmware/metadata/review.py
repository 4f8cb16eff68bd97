"""The review screen's data: the form pre-filled, the register suggestion, and the cache of
what the reader found on page 1.

Reading page 1 takes a noticeable moment on a Pi, so it is done once, when the document
enters review (:func:`cache_extraction`, called by the kiosk from the OCR result callback,
off the UI's event loop), and the result is kept in the document's catalog metadata under
``extraction``. The screen then only reads the catalog. A document whose first page
changed since (pages reordered, page 1 retaken) is read again on first view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from firmware.metadata.prefill import form_values, matching_values
from firmware.register.hooks import NO_ENTRY_KEY, review_info
from firmware.store.catalog import Catalog

log = logging.getLogger("sohoa.metadata")

#: Catalog metadata key of the cached extraction.
EXTRACTION_KEY = "extraction"


def first_page_id(catalog: Catalog, doc_id: str) -> str | None:
    pages = catalog.pages(doc_id)
    return pages[0]["id"] if pages else None


def cached_extraction(catalog: Catalog, doc: dict[str, Any]) -> dict[str, Any] | None:
    """The cached extraction if it was read from the document's current first page."""
    ext = (doc.get("metadata") or {}).get(EXTRACTION_KEY)
    if isinstance(ext, dict) and ext.get("page_id") == first_page_id(catalog, doc["id"]):
        return ext
    return None


def cache_extraction(
    catalog: Catalog, doc_id: str, extract: Callable[[str], dict[str, Any]]
) -> dict[str, Any] | None:
    """Read page 1 with ``extract`` (``PageOneReader.extract``) and keep the result in the
    catalog. Failures are logged and leave the form to be filled by hand: the review must
    never be held up by the reader."""
    try:
        result = extract(doc_id)
    except Exception:
        log.exception("reading the metadata of %s from page 1 failed", doc_id)
        return None
    keep = {k: result[k] for k in ("page_id", "fields", "metadata", "low_confidence")}
    with catalog.transaction():  # read-modify-write of the metadata in one transaction
        meta = dict(catalog.get_document(doc_id).get("metadata") or {})
        meta[EXTRACTION_KEY] = keep
        catalog.update_document(doc_id, "system", "metadata.extracted", metadata=meta)
    return keep


def register_suggestion(
    catalog: Catalog, settings: Any, doc: dict[str, Any], look_up: dict[str, Any]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(the entry whose values fill the form, the candidates to offer).

    The entry is the linked one, the one the clerk chose, or the single exact candidate
    not yet linked to another document, unless the clerk said "none of these".
    """
    info = review_info(catalog, settings, doc, look_up)
    meta = doc.get("metadata") or {}
    cands = info["candidates"]
    if meta.get(NO_ENTRY_KEY):
        return None, cands
    entry = info["linked"] or info["chosen"]
    if entry is None:
        exact = [c for c in cands if c["exact"]]
        free = [c for c in exact if c["entry"]["document_id"] in (None, doc["id"])]
        if len(exact) == 1 and free:
            entry = free[0]["entry"]
    return entry, cands


def review_form(
    catalog: Catalog,
    settings: Any,
    doc_id: str,
    extract: Callable[[str], dict[str, Any]],
    *,
    page_ready: bool,
) -> dict[str, Any]:
    """The form as it opens: ``fields`` (value, source, confidence, unsure per field),
    ``entry`` (the register entry filling it, if any) and ``candidates``.

    ``page_ready``: page 1 is processed, so a missing or stale extraction may be made now.
    """
    doc = catalog.get_document(doc_id)
    ext = cached_extraction(catalog, doc)
    if ext is None and page_ready:
        ext = cache_extraction(catalog, doc_id, extract)
        doc = catalog.get_document(doc_id)
    meta = doc.get("metadata") or {}
    entry, cands = register_suggestion(catalog, settings, doc, matching_values(meta, ext))
    values = form_values(meta, ext, entry, settings.metadata.low_confidence)
    return {
        "fields": {k: v.to_dict() for k, v in values.items()},
        "entry": entry,
        "candidates": cands,
        "none_chosen": bool(meta.get(NO_ENTRY_KEY)),
        "read": ext is not None,
    }
