"""Glue between the metadata model and the sealed file: catalog -> model -> XMP and sidecar.

Kept apart from :mod:`firmware.kiosk` so the kiosk's sealing code stays a sequence of steps
and the rules (which value wins, which keys reach the XMP) are tested here on their own.
"""

from __future__ import annotations

import re
from typing import Any

from firmware.archive.xmp import FIXED_PROPERTIES
from firmware.metadata.model import (
    ArchivalMetadata,
    FieldIssue,
    MetadataError,
    extra_fields,
    validate_metadata,
)
from firmware.metadata.party_codes import PartyCodes, PartyCodesError, load_party_codes
from firmware.metadata.sequence import assign_sequence
from firmware.store.catalog import Catalog

_XML_NAME = re.compile(r"^[^\W\d][\w.-]*$")


def prepare_archival(
    catalog: Catalog,
    doc: dict[str, Any],
    actor: str,
    *,
    page_count: int,
    types: str = "",
    party_codes_file: str = "",
) -> ArchivalMetadata:
    """Validate a document's metadata for sealing and give it its sequence number.

    The confidentiality is the catalog's one stored level (never a metadata entry), so
    the XMP and the sidecar say what routing read; the identifier defaults to the document
    id; the page count is the sealed file's, whatever was typed. Raises
    :class:`firmware.metadata.model.MetadataError` for the clerk.
    """
    meta = dict(doc.get("metadata") or {})
    meta["page_count"] = page_count
    meta["confidentiality"] = doc["confidentiality"]
    model = validate_metadata(
        meta,
        types=types,
        party_codes=_party_codes(party_codes_file, meta),
        identifier=doc["id"],
    )
    if model.record_code:
        seq = assign_sequence(catalog, doc["id"], model.record_code, actor, model.sequence)
        model = model.model_copy(update={"sequence": seq})
    return model


def _party_codes(path: str, meta: dict[str, Any]) -> PartyCodes | None:
    """The reference list when one is configured and the document carries a Party code;
    a list that cannot be read refuses the code (the clerk is told to call IT)."""
    if not path or not (meta.get("party_org_code") or meta.get("party_member_code")):
        return None
    try:
        return load_party_codes(path)
    except PartyCodesError as exc:
        field = "party_org_code" if meta.get("party_org_code") else "party_member_code"
        raise MetadataError([FieldIssue(field, exc.message_vi, exc.message_en)]) from None


def xmp_archival(model: ArchivalMetadata, meta: dict[str, Any]) -> dict[str, str]:
    """``sohoa:`` XMP properties: the model's, plus other scalar metadata entries (added by
    other features, e.g. a register entry id) whose keys are valid XMP names."""
    props = model.xmp_properties()
    for key, value in extra_fields(meta).items():
        if (
            isinstance(value, str | int | float)
            and not isinstance(value, bool)
            and _XML_NAME.match(key)
            and key not in FIXED_PROPERTIES
            and key not in props
        ):
            props[key] = str(value)
    return props


def sidecar_fields(model: ArchivalMetadata) -> dict[str, Any]:
    """Entries the JSON sidecar carries for the archive: validated metadata and file name."""
    return {
        "archival": model.to_dict(),
        "archival_code": model.archival_code,
        "archival_name": model.archival_name,
    }


def catalog_metadata(model: ArchivalMetadata, meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata stored back in the catalog at sealing: validated values, extras kept
    (the confidentiality level stays in its own column, stored once)."""
    out = {**extra_fields(meta), **model.to_dict(), "number_symbol": model.number_symbol}
    out.pop("confidentiality", None)
    return out
