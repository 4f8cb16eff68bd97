"""The uplink's last check of the confidentiality rule, just before each request.

Routing and the catalog already keep classified documents out of the outbox; this layer
does not trust them. Immediately before every request of an upload (create, HEAD, each
chunk, the receipt) it reads the document's stored level from the catalog and the level
written in the sealed PDF's own XMP. Anything but an ordinary level on both - including a
file whose XMP cannot be read - stops the upload: the row leaves the outbox, the document
goes back to ``sealed`` (waiting for the secure USB export when it is classified), a level
the XMP proves is stored as the document's level, and ``uplink.refused_confidential`` is
audited. The hub answering ``classified_refused`` is handled the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from firmware.classification import set_level
from firmware.errors import KioskError
from firmware.routing import Level, parse_level
from firmware.store.catalog import Catalog
from firmware.store.states import DocState
from provisioning.schemas import E_CLASSIFIED, ORDINARY_LEVEL, may_cross_wan, xmp_confidentiality

log = logging.getLogger("sohoa.uplink")

#: How the uplink client names the hub's refusal (``hub_`` + the hub's code).
HUB_REFUSED_CLASSIFIED = f"hub_{E_CLASSIFIED}"
ACTOR = "uplink"


class ClassifiedRefused(KioskError):
    """The document may not cross the WAN: its stored level or its XMP says so."""

    def __init__(self, doc_id: str, by: str, stored: str | None, in_xmp: str | None):
        super().__init__(
            "refused_confidential",
            f"Document {doc_id} was not sent: it is not an ordinary document "
            f"(stored level {stored!r}, XMP {in_xmp!r}, checked by {by}). It waits on this "
            "kiosk for export to a secure USB stick.",
            "Tài liệu mật không được gửi qua mạng; tài liệu đã được rút khỏi hàng chờ gửi "
            "và chờ xuất ra USB bảo mật.",
        )
        self.doc_id, self.by, self.stored, self.in_xmp = doc_id, by, stored, in_xmp


class SendGuard:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def check(self, doc_id: str, path: Path) -> str:
        """The document's level if it may be sent now; raises :class:`ClassifiedRefused`."""
        row = self.catalog.db.execute(
            "SELECT confidentiality FROM documents WHERE id = ?", [doc_id]
        ).fetchone()
        stored = row[0] if row else None
        in_xmp = xmp_confidentiality(path)
        if not may_cross_wan(stored):
            raise ClassifiedRefused(doc_id, "catalog", stored, in_xmp)
        if not may_cross_wan(in_xmp):
            raise ClassifiedRefused(doc_id, "xmp", stored, in_xmp)
        return ORDINARY_LEVEL

    def refuse(self, doc_id: str, refusal: ClassifiedRefused) -> None:
        """Take the document off the WAN path, in one transaction with its audit record."""
        cat = self.catalog
        evidence = _known_level(refusal.in_xmp)
        with cat.transaction() as db:
            db.execute(
                "DELETE FROM outbox WHERE document_id = ? AND delivered_at IS NULL", [doc_id]
            )
            doc = cat.get_document(doc_id)
            if doc["state"] == DocState.QUEUED:
                cat.transition_document(
                    doc_id,
                    DocState.SEALED,
                    ACTOR,
                    reason="refused by the uplink's confidentiality check; not sent",
                )
            if evidence is not None and evidence != Level.THUONG:
                set_level(cat, doc_id, evidence, ACTOR, source="xmp", evidence=True)
            details: dict[str, Any] = {
                "checked_by": refusal.by,
                "stored_level": refusal.stored,
                "xmp_level": refusal.in_xmp,
            }
            cat.audit(ACTOR, "uplink.refused_confidential", doc_id, None, **details)
        log.error("refused to send %s: %s", doc_id, refusal.message_en)


def _known_level(value: str | None) -> Level | None:
    try:
        return parse_level(value) if value else None
    except KioskError:
        return None
