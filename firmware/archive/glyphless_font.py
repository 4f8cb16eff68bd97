"""A glyphless TrueType font for the invisible OCR text layer of archival PDFs.

Why a font of our own: PDF/A requires every font to be embedded, and an invisible text layer
(render mode 3) only needs a font that *exists*, maps every character to a real (non-.notdef)
glyph with a known advance width, and weighs almost nothing. A font of two empty glyphs
does that; the text is recovered through the ToUnicode CMap, not through the glyphs.
Building it here with fontTools keeps the firmware independent of files shipped by other
packages (Tesseract's ``pdf.ttf``) and makes the bytes reproducible (fixed timestamps), so
that sealing the same pages twice gives the same PDF and the same SHA-256.

The PDF side (see :mod:`firmware.archive.seal`): a Type0 font, Identity-H encoding, 2-byte CIDs
equal to the BMP code points of the text, a ``CIDToGIDMap`` sending every CID to glyph 1,
and a ToUnicode CMap mapping every CID back to the same code point.
"""

from __future__ import annotations

import io
import zlib
from functools import cache

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

FONT_NAME = "SohoaGlyphless"
UNITS_PER_EM = 1000
#: Advance width of every glyph, in font units (== PDF glyph-space thousandths, as UPM is
#: 1000). The PDF font dictionary declares the same value as ``/DW``; PDF/A validators check
#: that the two agree.
ADVANCE = 500
#: Vertical metrics, in font units. Viewers and ``pdftotext -bbox`` size the selection box of
#: a word from these, so seal.py picks the font size so that ``ASCENT`` reaches the top of
#: the word box.
ASCENT = 800
DESCENT = -200
#: The glyph id every CID maps to. It must not be 0: PDF/A-2 forbids showing ``.notdef``.
VISIBLE_GID = 1

# 1 January 2024 in seconds since 1904-01-01 (the TrueType epoch): a fixed timestamp keeps
# the font bytes, hence the sealed PDF bytes, reproducible.
_FIXED_TIMESTAMP = 3786825600


def _empty_glyph():
    """A glyph with no outline: it advances the pen and paints nothing."""
    return TTGlyphPen(None).glyph()


@cache
def glyphless_font_bytes() -> bytes:
    """The TrueType program (``FontFile2``), built once per process."""
    glyph_order = [".notdef", "blank"]
    fb = FontBuilder(UNITS_PER_EM, isTTF=True)
    fb.setupGlyphOrder(glyph_order)
    # The cmap is not used by PDF consumers of a CIDFontType2 with a CIDToGIDMap, but a
    # TrueType file without one is rejected by some font parsers.
    fb.setupCharacterMap({0x20: "blank"})
    fb.setupGlyf({name: _empty_glyph() for name in glyph_order})
    fb.setupHorizontalMetrics({name: (ADVANCE, 0) for name in glyph_order})
    fb.setupHorizontalHeader(ascent=ASCENT, descent=DESCENT)
    fb.setupNameTable(
        {
            "familyName": FONT_NAME,
            "styleName": "Regular",
            "uniqueFontIdentifier": f"{FONT_NAME}-1.0",
            "fullName": FONT_NAME,
            "psName": FONT_NAME,
            "version": "Version 1.000",
        }
    )
    fb.setupOS2(
        sTypoAscender=ASCENT,
        sTypoDescender=DESCENT,
        sTypoLineGap=0,
        usWinAscent=ASCENT,
        usWinDescent=-DESCENT,
        sxHeight=500,
        sCapHeight=700,
        fsType=0,  # installable embedding: no licensing restriction on embedding
    )
    fb.setupPost()
    fb.setupHead(unitsPerEm=UNITS_PER_EM, created=_FIXED_TIMESTAMP, modified=_FIXED_TIMESTAMP)
    font = fb.font
    font.recalcTimestamp = False
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


@cache
def cid_to_gid_map() -> bytes:
    """``CIDToGIDMap`` stream data (Flate-compressed): all 65 536 CIDs -> glyph 1.

    Returned compressed (128 KiB of a repeated pair shrinks to a few hundred bytes); the
    caller declares ``/Filter /FlateDecode``.
    """
    return zlib.compress(VISIBLE_GID.to_bytes(2, "big") * 0x10000, 9)


def _is_surrogate_block(high: int) -> bool:
    return 0xD8 <= high <= 0xDF


@cache
def to_unicode_cmap() -> bytes:
    """A ToUnicode CMap mapping every 2-byte CID to the same BMP code point.

    ``bfrange`` entries may only vary in their last byte, hence one entry per high byte;
    surrogate code units are left out (they are not characters). At most 100 entries per
    ``beginbfrange`` block, as the CMap format requires.
    """
    ranges = [
        f"<{h:02X}00> <{h:02X}FF> <{h:02X}00>" for h in range(256) if not _is_surrogate_block(h)
    ]
    blocks = []
    for i in range(0, len(ranges), 100):
        chunk = ranges[i : i + 100]
        blocks.append(f"{len(chunk)} beginbfrange\n" + "\n".join(chunk) + "\nendbfrange")
    text = (
        "/CIDInit /ProcSet findresource begin\n"
        "12 dict begin\n"
        "begincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n"
        "/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(blocks)
        + "\nendcmap\n"
        "CMapName currentdict /CMap defineresource pop\n"
        "end\nend\n"
    )
    return text.encode("ascii")


def encodable(ch: str) -> bool:
    """True if ``ch`` can be shown with 2-byte Identity-H CIDs equal to its code point."""
    cp = ord(ch)
    return cp <= 0xFFFF and not (0xD800 <= cp <= 0xDFFF)
