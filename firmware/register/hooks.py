"""What one document does with the register: the review screen's look-up and the step
after sealing (link to the register entry, audit a document outside the selection).

Sealing never fails because of the register: :func:`after_seal` records its own problems
in the audit log and returns, since the archival PDF is already durable at that point.
"""

from __future__ import annotations

import logging
from typing import Any

from firmware.classification import set_level
from firmware.errors import KioskError
from firmware.register import matching, selection
from firmware.register.custody import history
from firmware.routing import Level
from firmware.store.catalog import Catalog
from firmware.store.states import DOC_DIGITIZED, DOC_LEFT_THE_KIOSK

log = logging.getLogger("sohoa.register")

#: Metadata key set when the clerk said the document is none of the register's suggestions:
#: nothing is then linked automatically at sealing, and the form is not filled from one.
NO_ENTRY_KEY = "register_none"


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
        "none_chosen": bool(merged.get(NO_ENTRY_KEY)),
    }


def _entry_for(catalog: Catalog, doc: dict[str, Any]) -> dict[str, Any] | None:
    """The register entry this document is: linked, chosen by the clerk, or the one free
    exact match (the entry :func:`after_seal` would link)."""
    linked = matching.linked_entry(catalog, doc["id"])
    if linked is not None:
        return linked
    meta = doc.get("metadata") or {}
    if meta.get("register_entry_id"):
        try:
            return matching.entry(catalog, int(meta["register_entry_id"]))
        except (KeyError, ValueError):
            return None
    if not _has_registers(catalog):
        return None
    exact = [c for c in matching.candidates_for(catalog, meta) if c.exact]
    free = [c for c in exact if c.entry["document_id"] in (None, doc["id"])]
    return free[0].entry if len(exact) == 1 and free else None


def register_level(catalog: Catalog, doc: dict[str, Any]) -> str | None:
    """The confidentiality level the register gives this document, when it names one
    above ordinary: sealing raises the document's level to it before routing."""
    entry = _entry_for(catalog, doc)
    level = (entry or {}).get("confidentiality")
    return level if level and level != Level.THUONG.value else None


def choose_entry(catalog: Catalog, doc_id: str, entry_id: int | None, actor: str) -> None:
    """The clerk says which register entry this document is (None: none of them).

    Before sealing the choice is kept in the metadata and applied at sealing; after
    sealing the link is made at once.
    """
    doc = catalog.get_document(doc_id)
    if doc["state"] in DOC_LEFT_THE_KIOSK:
        # What was delivered or exported named its register entry; changing it here would
        # make the kiosk's record disagree with the copy the archive holds.
        raise KioskError(
            "document_left_kiosk",
            f"Document {doc_id} is {doc['state']}: its register entry can no longer change.",
            f"Tài liệu {doc_id} đã được gửi/xuất đi; không đổi được dòng sổ đã gắn.",
            status=409,
        )
    if entry_id is not None:
        entry = matching.entry(catalog, entry_id)
        if entry["document_id"] and entry["document_id"] != doc_id:
            raise KioskError(
                "entry_already_linked",
                f"register entry {entry_id} is already the scan of document {entry['document_id']}",
                f"Dòng sổ này đã gắn với tài liệu {entry['document_id']}.",
            )
    meta = {**(doc.get("metadata") or {}), "register_entry_id": entry_id}
    meta.pop(NO_ENTRY_KEY, None)
    if entry_id is None:
        meta.pop("register_entry_id")
        meta[NO_ENTRY_KEY] = True
    with catalog.transaction():
        catalog.update_document(doc_id, actor, "register.choose", metadata=meta)
        if entry_id is not None and entry.get("confidentiality") not in (None, "thuong"):
            # The register says Mật: the document is classified from now on, stored once.
            set_level(
                catalog, doc_id, entry["confidentiality"], actor, source="register", evidence=True
            )
        if entry_id is not None:
            catalog.db.execute(
                "UPDATE custody SET entry_id = ? WHERE document_id = ? AND returned_at IS NULL",
                [entry_id, doc_id],
            )
        sealed = doc["state"] in DOC_DIGITIZED
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
        elif not meta.get(NO_ENTRY_KEY):
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
