"""Matching a scanned document to its register entry: number/symbol + date, OCR-tolerant.

Candidates are entries whose number/symbol key (:mod:`firmware.register.keys`) equals the
document's, or that carry the same date. Each gets a score in 0..1 from the similarity of
the keys (rapidfuzz), the date (equal, or one digit off: an OCR slip) and, when both sides
have one, the subject. An *exact* candidate has the same key and the same date. At sealing
the one exact candidate not yet linked elsewhere is linked automatically; anything less
certain is left for the clerk, who sees the candidates on the review screen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from firmware.errors import KioskError
from firmware.metadata.numbering import number_symbol_of
from firmware.register.keys import number_symbol_key, text_key
from firmware.store.catalog import Catalog, NotFound, utcnow

#: Below this score a candidate is not worth showing.
MIN_SCORE = 0.55
MAX_CANDIDATES = 5
_SCAN_LIMIT = 400


@dataclass(frozen=True)
class Candidate:
    entry: dict[str, Any]
    score: float
    exact: bool

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.entry, "score": round(self.score, 3), "exact": self.exact}


def _iso(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value or "")


def _date_score(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    return 0.5 if Levenshtein.distance(a.replace("-", ""), b.replace("-", "")) == 1 else 0.0


def _entry_view(row: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "id",
        "register_id",
        "register",
        "direction",
        "entry_no",
        "number_symbol",
        "date",
        "doc_type",
        "issuer",
        "subject",
        "confidentiality",
        "document_id",
        "match_score",
    )
    return {k: row.get(k) for k in keep}


def candidates(
    catalog: Catalog,
    *,
    number_symbol: str = "",
    date: Any = None,
    subject: str = "",
    limit: int = MAX_CANDIDATES,
) -> list[Candidate]:
    """Register entries that may be this document, best first."""
    key = number_symbol_key(number_symbol)
    iso = _iso(date)
    if not key and not iso:
        return []
    where, args = [], []
    if key:
        where.append("e.ns_key = ?")
        args.append(key)
    if iso:
        where.append("e.date = ?")
        args.append(iso)
    rows = catalog.db.query(
        "SELECT e.*, r.name AS register, r.direction FROM register_entries e "
        "JOIN registers r ON r.id = e.register_id "
        f"WHERE {' OR '.join(where)} LIMIT {_SCAN_LIMIT}",
        args,
    )
    subj = text_key(subject)
    out = []
    for row in rows:
        s_key = fuzz.ratio(key, row["ns_key"]) / 100 if key and row["ns_key"] else 0.0
        s_date = _date_score(iso, row["date"])
        if subj and row["subject"]:
            s_text = fuzz.token_set_ratio(subj, text_key(row["subject"])) / 100
            score = 0.55 * s_key + 0.3 * s_date + 0.15 * s_text
        else:
            score = 0.6 * s_key + 0.4 * s_date
        exact = bool(key) and key == row["ns_key"] and iso == row["date"]
        if exact or score >= MIN_SCORE:
            out.append(Candidate(_entry_view(row), score, exact))
    out.sort(key=lambda c: (not c.exact, -c.score, c.entry["id"]))
    return out[:limit]


def candidates_for(catalog: Catalog, meta: dict[str, Any]) -> list[Candidate]:
    return candidates(
        catalog,
        number_symbol=number_symbol_of(meta),
        date=meta.get("date"),
        subject=str(meta.get("subject") or ""),
    )


def entry(catalog: Catalog, entry_id: int) -> dict[str, Any]:
    rows = list(
        catalog.db.query(
            "SELECT e.*, r.name AS register, r.direction FROM register_entries e "
            "JOIN registers r ON r.id = e.register_id WHERE e.id = ?",
            [entry_id],
        )
    )
    if not rows:
        raise NotFound(f"register entry {entry_id} not found")
    return _entry_view(rows[0])


def linked_entry(catalog: Catalog, doc_id: str) -> dict[str, Any] | None:
    row = catalog.db.execute(
        "SELECT id FROM register_entries WHERE document_id = ?", [doc_id]
    ).fetchone()
    return entry(catalog, row[0]) if row else None


def link(
    catalog: Catalog, entry_id: int, doc_id: str, actor: str, *, score: float, how: str
) -> dict[str, Any]:
    """Link entry and document (audited); an entry linked to another document is refused."""
    with catalog.transaction() as db:
        row = db.execute(
            "SELECT document_id FROM register_entries WHERE id = ?", [entry_id]
        ).fetchone()
        if row is None:
            raise NotFound(f"register entry {entry_id} not found")
        if row[0] and row[0] != doc_id:
            raise KioskError(
                "entry_already_linked",
                f"register entry {entry_id} is already the scan of document {row[0]}",
                f"Dòng sổ này đã gắn với tài liệu {row[0]} (văn bản này đã được số hóa?).",
            )
        db.execute(
            "UPDATE register_entries SET document_id = NULL, match_score = NULL, "
            "matched_at = NULL, matched_by = NULL WHERE document_id = ? AND id != ?",
            [doc_id, entry_id],
        )
        db.execute(
            "UPDATE register_entries SET document_id = ?, match_score = ?, matched_at = ?, "
            "matched_by = ? WHERE id = ?",
            [doc_id, round(score, 3), utcnow(), actor, entry_id],
        )
        db.execute(
            "UPDATE custody SET entry_id = ? WHERE document_id = ? AND returned_at IS NULL",
            [entry_id, doc_id],
        )
        catalog.audit(actor, "register.link", doc_id, entry_id=entry_id, score=score, how=how)
    return entry(catalog, entry_id)
