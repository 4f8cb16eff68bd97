"""Recording a verified export: one transition and one audit record per document, naming
the operator, the stick and the recipients.

Only after the read-back verification: a confidential document becomes ``exported`` (the
state the purge waits for), with the export record in its metadata (the document screen's
hand-over view reads it); an ordinary document copied with ``allow_ordinary`` keeps its way
to the archive over the network and is only audited.
"""

from __future__ import annotations

from typing import Any

from firmware.export.manifest import FileEntry
from firmware.routing import is_confidential
from firmware.store.catalog import Catalog
from firmware.store.states import DocState


def record_export(
    catalog: Catalog,
    actor: str,
    export_id: str,
    directory: str,
    docs: list[dict[str, Any]],
    written: dict[str, list[FileEntry]],
    stick: dict[str, Any],
    fps: list[str],
    verified_at: str,
) -> tuple[list[str], list[str]]:
    """Record the documents written; returns (exported, copies) by id."""
    exported, copies = [], []
    where = f"USB {stick['vid']}:{stick['pid']} serial {stick['serial']}"
    if stick.get("label"):
        where += f" ({stick['label']})"
    for doc in docs:
        if doc["id"] not in written:
            continue
        record: dict[str, Any] = {
            "export_id": export_id,
            "directory": directory,
            "operator": actor,
            "stick": {k: stick[k] for k in ("vid", "pid", "serial", "label", "descriptor_sha256")},
            "recipients": fps,
            "files": [e.name for e in written[doc["id"]]],
            "verified_at": verified_at,
        }
        reason = f"export {export_id} to {where}; recipients " + ", ".join(fps)
        if is_confidential(doc["confidentiality"]):
            catalog.transition_document(
                doc["id"],
                DocState.EXPORTED,
                actor,
                reason=reason,
                metadata={**doc["metadata"], "export": record},
            )
            exported.append(doc["id"])
        else:  # an ordinary document keeps its way to the archive over the network
            catalog.audit(actor, "document.export_copy", doc["id"], reason=reason, **record)
            copies.append(doc["id"])
    return exported, copies
