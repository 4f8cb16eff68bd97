"""The purge of local copies after a verified export, at once or after the retention.

Only ``exported`` confidential documents qualify: that state is reached only after the
read-back verification, so a purge never removes the last copy of a document.
"""

from __future__ import annotations

import datetime as dt

from firmware.export.errors import ExportError
from firmware.routing import is_confidential
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.store.states import DocState


def due(catalog: Catalog, retention: str | int, now: dt.datetime) -> list[str]:
    """Exported documents whose retention has run out at ``now``: ``immediate`` right
    after the verified export, ``N`` days N days after its verification."""
    days = 0 if retention == "immediate" else int(retention)
    out = []
    for doc in catalog.list_documents([DocState.EXPORTED], limit=100000):
        stamp = (doc["metadata"].get("export") or {}).get("verified_at") or doc["updated_at"]
        when = dt.datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        if when + dt.timedelta(days=days) <= now:
            out.append(doc["id"])
    return out


def purge(catalog: Catalog, paths: DataPaths, doc_ids: list[str], actor: str) -> None:
    """Remove the local sealed copy, frames, work files and OCR text of exported
    confidential documents, then mark them ``purged``.

    The text goes with :meth:`~firmware.store.catalog.Catalog.erase_text`, so the words
    are gone from ``catalog.db`` and its journal too.
    """
    docs = [catalog.get_document(d) for d in doc_ids]
    for d in docs:
        if d["state"] != DocState.EXPORTED or not is_confidential(d["confidentiality"]):
            raise ExportError(
                "not_purgeable",
                f"Document {d['id']} is {d['state']}; only exported confidential "
                "documents are purged.",
                f"Tài liệu {d['id']} chưa được xuất nên không thể xóa bản lưu.",
            )
    for d in docs:
        paths.remove_document_files(d["id"])
    catalog.erase_text([d["id"] for d in docs])
    for d in docs:
        export_id = (d["metadata"].get("export") or {}).get("export_id", "")
        catalog.transition_document(
            d["id"],
            DocState.PURGED,
            actor,
            reason=f"local copies removed after verified export {export_id}",
            pdf_path=None,
        )
