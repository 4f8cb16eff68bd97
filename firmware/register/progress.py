"""Progress against the register: digitized / total per register, year and document type.

An entry counts as digitized once it is linked to a document that is sealed (or further:
queued, delivered, exported, purged). "Tuyệt mật" entries are never digitized, so they are
left out of the totals and counted apart. The summary is the sentence archivists report:
"5914/9396 văn bản đến, 2700/3176 văn bản đi đã được số hóa (2020-2025)".
"""

from __future__ import annotations

from typing import Any

from firmware.register.selection import Rule
from firmware.store.catalog import Catalog
from firmware.store.states import DOC_DIGITIZED

#: states.DOC_DIGITIZED as SQL arguments (one definition, in firmware.store.states)
DIGITIZED_STATES = tuple(sorted(DOC_DIGITIZED))
_DIR_VI = {"in": "văn bản đến", "out": "văn bản đi"}
_DIR_EN = {"in": "incoming", "out": "outgoing"}


def _rules_sql(rules: list[Rule]) -> tuple[str, list[Any]]:
    """SQL condition (on ``e`` joined with ``r``) for entries inside the selection."""
    if not rules:
        return "1", []
    parts, args = [], []
    for rule in rules:
        cond, a = [], []
        if rule.date_from:
            cond.append("e.date >= ?")
            a.append(rule.date_from.isoformat())
        if rule.date_to:
            cond.append("e.date <= ?")
            a.append(rule.date_to.isoformat())
        if rule.doc_types:
            cond.append(f"e.doc_type IN ({','.join('?' * len(rule.doc_types))})")
            a.extend(sorted(rule.doc_types))
        if rule.direction:
            cond.append("r.direction = ?")
            a.append(rule.direction)
        parts.append("(" + (" AND ".join(cond) or "1") + ")")
        args.extend(a)
    return "(" + " OR ".join(parts) + ")", args


def register_progress(
    catalog: Catalog,
    *,
    register: str | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
    rules: list[Rule] | None = None,
) -> dict[str, Any]:
    """Totals per register (with per-year and per-type rows), per direction, and the summary."""
    where = ["e.confidentiality != 'tuyet_mat'"]
    args: list[Any] = []
    if register:
        where.append("r.name = ?")
        args.append(register)
    if year_from:
        where.append("e.year >= ?")
        args.append(year_from)
    if year_to:
        where.append("e.year <= ?")
        args.append(year_to)
    sel_sql, sel_args = _rules_sql(rules or [])
    marks = ",".join("?" * len(DIGITIZED_STATES))
    sql = (
        "SELECT r.id, r.name, r.direction, e.year, e.doc_type, COUNT(*) AS total, "
        f"SUM(d.state IN ({marks})) AS done, SUM({sel_sql}) AS selected, "
        f"SUM({sel_sql} AND NOT COALESCE(d.state IN ({marks}), 0)) AS selected_left "
        "FROM register_entries e JOIN registers r ON r.id = e.register_id "
        "LEFT JOIN documents d ON d.id = e.document_id "
        f"WHERE {' AND '.join(where)} GROUP BY r.id, e.year, e.doc_type ORDER BY r.name, e.year"
    )
    all_args = [*DIGITIZED_STATES, *sel_args, *sel_args, *DIGITIZED_STATES, *args]
    registers: dict[int, dict[str, Any]] = {}
    for rid, name, direction, year, doc_type, total, done, selected, left in catalog.db.execute(
        sql, all_args
    ):
        done = done or 0
        reg = registers.setdefault(
            rid,
            {
                "id": rid,
                "name": name,
                "direction": direction,
                "total": 0,
                "digitized": 0,
                "selected": 0,
                "selected_remaining": 0,
                "years": {},
                "types": {},
            },
        )
        reg["total"] += total
        reg["digitized"] += done
        reg["selected"] += selected or 0
        reg["selected_remaining"] += left or 0
        for bucket, key in (("years", year), ("types", doc_type or "")):
            b = reg[bucket].setdefault(key, {"total": 0, "digitized": 0})
            b["total"] += total
            b["digitized"] += done
    out_regs = []
    for reg in registers.values():
        reg["remaining"] = reg["total"] - reg["digitized"]
        reg["years"] = [
            {"year": y, **v, "remaining": v["total"] - v["digitized"]}
            for y, v in sorted(reg["years"].items())
        ]
        reg["types"] = [
            {"doc_type": t, **v, "remaining": v["total"] - v["digitized"]}
            for t, v in sorted(reg["types"].items(), key=lambda kv: (-kv[1]["total"], kv[0]))
        ]
        out_regs.append(reg)
    directions: dict[str, dict[str, int]] = {}
    for reg in out_regs:
        d = directions.setdefault(reg["direction"], {"total": 0, "digitized": 0})
        d["total"] += reg["total"]
        d["digitized"] += reg["digitized"]
    years = [y["year"] for reg in out_regs for y in reg["years"]]
    span = (min(years), max(years)) if years else None
    top_secret = catalog.db.execute(
        "SELECT COUNT(*) FROM register_entries e JOIN registers r ON r.id = e.register_id "
        f"WHERE e.confidentiality = 'tuyet_mat'{' AND r.name = ?' if register else ''}",
        [register] if register else [],
    ).fetchone()[0]
    unmatched = catalog.db.execute(
        f"SELECT COUNT(*) FROM documents d WHERE d.state IN ({marks}) AND NOT EXISTS "
        "(SELECT 1 FROM register_entries e WHERE e.document_id = d.id)",
        list(DIGITIZED_STATES),
    ).fetchone()[0]
    return {
        "registers": out_regs,
        "directions": directions,
        "years": list(span) if span else None,
        "summary_vi": summary(directions, span, "vi"),
        "summary_en": summary(directions, span, "en"),
        "top_secret_not_digitized": top_secret,
        "sealed_not_in_register": unmatched,
    }


def summary(directions: dict[str, dict[str, int]], span: tuple[int, int] | None, lang: str) -> str:
    """ "5914/9396 văn bản đến, 2700/3176 văn bản đi đã được số hóa (2020-2025)"."""
    if not directions:
        return ""
    order = [d for d in ("in", "out") if d in directions]
    names = _DIR_VI if lang == "vi" else _DIR_EN
    parts = [f"{directions[d]['digitized']}/{directions[d]['total']} {names[d]}" for d in order]
    when = ""
    if span:
        when = f" ({span[0]})" if span[0] == span[1] else f" ({span[0]}-{span[1]})"
    if lang == "vi":
        return ", ".join(parts) + " đã được số hóa" + when
    return ", ".join(parts) + " documents digitized" + when
