"""Public rendering API of the simulated camera: pages, photographs, frames, datasets.

Used by the sim camera, by the benchmark (``sim.write_dataset`` produces photographs with
ground truth, so OCR character error rate and metadata accuracy can be measured) and by
tests of the page pipeline. Pages are cached per (document, page) because one page is
photographed many times (retakes, previews, benchmark variants) and typesetting it is the
slow part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from drivers.camera.base import encode_jpeg
from drivers.camera.corpus import nfc
from drivers.camera.render_photo import PHOTO_KINDS, Photo, photograph, photograph_scene
from drivers.camera.render_text import (
    PageLayout,
    default_page_count,
    draw_page,
    layout_document,
    reading_order,
)

__all__ = [
    "SCENARIOS",
    "RenderedPage",
    "render_page",
    "blank_page",
    "photograph",
    "photograph_scene",
    "render_scene",
    "render_frame",
    "render_sheet_frame",
    "doc_seed_for",
    "layout_for",
    "corrupt_jpeg",
]

SCENARIOS = (*PHOTO_KINDS, "corrupt")
"""Frame kinds the simulator can produce (``SimCamera(script=[...])``)."""

_TRUTH_KIND = {"no_page": "no_page", "hand": "hand", "black": "black", "blank": "blank"}


@dataclass(frozen=True)
class RenderedPage:
    """One page at 300 dpi with its text: the ground truth of everything printed on it."""

    rgb: np.ndarray  # 3508 x 2480 x 3, uint8, read-only (shared by the cache)
    doc_seed: int
    page_number: int
    page_count: int
    layout: str
    lines: list[str]  # every printed line, reading order, NFC
    body_text: str  # body paragraph lines joined with "\n", NFC
    fields: dict[str, Any]  # document metadata (same on every page of the document)


def _page_text(page: PageLayout) -> tuple[list[str], str]:
    ordered = reading_order(page.lines)
    lines = [nfc(ln.text) for ln in ordered]
    body = "\n".join(nfc(ln.text) for ln in ordered if ln.region == "body")
    return lines, body


@lru_cache(maxsize=4)
def _render_cached(doc_seed: int, page_number: int, layout: str, page_count: int):
    spec, pages = layout_document(doc_seed, layout, page_count)
    rgb = draw_page(pages[page_number - 1], doc_seed, page_number)
    rgb.setflags(write=False)
    lines, body = _page_text(pages[page_number - 1])
    return RenderedPage(
        rgb,
        doc_seed,
        page_number,
        page_count,
        layout,
        lines,
        body,
        {k: nfc(v) if isinstance(v, str) else v for k, v in spec.fields().items()},
    )


def render_page(
    doc_seed: int, page_number: int, layout: str, page_count: int | None = None
) -> RenderedPage:
    """Page ``page_number`` (1-based) of document ``doc_seed`` in ``layout`` (party|state).

    ``page_count`` defaults to a seed-derived 1-3; the signature block is on the last page.
    """
    count = page_count if page_count is not None else default_page_count(doc_seed)
    if not 1 <= page_number <= count:
        raise ValueError(f"page {page_number} outside 1..{count}")
    return _render_cached(int(doc_seed), int(page_number), layout, int(count))


@lru_cache(maxsize=2)
def blank_page(doc_seed: int) -> np.ndarray:
    """An empty sheet of the document's paper (the back of a page, a separator sheet)."""
    rgb = draw_page(PageLayout(), doc_seed, 0)
    rgb.setflags(write=False)
    return rgb


def doc_seed_for(seed: int, doc_index: int) -> int:
    """Seed of the ``doc_index``-th document of a camera or dataset seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, doc_index]).generate_state(1)[0])


def layout_for(layout: str, doc_index: int) -> str:
    """ "mixed" alternates Party (even documents) and State (odd); otherwise fixed."""
    if layout == "mixed":
        return "party" if doc_index % 2 == 0 else "state"
    if layout not in ("party", "state"):
        raise ValueError(f"layout must be mixed, party or state, not {layout!r}")
    return layout


def corrupt_jpeg(jpeg: bytes) -> bytes:
    """Truncate a JPEG inside its headers, as a transfer cut short would leave it.

    Cutting before the start-of-scan marker makes every decoder fail outright (a cut inside
    the scan data would still decode as a partly grey picture).
    """
    sos = jpeg.find(b"\xff\xda")
    cut = max(4, (sos if sos > 0 else len(jpeg)) // 2)
    return jpeg[:cut]


def _truth(
    page: RenderedPage | None,
    photo: Photo,
    scenario: str,
    layout: str,
    doc_seed: int,
    page_number: int,
) -> dict[str, Any]:
    kind = _TRUTH_KIND.get(scenario, "document")
    printed = page if kind == "document" else None  # the page whose text the frame shows
    return {
        "kind": kind,
        "scenario": scenario,
        "layout": layout,
        "paper": "A4",
        "corners": photo.corners if kind in ("document", "blank") else None,
        "page_number": page_number if kind == "document" else None,
        "page_count": page.page_count if page is not None else None,
        "doc_seed": doc_seed,
        "lines": list(printed.lines) if printed is not None else [],
        "body_text": printed.body_text if printed is not None else "",
        "fields": dict(printed.fields) if printed is not None else {},
        "effects": _jsonable(photo.effects),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def render_scene(
    doc_seed: int,
    page_number: int,
    layout: str,
    page_count: int,
    width: int,
    height: int,
    scenario: str = "document",
    scene_seed: Sequence[int] | int = 0,
    **effects: Any,
) -> tuple[Photo, RenderedPage]:
    """Photograph page ``page_number`` as ``scenario`` ("corrupt" renders a good photo)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {SCENARIOS}")
    rng = np.random.default_rng(scene_seed)
    page = render_page(doc_seed, page_number, layout, page_count)
    kind = "document" if scenario == "corrupt" else scenario
    source = blank_page(doc_seed) if kind == "blank" else page.rgb
    return photograph_scene(source, rng, width, height, kind, **effects), page


def render_frame(
    doc_seed: int,
    page_number: int,
    layout: str,
    page_count: int,
    width: int,
    height: int,
    jpeg_quality: int,
    scenario: str = "document",
    scene_seed: Sequence[int] | int = 0,
    **effects: Any,
) -> tuple[bytes, dict[str, Any]]:
    """One simulated still: (JPEG bytes, ground truth dict)."""
    photo, page = render_scene(
        doc_seed, page_number, layout, page_count, width, height, scenario, scene_seed, **effects
    )
    jpeg = encode_jpeg(photo.bgr, jpeg_quality)
    if scenario == "corrupt":
        jpeg = corrupt_jpeg(jpeg)
    return jpeg, _truth(page, photo, scenario, layout, doc_seed, page_number)


def render_sheet_frame(
    sheet_rgb: np.ndarray,
    width: int,
    height: int,
    jpeg_quality: int,
    scenario: str = "document",
    scene_seed: Sequence[int] | int = 0,
    label: str = "sheet",
    **effects: Any,
) -> tuple[bytes, dict[str, Any]]:
    """Photograph a sheet printed from a file (a QR cover sheet, a separator), not a
    generated document: same desk, perspective, light, blur and noise as documents.

    ``sheet_rgb`` is the printed page as RGB (A4 aspect, e.g. a PDF page rendered at
    150-300 dpi). The truth's ``kind`` is "sheet" with the given ``label``.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {SCENARIOS}")
    rng = np.random.default_rng(scene_seed)
    kind = "document" if scenario == "corrupt" else scenario
    photo = photograph_scene(sheet_rgb, rng, width, height, kind, **effects)
    jpeg = encode_jpeg(photo.bgr, jpeg_quality)
    if scenario == "corrupt":
        jpeg = corrupt_jpeg(jpeg)
    truth = {
        "kind": kind if kind in ("no_page", "hand", "black") else "sheet",
        "scenario": scenario,
        "label": label,
        "paper": "A4",
        "corners": photo.corners,
        "lines": [],
        "body_text": "",
        "fields": {},
        "effects": _jsonable(photo.effects),
    }
    return jpeg, truth
