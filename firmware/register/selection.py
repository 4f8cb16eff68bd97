"""Selection rules: which periods, document types and directions are to be digitized.

The backlog is digitized selectively ("không số hóa tràn lan"): the archivist chooses
periods and types worth the effort. Rules come from ``[selection]`` in the configuration
(pushed by the fleet) and from the catalog (``sohoa register select add``); a document is
inside the selection when any rule takes it, and everything is inside when there is no
rule at all. The kiosk warns (it never refuses) when a document outside is being sealed,
and the sealing of such a document is audited.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from firmware.metadata.types import registry
from firmware.register.errors import RegisterFileError
from firmware.register.periods import parse_directions, parse_periods, period_bound
from firmware.store.catalog import Catalog, NotFound, utcnow
from firmware.store.textfold import nfc


@dataclass(frozen=True)
class Rule:
    date_from: dt.date | None
    date_to: dt.date | None
    doc_types: frozenset[str]  # empty: every type
    direction: str | None  # None: both registers
    source: str  # "config" or "catalog"
    id: int | None = None

    def takes(self, date: dt.date | None, doc_type: str, direction: str | None) -> bool:
        if date is not None:
            if self.date_from and date < self.date_from:
                return False
            if self.date_to and date > self.date_to:
                return False
        if self.doc_types and doc_type and doc_type not in self.doc_types:
            return False
        return not (self.direction and direction and direction != self.direction)

    def describe(self, lang: str = "vi") -> str:
        def d(x: dt.date | None) -> str:
            return x.strftime("%d/%m/%Y") if x else "…"

        types = ", ".join(sorted(self.doc_types)) or ("mọi loại" if lang == "vi" else "any type")
        if lang == "vi":
            way = {"in": "văn bản đến", "out": "văn bản đi"}.get(self.direction or "", "đến và đi")
            return f"{d(self.date_from)} – {d(self.date_to)}; {types}; {way}"
        way = {"in": "incoming", "out": "outgoing"}.get(self.direction or "", "both")
        return f"{d(self.date_from)} – {d(self.date_to)}; {types}; {way}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "doc_types": sorted(self.doc_types),
            "direction": self.direction,
            "text_vi": self.describe("vi"),
            "text_en": self.describe("en"),
        }


def parse_types(spec: str, types: str = "", *, strict: bool = True) -> frozenset[str]:
    """Type codes of "NQ, Quyết định, QD" (canonical codes); unknown ones raise when
    ``strict``, else are kept as written (a type the fleet adds later)."""
    reg = registry(types)
    out = set()
    for raw in re.split(r"[;,]", spec or ""):
        if raw.strip():
            known = reg.lookup(raw.strip())
            if known is None and strict:
                raise ValueError(f"unknown document type {raw.strip()!r}")
            out.add(known.code if known else nfc(raw.strip()))
    return frozenset(out)


def config_rules(cfg: Any, types: str = "") -> list[Rule]:
    """Rules of ``[selection]``: every period x the types x the directions."""
    if cfg is None or not (cfg.periods or cfg.document_types or cfg.directions):
        return []
    periods = parse_periods(cfg.periods) or [(None, None)]
    kinds = parse_types(cfg.document_types, types, strict=False)
    return [
        Rule(lo, hi, kinds, way, "config")
        for lo, hi in periods
        for way in parse_directions(cfg.directions)
    ]


def catalog_rules(catalog: Catalog) -> list[Rule]:
    out = []
    for r in catalog.db.query("SELECT * FROM selection_rules ORDER BY id"):
        out.append(
            Rule(
                dt.date.fromisoformat(r["date_from"]) if r["date_from"] else None,
                dt.date.fromisoformat(r["date_to"]) if r["date_to"] else None,
                frozenset(t for t in r["doc_types"].split(",") if t),
                r["direction"],
                "catalog",
                r["id"],
            )
        )
    return out


def all_rules(catalog: Catalog, settings: Any) -> list[Rule]:
    return config_rules(
        getattr(settings, "selection", None), settings.metadata.document_types
    ) + catalog_rules(catalog)


def add_rule(
    catalog: Catalog,
    actor: str,
    *,
    date_from: str = "",
    date_to: str = "",
    doc_types: str = "",
    direction: str | None = None,
    types: str = "",
) -> Rule:
    try:
        lo = period_bound(date_from, False) if date_from else None
        hi = period_bound(date_to, True) if date_to else None
        kinds = parse_types(doc_types, types)
        if direction not in (None, "", "in", "out"):
            raise ValueError("direction must be in or out")
    except ValueError as exc:
        raise RegisterFileError(
            "bad_rule", f"selection rule: {exc}", f"Quy tắc lựa chọn không hợp lệ: {exc}"
        ) from None
    if lo and hi and lo > hi:
        raise RegisterFileError(
            "bad_rule",
            "the period ends before it starts",
            "Khoảng thời gian kết thúc trước khi bắt đầu.",
        )
    with catalog.transaction() as db:
        cur = db.execute(
            "INSERT INTO selection_rules (date_from, date_to, doc_types, direction, created_at, "
            "created_by) VALUES (?,?,?,?,?,?)",
            [
                lo.isoformat() if lo else None,
                hi.isoformat() if hi else None,
                ",".join(sorted(kinds)),
                direction or None,
                utcnow(),
                actor,
            ],
        )
        rule = Rule(lo, hi, kinds, direction or None, "catalog", cur.lastrowid)
        catalog.audit(actor, "selection.add", None, **rule.to_dict())
    return rule


def remove_rule(catalog: Catalog, actor: str, rule_id: int) -> None:
    with catalog.transaction() as db:
        if db.execute("DELETE FROM selection_rules WHERE id = ?", [rule_id]).rowcount == 0:
            raise NotFound(f"selection rule {rule_id} not found")
        catalog.audit(actor, "selection.remove", None, rule_id=rule_id)


@dataclass(frozen=True)
class Verdict:
    inside: bool | None  # None: cannot tell yet (no date)
    message_vi: str
    message_en: str

    def to_dict(self) -> dict[str, Any]:
        return {"inside": self.inside, "message_vi": self.message_vi, "message_en": self.message_en}


def check(
    rules: list[Rule], *, date: Any, doc_type: str = "", direction: str | None = None
) -> Verdict:
    """Is a document of this date, type and direction inside the selection?"""
    if not rules:
        return Verdict(True, "", "")
    when: dt.date | None
    if isinstance(date, dt.date):
        when = date
    else:
        try:
            when = dt.date.fromisoformat(str(date)) if date else None
        except ValueError:
            when = None
    if when is None:
        return Verdict(None, "", "")
    if any(r.takes(when, doc_type or "", direction) for r in rules):
        return Verdict(True, "", "")
    chosen_vi = "; ".join(r.describe("vi") for r in rules)
    chosen_en = "; ".join(r.describe("en") for r in rules)
    what = f"{doc_type + ' ' if doc_type else ''}{when:%d/%m/%Y}"
    return Verdict(
        False,
        f"Văn bản ({what}) nằm ngoài danh mục được chọn để số hóa ({chosen_vi}). "
        "Vẫn có thể lưu, việc này sẽ được ghi nhật ký.",
        f"This document ({what}) is outside the selection chosen for digitization "
        f"({chosen_en}). It can still be saved; this is recorded in the audit log.",
    )
