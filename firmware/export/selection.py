"""Which documents an export takes, who may export them, and how much room they need.

The confidentiality rule itself is :mod:`firmware.routing`'s; the selection only asks it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from firmware.export.errors import ExportError
from firmware.routing import Route, RoutingError, route_for
from firmware.store.catalog import Catalog, NotFound
from firmware.store.paths import DataPaths
from firmware.store.states import DocState

EXPORT_ROLE = "archivist"
PER_DOC_OVERHEAD = 64 * 1024  # CMS headers, ZIP headers, recipient infos
FIXED_OVERHEAD = 1 << 20  # manifest, signature, readme, filesystem slack


def may_export(role: str) -> bool:
    """The one rule for who exports confidential documents: archivists only (not even a
    maintainer, whose role is technical: separation of duties)."""
    return role == EXPORT_ROLE


def pending(catalog: Catalog) -> list[dict[str, Any]]:
    """Confidential documents sealed and waiting for export (the UI's default choice),
    oldest first."""
    docs = catalog.list_documents([DocState.SEALED], limit=100000)
    out = []
    for d in docs:
        with contextlib.suppress(RoutingError):
            if route_for(d) == Route.SECURE_USB:
                out.append(d)
    return sorted(out, key=lambda d: (d["created_at"], d["id"]))


def select(
    catalog: Catalog, paths: DataPaths, doc_ids: list[str] | None, allow_ordinary: bool
) -> list[dict[str, Any]]:
    """The documents to export (``None``: every one waiting), each checked: known, sealed,
    confidential (unless ``allow_ordinary``) and with its sealed copy on disk."""
    if doc_ids is None:
        docs = pending(catalog)
    else:
        docs = []
        for doc_id in dict.fromkeys(doc_ids):
            try:
                docs.append(catalog.get_document(doc_id))
            except NotFound:
                raise ExportError(
                    "unknown_document",
                    f"Document {doc_id} does not exist.",
                    f"Không có tài liệu {doc_id}.",
                    status=404,
                ) from None
    if not docs:
        raise ExportError(
            "nothing_to_export",
            "No confidential document is waiting for export.",
            "Không có tài liệu mật nào đang chờ xuất.",
        )
    for d in docs:
        try:
            route = route_for(d)
        except RoutingError as exc:
            raise ExportError(exc.code, exc.message_en, exc.message_vi) from None
        if d["state"] != DocState.SEALED:
            raise ExportError(
                "not_sealed",
                f"Document {d['id']} is {d['state']}; only sealed documents waiting "
                "for export can be exported.",
                f"Tài liệu {d['id']} không ở trạng thái chờ xuất (đã xuất hoặc chưa lưu).",
            )
        if route != Route.SECURE_USB and not allow_ordinary:
            raise ExportError(
                "not_confidential",
                f"Document {d['id']} is not confidential: it goes to the archive over "
                "the network. Secure USB export is for Mật and Tối mật documents.",
                f"Tài liệu {d['id']} là tài liệu thường, được gửi qua mạng; chỉ tài liệu "
                "Mật và Tối mật mới xuất ra USB bảo mật.",
            )
        for p in (paths.sealed_pdf(d["id"]), paths.sealed_sidecar(d["id"])):
            if not p.exists():
                raise ExportError(
                    "sealed_copy_missing",
                    f"The sealed copy of document {d['id']} is missing ({p.name}).",
                    f"Không tìm thấy bản lưu của tài liệu {d['id']}; hãy báo cán bộ kỹ thuật.",
                    status=500,
                )
    return docs


def needed(catalog: Catalog, paths: DataPaths, docs: list[dict[str, Any]]) -> int:
    """Bytes an export of ``docs`` takes on the stick (estimate before encryption)."""
    total = FIXED_OVERHEAD
    for d in docs:
        total += paths.sealed_pdf(d["id"]).stat().st_size
        total += paths.sealed_sidecar(d["id"]).stat().st_size
        total += len(catalog.document_text(d["id"]).encode()) + PER_DOC_OVERHEAD
    return total


def document_size(catalog: Catalog, paths: DataPaths, doc: dict[str, Any]) -> int:
    """Bytes one document takes on the stick (estimate before encryption)."""
    return needed(catalog, paths, [doc]) - FIXED_OVERHEAD
