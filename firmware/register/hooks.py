"""What one document does with the register: the review screen's look-up and the step
after sealing (link to the register entry, audit a document outside the selection).

Sealing never fails because of the register: :func:`after_seal` records its own problems
in the audit log and returns, since the archival PDF is already durable at that point.
"""

from __future__ import annotations

import logging
from typing import Any

from firmware.catalog import Catalog
from firmware.errors import KioskError
from firmware.register import matching, selection
from firmware.register.custody import history

log = logging.getLogger("sohoa.register")


def _has_registers(catalog: Catalog) -> bool:
    return catalog.db.execute("SELECT 1 FROM registers LIMIT 1").fetchone() is not None


def review_info(
    catalog: Catalog, settings: Any, doc: dict[str, Any], meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """For the review screen: the linked or chosen entry, candidates, selection verdict.

    ``meta`` holds what the clerk has typed so far (it overrides the stored metadata).
    """
    merged = {**(doc.get("metadata") or {}), **{k: v for k, v in (meta or {}).items() if v}}
    linked = matching.linked_entry(catalog, doc["id"])
    chosen = None
    if merged.get("register_entry_id"):
        try:
            chosen = matching.entry(catalog, int(merged["register_entry_id"]))
        except (KeyError, ValueError):
            chosen = None
    cands = matching.candidates_for(catalog, merged) if _has_registers(catalog) else []
    entry = linked or chosen or next((c.entry for c in cands if c.exact), None)
    verdict = selection.check(
        selection.all_rules(catalog, settings),
        date=merged.get("date"),
        doc_type=str(merged.get("doc_type") or ""),
        direction=entry["direction"] if entry else None,
    )
    return {
        "linked": linked,
        "chosen": chosen,
        "candidates": [c.to_dict() for c in cands],
        "selection": verdict.to_dict(),
        "custody": history(catalog, document_id=doc["id"]),
    }


def choose_entry(catalog: Catalog, doc_id: str, entry_id: int | None, actor: str) -> None:
    """The clerk says which register entry this document is (None: none of them).

    Before sealing the choice is kept in the metadata and applied at sealing; after
    sealing the link is made at once.
    """
    doc = catalog.get_document(doc_id)
    if entry_id is not None:
        entry = matching.entry(catalog, entry_id)
        if entry["document_id"] and entry["document_id"] != doc_id:
            raise KioskError(
                "entry_already_linked",
                f"register entry {entry_id} is already the scan of document {entry['document_id']}",
                f"Dòng sổ này đã gắn với tài liệu {entry['document_id']}.",
            )
    meta = {**(doc.get("metadata") or {}), "register_entry_id": entry_id}
    if entry_id is None:
        meta.pop("register_entry_id")
    with catalog.transaction():
        catalog.update_document(doc_id, actor, "register.choose", metadata=meta)
        if entry_id is not None:
            catalog.db.execute(
                "UPDATE custody SET entry_id = ? WHERE document_id = ? AND returned_at IS NULL",
                [entry_id, doc_id],
            )
        sealed = doc["state"] in ("sealed", "queued", "delivered", "exported", "purged")
        if sealed and entry_id is not None:
            matching.link(catalog, entry_id, doc_id, actor, score=1.0, how="clerk")


def after_seal(catalog: Catalog, settings: Any, doc: dict[str, Any], actor: str) -> dict[str, Any]:
    """Link the sealed document to its register entry; audit it when outside the selection."""
    try:
        return _after_seal(catalog, settings, doc, actor)
    except Exception as exc:  # the PDF is sealed; the register must not undo that
        log.exception("register step after sealing %s failed", doc["id"])
        catalog.audit(actor, "register.error", doc["id"], error=f"{type(exc).__name__}: {exc}")
        return {"linked": None, "error": str(exc)}


def _after_seal(catalog: Catalog, settings: Any, doc: dict[str, Any], actor: str) -> dict[str, Any]:
    meta = doc.get("metadata") or {}
    linked = None
    if _has_registers(catalog):
        chosen = meta.get("register_entry_id")
        if chosen:
            try:
                linked = matching.link(
                    catalog, int(chosen), doc["id"], actor, score=1.0, how="clerk"
                )
            except KioskError as exc:
                catalog.audit(
                    actor,
                    "register.match_conflict",
                    doc["id"],
                    entry_id=chosen,
                    error=exc.message_en,
                )
        else:
            cands = matching.candidates_for(catalog, meta)
            exact = [c for c in cands if c.exact]
            free = [c for c in exact if c.entry["document_id"] in (None, doc["id"])]
            if len(exact) == 1 and free:
                c = free[0]
                linked = matching.link(
                    catalog, c.entry["id"], doc["id"], actor, score=c.score, how="auto"
                )
            elif exact and not free:
                catalog.audit(
                    actor,
                    "register.match_conflict",
                    doc["id"],
                    entry_id=exact[0].entry["id"],
                    other_document=exact[0].entry["document_id"],
                )
            elif cands:
                catalog.audit(
                    actor,
                    "register.match_ambiguous",
                    doc["id"],
                    candidates=[[c.entry["id"], round(c.score, 3)] for c in cands],
                )
    verdict = selection.check(
        selection.all_rules(catalog, settings),
        date=meta.get("date"),
        doc_type=str(meta.get("doc_type") or ""),
        direction=linked["direction"] if linked else None,
    )
    if verdict.inside is False:
        catalog.audit(actor, "selection.outside", doc["id"], warning=verdict.message_en)
    return {"linked": linked, "selection": verdict.to_dict()}
