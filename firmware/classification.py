"""Setting a document's confidentiality level: the one function every path goes through.

The level is stored once, in the catalog's ``documents.confidentiality`` column; routing,
the outbox, the catalog's triggers, the export selection, the screen's "where it goes next",
the XMP of the sealed file and the hub's metadata all read that column. Every path that
sets it - the review screen's four buttons, ``sohoa scan --level``, a QR cover sheet, a
register entry, an archivist's reclassification, the uplink's and recovery's evidence -
calls :func:`set_level`, which applies the rules below and writes the level with its
audit record (and, after sealing, the outbox change) in one transaction.

Rules:
- raising a level before sealing is anyone's act (the page, the sheet or the register
  says it); after sealing only an archivist changes a level;
- lowering a level (Mật -> Thường, Tuyệt mật -> anything) needs an archivist and a reason,
  so a Tuyệt mật declaration sticks until an archivist lowers it;
- a document made classified while waiting in the outbox leaves it (queued -> sealed); one
  the hub already holds is an incident, reported plainly in the result and the audit log;
- internal evidence (the XMP of a sealed file, a register entry) may only raise a level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmware.errors import KioskError
from firmware.routing import Level, is_lowering, parse_level, stricter
from firmware.store.catalog import Catalog
from firmware.store.states import DOC_BEFORE_SEAL, DocState
from firmware.visibility import CLASSIFIED_ROLE


@dataclass(frozen=True)
class LevelChange:
    doc_id: str
    before: Level
    after: Level
    changed: bool
    pulled_from_outbox: bool = False  # was waiting for the WAN; now waits for USB export
    delivered_incident: bool = False  # the hub already holds it: an incident

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "from": self.before.value,
            "to": self.after.value,
            "changed": self.changed,
            "pulled_from_outbox": self.pulled_from_outbox,
            "delivered_incident": self.delivered_incident,
        }


def role_of(catalog: Catalog, actor: str) -> str | None:
    """The role of a signed-in operator's code; None for processes (cli, recovery, ...)."""
    row = catalog.db.execute(
        "SELECT role FROM operators WHERE code = ? AND disabled = 0", [actor]
    ).fetchone()
    return row[0] if row else None


def _needs_archivist(what_en: str, what_vi: str) -> KioskError:
    return KioskError(
        "needs_archivist",
        f"Only an archivist may {what_en}.",
        f"Chỉ lưu trữ viên mới được {what_vi}.",
        status=403,
    )


def check_change(
    before: Level, after: Level, *, state: str, role: str | None, reason: str, evidence: bool
) -> None:
    """Raise unless this change of level is allowed (the rules in the module docstring)."""
    if DocState(state) == DocState.DISCARDED:
        raise KioskError(
            "document_discarded",
            "This document was discarded.",
            "Tài liệu này đã bị hủy.",
        )
    lowering = is_lowering(before, after)
    if evidence:
        if lowering:
            raise ValueError("evidence may only raise a level")
        return
    archivist = role == CLASSIFIED_ROLE
    if lowering and not archivist:
        raise _needs_archivist(
            "lower the confidentiality level of a document",
            "hạ độ mật của tài liệu",
        )
    if lowering and not reason.strip():
        raise KioskError(
            "reason_required",
            "Lowering the confidentiality level needs a reason.",
            "Hạ độ mật cần ghi rõ lý do.",
            status=422,
        )
    if after == Level.TUYET_MAT and DocState(state) not in DOC_BEFORE_SEAL:
        raise KioskError(
            "top_secret_after_seal",
            "A saved document cannot be declared top secret; classify it Secret (Tối mật) "
            "and report it to the security officer.",
            "Tài liệu đã lưu không thể chuyển thành Tuyệt mật; hãy chọn Tối mật và báo cáo "
            "cán bộ phụ trách bảo mật.",
            status=422,
        )
    if DocState(state) not in DOC_BEFORE_SEAL and not archivist:
        raise _needs_archivist(
            "change the confidentiality level of a saved document",
            "thay đổi độ mật của tài liệu đã lưu",
        )


def set_level(
    catalog: Catalog,
    doc_id: str,
    level: Level | str | None,
    actor: str,
    *,
    source: str,
    reason: str = "",
    evidence: bool = False,
) -> LevelChange:
    """Store ``level`` as the document's one confidentiality level, under the rules.

    ``source`` says which path set it (review, cli, coversheet, register, reclassify,
    uplink, recovery) and goes into the audit record; ``evidence`` marks internal
    callers that found proof of a higher level (they may only raise it). Joins the
    caller's transaction when there is one, so sealing writes the level and the move to
    ``sealing`` together.
    """
    after = parse_level(level)
    with catalog.transaction() as db:
        row = db.execute(
            "SELECT confidentiality, state FROM documents WHERE id = ?", [doc_id]
        ).fetchone()
        if row is None:
            from firmware.store.catalog import NotFound

            raise NotFound(f"document {doc_id} not found")
        before, state = parse_level(row[0]), row[1]
        if evidence:  # proof of a level never lowers one
            after = stricter(before, after)
        if after == before:
            return LevelChange(doc_id, before, after, changed=False)
        role = None if evidence else role_of(catalog, actor)
        check_change(before, after, state=state, role=role, reason=reason, evidence=evidence)
        pulled = incident = False
        if after != Level.THUONG:
            out = db.execute(
                "SELECT delivered_at FROM outbox WHERE document_id = ?", [doc_id]
            ).fetchone()
            if out is not None and out[0] is None:
                # Still waiting for the WAN: out of the outbox, back to sealed for export.
                db.execute("DELETE FROM outbox WHERE document_id = ?", [doc_id])
                if state == DocState.QUEUED:
                    catalog.transition_document(
                        doc_id,
                        DocState.SEALED,
                        actor,
                        reason=f"classified {after.value}: taken out of the upload queue",
                    )
                pulled = True
            elif out is not None:  # the hub already holds it: too late, say so
                incident = True
        db.execute("UPDATE documents SET confidentiality = ? WHERE id = ?", [after.value, doc_id])
        details: dict[str, Any] = {
            "from": before.value,
            "to": after.value,
            "source": source,
            "state": state,
        }
        if reason.strip():
            details["reason"] = reason.strip()
        if pulled:
            details["pulled_from_outbox"] = True
        catalog.audit(actor, "document.classify", doc_id, None, **details)
        if incident:
            catalog.audit(
                actor,
                "incident.classified_delivered",
                doc_id,
                None,
                level=after.value,
                message="the document was already delivered over the WAN before it was "
                "classified; report it to the security officer",
            )
    return LevelChange(doc_id, before, after, True, pulled, incident)
