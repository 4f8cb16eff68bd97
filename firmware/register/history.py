"""Which register files were imported, and undoing one import.

The import's own audit record (``register.import``) is its history: it names the file's
SHA-256, the register and the range of entry ids the import wrote (entries of one import
are written in one transaction under the catalog lock, so their ids are consecutive). An
undo is a ``register.import_undone`` record naming the import's audit ``seq``; the import
is then no longer "already imported". Nothing here keeps a second copy of that state.

Why: importing the same file twice under another register name doubled the register
(3/363 became 3/726, issue 16), and a wrong import could not be taken back.
"""

from __future__ import annotations

from typing import Any

from firmware.register.errors import RegisterFileError
from firmware.store.catalog import Catalog

IMPORT = "register.import"
UNDONE = "register.import_undone"


def _records(catalog: Catalog, action: str) -> list[dict[str, Any]]:
    return [r for r in catalog.audit_records() if r["action"] == action]


def _undone_seqs(catalog: Catalog) -> set[int]:
    return {int(r["details"].get("import_seq", 0)) for r in _records(catalog, UNDONE)}


def registers(catalog: Catalog) -> list[dict[str, Any]]:
    """Every register by name: id, name, direction, when and from which file (name and
    SHA-256) it was imported, its entries and how many are matched to a document."""
    return list(
        catalog.db.query(
            "SELECT r.id, r.name, r.direction, r.imported_at, r.source_name, "
            "r.source_sha256, COUNT(e.id) AS entries, COUNT(e.document_id) AS matched "
            "FROM registers r LEFT JOIN register_entries e ON e.register_id = r.id "
            "GROUP BY r.id ORDER BY r.name"
        )
    )


def imports(catalog: Catalog) -> list[dict[str, Any]]:
    """Every import that wrote rows, newest first: seq, when, who, register, file, sha256,
    rows imported, and whether it was undone."""
    undone = _undone_seqs(catalog)
    out = []
    for r in reversed(_records(catalog, IMPORT)):
        d = r["details"]
        if not d.get("imported"):
            continue
        out.append(
            {
                "seq": r["seq"],
                "at": r["ts"],
                "by": r["actor"],
                "register": d.get("register", ""),
                "file": d.get("file", ""),
                "sha256": d.get("sha256", ""),
                "imported": d.get("imported", 0),
                "undone": r["seq"] in undone,
                "undoable": "first_entry_id" in d and r["seq"] not in undone,
            }
        )
    return out


def previous_import(catalog: Catalog, sha256: str) -> dict[str, Any] | None:
    """The latest import of the file with this hash that is still in effect, or None."""
    for imp in imports(catalog):
        if imp["sha256"] == sha256 and not imp["undone"]:
            return imp
    return None


def undo_import(catalog: Catalog, seq: int, actor: str) -> dict[str, Any]:
    """Remove the entries import ``seq`` wrote (one transaction, one audit record).

    Refused when one of them is already linked to a scanned document or an original's
    custody: those links are the archive's record and are not dropped silently.
    """
    with catalog.transaction() as db:
        rec = next((r for r in _records(catalog, IMPORT) if r["seq"] == seq), None)
        if rec is None or "first_entry_id" not in rec["details"]:
            raise RegisterFileError(
                "import_unknown",
                "This import cannot be undone (unknown, or made before undo existed).",
                "Không hoàn tác được lần nhập này (không tìm thấy hoặc nhập từ phiên bản cũ).",
                status=404,
            )
        if seq in _undone_seqs(catalog):
            raise RegisterFileError(
                "import_already_undone",
                "This import was already undone.",
                "Lần nhập này đã được hoàn tác.",
                status=409,
            )
        d = rec["details"]
        where = "register_id = ? AND id BETWEEN ? AND ?"
        args = [d["register_id"], d["first_entry_id"], d["last_entry_id"]]
        linked = db.execute(
            f"SELECT COUNT(*) FROM register_entries WHERE {where} AND (document_id IS NOT NULL "
            "OR id IN (SELECT entry_id FROM custody WHERE entry_id IS NOT NULL))",
            args,
        ).fetchone()[0]
        if linked:
            raise RegisterFileError(
                "import_in_use",
                f"{linked} entries of this import are already linked to scanned documents; "
                "it cannot be undone.",
                f"{linked} dòng của lần nhập này đã gắn với tài liệu đã số hóa; "
                "không thể hoàn tác.",
                status=409,
            )
        removed = db.execute(f"DELETE FROM register_entries WHERE {where}", args).rowcount
        left = db.execute(
            "SELECT COUNT(*) FROM register_entries WHERE register_id = ?", [d["register_id"]]
        ).fetchone()[0]
        if not left:  # the import created the register: it goes with it
            db.execute("DELETE FROM registers WHERE id = ?", [d["register_id"]])
        catalog.audit(
            actor,
            UNDONE,
            import_seq=seq,
            register=d.get("register", ""),
            file=d.get("file", ""),
            sha256=d.get("sha256", ""),
            removed=removed,
        )
    return {"import_seq": seq, "removed": removed, "register": d.get("register", "")}
