"""Removing the content of a discarded document from the kiosk.

A discarded capture (the clerk's "Hủy tài liệu", or a Tuyệt mật original that must not be
digitized) leaves no page behind: frames, previews, page images and OCR files are deleted
from disk and its text from the search index. The catalog row (state ``discarded``) and the
audit trail stay, so the archive can still answer what happened to the original.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths


def _count_files(d: Path) -> int:
    return sum(1 for p in d.rglob("*") if p.is_file()) if d.exists() else 0


def remove_content(catalog: Catalog, paths: DataPaths, doc_id: str) -> dict[str, Any]:
    """Delete every file of ``doc_id`` and its indexed text; return what was removed."""
    files, dirs = paths.document_files(doc_id)
    removed_files = 0
    for f in files:
        if f.exists():
            f.unlink()
            removed_files += 1
    for d in dirs:
        removed_files += _count_files(d)
        shutil.rmtree(d, ignore_errors=True)
        if d.exists():
            raise OSError(f"could not remove {d}")
    # pages whose files live elsewhere (a folder camera's copy is always in spool/)
    for page in catalog.pages(doc_id, include_deleted=True):
        for key in ("frame_path", "preview_path", "image_path", "ocr_path"):
            p = page.get(key)
            if p and Path(p).exists():
                Path(p).unlink()
                removed_files += 1
    texts = catalog.remove_document_text(doc_id)
    return {"files_removed": removed_files, "text_rows_removed": texts}
