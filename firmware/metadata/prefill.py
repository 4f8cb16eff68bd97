"""What the review form opens with: one value per field and where it came from.

The clerk should only confirm, so every field of the form starts filled. Values come from
four places, and which one wins is decided here and nowhere else:

1. what the clerk already entered and the catalog holds (a save refused for a wrong value
   sends the document back to review: the clerk's corrections must not be overwritten);
2. the QR cover sheet, printed from the register (confirmed, never guessed);
3. the register entry the document is matched to (linked, chosen by the clerk, or the one
   exact candidate for what the page says);
4. what the reader found on page 1 (:mod:`firmware.metadata.extract`), with its confidence.

A field is *unsure* when it came from the reader below the configured confidence, or is
empty: the screen highlights it so the clerk looks at it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmware.metadata.numbering import number_symbol_of

#: Fields of the review form (metadata model keys; ``number_symbol`` is typed whole).
FORM_FIELDS = ("subject", "doc_type", "number_symbol", "date", "issuer")
#: Extraction field name (``sohoa extract`` keys) -> form field.
_FROM_EXTRACTION = {
    "subject": "subject",
    "type": "doc_type",
    "date": "date",
    "issuer": "issuer",
}
#: Register entry column -> form field (the register holds the same vocabulary).
_FROM_ENTRY = {
    "subject": "subject",
    "doc_type": "doc_type",
    "number_symbol": "number_symbol",
    "date": "date",
    "issuer": "issuer",
}


@dataclass(frozen=True)
class FormValue:
    """One field of the form as it opens."""

    value: str
    source: str  # "clerk" | "coversheet" | "register" | "ocr" | ""
    confidence: float
    unsure: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "source": self.source,
            "confidence": round(self.confidence, 3),
            "unsure": self.unsure,
        }


def _ocr_values(extraction: dict[str, Any] | None) -> dict[str, tuple[str, float]]:
    """Form values from a cached extraction (``PageOneReader.extract``'s answer)."""
    if not extraction:
        return {}
    fields = extraction.get("fields") or {}
    meta = extraction.get("metadata") or {}
    out: dict[str, tuple[str, float]] = {}
    for name, key in _FROM_EXTRACTION.items():
        f = fields.get(name) or {}
        value = meta.get(key) if key == "doc_type" else f.get("value")
        if value not in (None, ""):
            out[key] = (str(value), float(f.get("confidence") or 0.0))
    ns = number_symbol_of(meta)
    if ns:
        conf = min(
            float((fields.get("number") or {}).get("confidence") or 0.0),
            float((fields.get("symbol") or {}).get("confidence") or 0.0),
        )
        out["number_symbol"] = (ns, conf)
    return out


def _clerk_values(metadata: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Values the catalog holds for the document, each with its source.

    ``field_sources`` says which came from the cover sheet; the others were entered by the
    clerk (a save that was refused keeps them in the catalog).
    """
    sources = metadata.get("field_sources") or {}
    out: dict[str, tuple[str, str]] = {}
    for key in FORM_FIELDS:
        value = number_symbol_of(metadata) if key == "number_symbol" else metadata.get(key)
        if value in (None, ""):
            continue
        src_key = "number" if key == "number_symbol" else key
        source = sources.get(src_key) or sources.get(key) or "clerk"
        out[key] = (str(value), "coversheet" if source == "coversheet" else "clerk")
    return out


def form_values(
    metadata: dict[str, Any],
    extraction: dict[str, Any] | None,
    entry: dict[str, Any] | None,
    threshold: float,
) -> dict[str, FormValue]:
    """The form's fields, highest-ranking source first (see the module docstring).

    A cover-sheet subject the QR carried shortened stays unsure (the clerk completes it).
    """
    held = _clerk_values(metadata)
    ocr = _ocr_values(extraction)
    shortened = bool((metadata.get("coversheet") or {}).get("subject_shortened"))
    out: dict[str, FormValue] = {}
    for key in FORM_FIELDS:
        if key in held:
            value, source = held[key]
            unsure = source == "coversheet" and key == "subject" and shortened
            out[key] = FormValue(value, source, 1.0, unsure)
        elif entry and entry.get(_FROM_ENTRY[key]) not in (None, ""):
            out[key] = FormValue(str(entry[_FROM_ENTRY[key]]), "register", 1.0, False)
        elif key in ocr:
            value, conf = ocr[key]
            out[key] = FormValue(value, "ocr", conf, conf < threshold)
        else:
            out[key] = FormValue("", "", 0.0, True)
    return out


def matching_values(metadata: dict[str, Any], extraction: dict[str, Any] | None) -> dict[str, Any]:
    """What to look the register up with before the clerk typed anything: the catalog's
    values over the reader's (model keys, as :func:`firmware.register.matching.candidates_for`
    expects them)."""
    merged: dict[str, Any] = {k: v for k, (v, _c) in _ocr_values(extraction).items()}
    merged.update({k: v for k, (v, _s) in _clerk_values(metadata).items()})
    if merged.get("number_symbol"):
        merged["number"] = merged["number_symbol"]
    return merged
