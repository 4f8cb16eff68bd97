"""Reading a document's metadata from its first page, for the review screen.

Page 1's stored OCR words go through :func:`firmware.metadata.extract.extract_fields`
(with the document types of the settings and the issuing bodies the kiosk knows by
name); values a QR cover sheet gave the document win over what OCR read. The document
flow caches this reading when the document enters review, and the review form opens
from the cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from firmware.config import Settings
from firmware.coversheet.actions import confirmed_fields
from firmware.errors import KioskError
from firmware.metadata.extract import extract_fields
from firmware.metadata.party_codes import PartyCodesError, load_party_codes
from firmware.metadata.review import review_form
from firmware.metadata.types import registry
from firmware.store.catalog import Catalog
from firmware.store.states import PageState


class PageOneReader:
    """Reads page 1 of a document (:meth:`extract`) and fills the review form with it."""

    def __init__(self, catalog: Catalog, settings: Settings):
        self.catalog = catalog
        self.settings = settings

    def known_issuers(self) -> list[str]:
        """Issuing bodies the kiosk knows by name: the register's issuers and the names of
        the Party organization list; the reader snaps a close reading to one of them."""
        rows = self.catalog.db.execute(
            "SELECT DISTINCT issuer FROM register_entries WHERE issuer != '' LIMIT 5000"
        ).fetchall()
        names = [r[0] for r in rows]
        if self.settings.metadata.party_codes_file:
            try:
                names += list(
                    load_party_codes(self.settings.metadata.party_codes_file).names.values()
                )
            except PartyCodesError:
                pass  # sealing reports an unreadable list; reading page 1 goes on without it
        return names

    def extract(self, doc_id: str) -> dict[str, Any]:
        """Fields read from page 1's stored OCR words, for the review screen to pre-fill.

        Returns ``{"fields": {name: {"value", "confidence"}}, "metadata": {...},
        "low_confidence": [names], "page_id": ...}``; ``metadata`` uses the model's keys
        (``doc_type`` code, ``number``, ``symbol``, ``date``...), ready for sealing.
        Raises :class:`KioskError` when page 1 is not processed yet.
        """
        pages = self.catalog.pages(doc_id)
        first = pages[0] if pages else None
        if first is None or first["state"] != PageState.DONE or not first.get("ocr_path"):
            raise KioskError(
                "page_not_ready",
                "Page 1 is not processed yet; metadata can be read once it is.",
                "Trang 1 chưa xử lý xong; hãy đợi rồi đọc lại thông tin.",
            )
        ocr = json.loads(Path(first["ocr_path"]).read_text(encoding="utf-8"))
        width, height = ocr.get("width"), ocr.get("height")  # OCR pixel space
        ext = extract_fields(
            ocr.get("words", []),
            page_width=width,
            page_height=height,
            types=registry(self.settings.metadata.document_types),
            issuers=self.known_issuers(),
        )
        result = {
            "page_id": first["id"],
            "fields": ext.to_dict(),
            "metadata": ext.to_metadata(),
            "low_confidence": ext.low_confidence(self.settings.metadata.low_confidence),
        }
        # Values read from a QR cover sheet are confirmed, not guessed: they win over OCR.
        return confirmed_fields(result, self.catalog.get_document(doc_id)["metadata"] or {})

    def review_form(self, doc_id: str) -> dict[str, Any]:
        """The review form pre-filled (see :func:`firmware.metadata.review.review_form`);
        page 1 is read now only when no reading was cached."""
        pages = self.catalog.pages(doc_id)
        ready = bool(pages) and pages[0]["state"] == PageState.DONE
        return review_form(self.catalog, self.settings, doc_id, self.extract, page_ready=ready)
