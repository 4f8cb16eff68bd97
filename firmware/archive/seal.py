"""Seal a scanned document as an archival, searchable PDF/A-2b file.

What the archive rules ask for (see shared/DOMAIN.md): a colour image of every page at no less
than 200 dpi, drawn at 100 % scale, in PDF/A. What clerks and archivists need on top: the
text must be searchable and selectable, so an invisible OCR text layer lies exactly over the
words of the image; and every sealed file must prove later that its pages were not altered,
so the XMP carries a content hash that :func:`verify_sealed` recomputes.

Built directly with pikepdf (qpdf) instead of Ghostscript or OCRmyPDF: no subprocess on the
kiosk, no re-encoding of images we already compressed, and the output is reproducible: the
same pages and metadata give the same bytes (fixed font, dates from ``DocumentInfo``,
deterministic trailer ``/ID``), which lets the hub deduplicate uploads by hash.

Content hash (``content_sha256``, stored as ``sohoa:contentSHA256`` in the XMP): SHA-256 over,
for each page in order, the exact bytes of the page's embedded JPEG (the raw ``DCTDecode``
stream data) immediately followed by the UTF-8 bytes of the page's text layer string. The
text layer string is the text the page shows in its invisible layer: the lines in reading
order joined by ``"\\n"``, each line being its words (NFC) joined by single spaces. Nothing
separates pages or the JPEG from the text; there is no trailing newline.
"""

from __future__ import annotations

import functools
import hashlib
import io
import statistics
import struct
import unicodedata
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import cv2
import numpy as np
import pikepdf
from pikepdf import Array, Dictionary, Name
from PIL import Image, ImageCms, UnidentifiedImageError

from firmware import __version__
from firmware.archive.glyphless_font import (
    ADVANCE,
    ASCENT,
    DESCENT,
    FONT_NAME,
    cid_to_gid_map,
    encodable,
    glyphless_font_bytes,
    to_unicode_cmap,
)
from firmware.archive.image_layer import encode_jpeg as _encode_jpeg
from firmware.archive.xmp import (
    SOHOA_NS,
    XmpError,
    XmpFields,
    build_xmp,
    check_archival_keys,
    parse_xmp,
)
from firmware.errors import KioskError
from firmware.ocr.engine import Word as OcrWord  # one word record from OCR to the text layer
from sohoa_common.atomic import atomic_open, sha256_file

#: Lowest image-layer resolution the digitization rules accept.
MIN_IMAGE_DPI = 200
CREATOR_TOOL = "Sohoa"
OUTPUT_CONDITION = "sRGB IEC61966-2.1"
_IMAGE_NAME = "/Im0"
_FONT_NAME = "/F0"
_REPLACEMENT = "\ufffd"


@dataclass
class SealPage:
    """A flattened page: BGR uint8 array (OpenCV order) or a path to a PNG/JPEG."""

    image: np.ndarray | Path
    dpi: int  # resolution of ``image``; page size in points = px / dpi * 72
    words: list[OcrWord]
    # The archival JPEG already resampled to ``image_dpi`` (from encode_archival_jpeg),
    # as the OCR workers produce it: sealing then only assembles, which keeps the service
    # process small and fast. ``image`` is then only named in error messages.
    encoded: bytes | None = None


@dataclass
class DocumentInfo:
    doc_id: str
    title: str
    created: datetime  # timezone-aware
    kiosk_id: str
    language: str = "vi"
    subject: str = ""
    keywords: list[str] = field(default_factory=list)
    archival: dict[str, str] = field(default_factory=dict)  # -> sohoa: XMP namespace


@dataclass
class SealResult:
    path: Path
    sha256: str  # hex SHA-256 of the final PDF file bytes
    content_sha256: str  # hex SHA-256 of the content (module docstring), also in the XMP
    size: int
    page_count: int


class SealError(KioskError):
    """Sealing or verification failed; the message says why (English, for logs/audit).

    ``message_vi`` carries the Vietnamese sentence for the clerk.
    """

    def __init__(self, message: str, message_vi: str = "Không thể tạo tệp PDF lưu trữ.") -> None:
        super().__init__("seal_failed", message, message_vi, status=500)


# --- image layer ---------------------------------------------------------------------------


def _load_pixels(image: np.ndarray | Path | str) -> tuple[np.ndarray, bool]:
    """Return the page as an H x W x 3 uint8 array and whether it is in BGR order.

    Arrays come from the OpenCV pipeline (BGR); files are decoded by Pillow (RGB), which
    refuses truncated files instead of returning a partly grey page as ``cv2.imread`` does.
    No colour conversion happens here: it is done after downsampling, on fewer pixels.
    """
    if isinstance(image, str | Path):
        try:
            with Image.open(image) as im:
                return np.asarray(im.convert("RGB")), False
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise SealError(
                f"cannot read page image {image}: {exc}",
                f"Không đọc được ảnh trang {Path(image).name}.",
            ) from exc
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.size == 0:
        raise SealError(
            "page image must be a non-empty uint8 array or a path",
            "Ảnh trang không hợp lệ.",
        )
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), True
    if image.ndim == 3 and image.shape[2] == 3:
        return image, True
    if image.ndim == 3 and image.shape[2] == 4:
        # A page scan has no meaningful alpha; PDF/A files are simpler without any.
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), True
    raise SealError(f"unsupported page image shape {image.shape}", "Ảnh trang không hợp lệ.")


def _jpeg_size(jpeg: bytes, n: int) -> tuple[int, int]:
    """Pixel size of a pre-encoded page JPEG (header only); it must be a colour JPEG."""
    try:
        with Image.open(io.BytesIO(jpeg)) as im:
            if im.format != "JPEG" or im.mode != "RGB":
                raise SealError(
                    f"page {n}: pre-encoded image must be an RGB JPEG, not {im.format} {im.mode}",
                    f"Ảnh trang {n} không hợp lệ.",
                )
            return im.size
    except (OSError, UnidentifiedImageError) as exc:
        raise SealError(
            f"page {n}: unreadable pre-encoded JPEG: {exc}", f"Ảnh trang {n} bị hỏng."
        ) from exc


def _fmt(v: float) -> str:
    """Compact decimal for content streams (no exponent, at most 3 decimals)."""
    s = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _clean_text(text: str) -> str:
    """NFC, and characters the 2-byte Identity-H layer cannot carry become U+FFFD."""
    text = unicodedata.normalize("NFC", text).strip()
    return "".join(
        ch if encodable(ch) and unicodedata.category(ch) != "Cc" else _REPLACEMENT for ch in text
    )


def _hex(text: str) -> str:
    return "<" + text.encode("utf-16-be").hex().upper() + ">"


def _group_lines(words: Iterable[OcrWord]) -> list[list[tuple[OcrWord, str]]]:
    """Words grouped by line index (ascending), each line sorted left to right."""
    lines: dict[int, list[tuple[OcrWord, str]]] = {}
    for w in words:
        text = _clean_text(w.text)
        if not text or w.width <= 0 or w.height <= 0:
            continue
        lines.setdefault(w.line, []).append((w, text))
    return [sorted(lines[k], key=lambda wt: wt[0].left) for k in sorted(lines)]


def _line_geometry(line: list[tuple[OcrWord, str]]) -> tuple[float, float]:
    """Baseline y and font size for a line, in image pixels.

    The baseline is the OCR's when given; otherwise the median of the word bottoms (most
    words of a line sit on the baseline, descenders are the minority). The font size makes
    the font's ascent reach the top of the line box, so a viewer's selection highlight and
    ``pdftotext -bbox`` cover the printed words.
    """
    top = min(w.top for w, _ in line)
    bottom = max(w.top + w.height for w, _ in line)
    given = [w.baseline for w, _ in line if w.baseline is not None]
    if given:
        baseline = float(statistics.median(given))
    else:
        baseline = float(statistics.median(w.top + w.height for w, _ in line))
    if baseline - top < 0.5 * (bottom - top):  # nonsense baseline: fall back to the box
        baseline = top + (bottom - top) * ASCENT / (ASCENT - DESCENT)
    size = (baseline - top) * 1000.0 / ASCENT
    return baseline, max(size, 1.0)


def _text_layer(words: list[OcrWord], dpi: int, page_h_pt: float) -> tuple[str, str]:
    """Return (content-stream operators, text layer string) for one page.

    Each line is one BT/ET block (``verify_sealed`` relies on that to rebuild the string).
    Each word is placed at its box's left edge on the line's baseline and horizontally
    scaled (Tz) so its advance equals the box width; a real space glyph, scaled to fill the
    gap, follows every word but the last so extractors keep word boundaries.
    """
    k = 72.0 / dpi
    ops: list[str] = []
    line_strings: list[str] = []
    for line in _group_lines(words):
        baseline_px, size_px = _line_geometry(line)
        size = size_px * k
        y = page_h_pt - baseline_px * k
        em_advance = size * ADVANCE / 1000.0  # advance of one glyph at Tz 100
        ops.append(f"BT\n3 Tr\n{_FONT_NAME} {_fmt(size)} Tf")
        for i, (w, text) in enumerate(line):
            x = w.left * k
            width = w.width * k
            ops.append(f"1 0 0 1 {_fmt(x)} {_fmt(y)} Tm")
            ops.append(f"{_fmt(100.0 * width / (em_advance * len(text)))} Tz {_hex(text)} Tj")
            if i + 1 < len(line):
                gap = line[i + 1][0].left * k - (x + width)
                gap = max(gap, 0.05 * size)  # touching/overlapping boxes: a sliver of space
                ops.append(f"{_fmt(100.0 * gap / em_advance)} Tz {_hex(' ')} Tj")
        ops.append("ET")
        line_strings.append(" ".join(text for _, text in line))
    return "\n".join(ops) + ("\n" if ops else ""), "\n".join(line_strings)


# --- PDF objects ---------------------------------------------------------------------------


def _flate_stream(pdf: pikepdf.Pdf, data: bytes, **keys) -> pikepdf.Stream:
    """A stream we compress ourselves, so the writer can leave every stream as is (the XMP
    must stay uncompressed and the JPEGs must stay byte-identical for the content hash)."""
    stream = pikepdf.Stream(pdf, zlib.compress(data, 9))
    stream.Filter = Name.FlateDecode
    for key, value in keys.items():
        stream[Name("/" + key)] = value
    return stream


def _add_font(pdf: pikepdf.Pdf) -> pikepdf.Object:
    """The glyphless Type0/CIDFontType2 font, embedded (FontFile2), Identity-H."""
    program = glyphless_font_bytes()
    font_file = _flate_stream(pdf, program, Length1=len(program))
    cid_map = pikepdf.Stream(pdf, cid_to_gid_map())
    cid_map.Filter = Name.FlateDecode
    descriptor = Dictionary(
        Type=Name.FontDescriptor,
        FontName=Name("/" + FONT_NAME),
        Flags=4,  # symbolic: the glyphs are not a standard Latin set
        FontBBox=Array([0, DESCENT, ADVANCE, ASCENT]),
        ItalicAngle=0,
        Ascent=ASCENT,
        Descent=DESCENT,
        CapHeight=700,
        StemV=80,
        FontFile2=font_file,
    )
    cid_font = Dictionary(
        Type=Name.Font,
        Subtype=Name.CIDFontType2,
        BaseFont=Name("/" + FONT_NAME),
        CIDSystemInfo=Dictionary(
            Registry=pikepdf.String("Adobe"), Ordering=pikepdf.String("Identity"), Supplement=0
        ),
        FontDescriptor=pdf.make_indirect(descriptor),
        DW=ADVANCE,
        CIDToGIDMap=cid_map,
    )
    font = Dictionary(
        Type=Name.Font,
        Subtype=Name.Type0,
        BaseFont=Name("/" + FONT_NAME),
        Encoding=Name("/Identity-H"),
        DescendantFonts=Array([pdf.make_indirect(cid_font)]),
        ToUnicode=_flate_stream(pdf, to_unicode_cmap()),
    )
    return pdf.make_indirect(font)


@functools.cache
def _srgb_icc() -> bytes:
    """LittleCMS's built-in sRGB profile with a fixed creation date.

    LittleCMS stamps the current time into the profile header (bytes 24-35); left as is,
    two seals of the same pages a second apart differ, which breaks "same inputs, same
    bytes" (the hub deduplicates by hash). The profile ID (bytes 84-99) is zero, so the
    date can be set without invalidating it.
    """
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    icc[24:36] = struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
    return bytes(icc)


def _add_output_intent(pdf: pikepdf.Pdf) -> None:
    """sRGB output intent (GTS_PDFA1): it gives DeviceRGB images a defined meaning."""
    profile = _flate_stream(pdf, _srgb_icc(), N=3)
    intent = Dictionary(
        Type=Name.OutputIntent,
        S=Name.GTS_PDFA1,
        OutputConditionIdentifier=pikepdf.String(OUTPUT_CONDITION),
        Info=pikepdf.String(OUTPUT_CONDITION),
        RegistryName=pikepdf.String("http://www.color.org"),
        DestOutputProfile=profile,
    )
    pdf.Root.OutputIntents = Array([pdf.make_indirect(intent)])


def _pdf_date(dt: datetime) -> str:
    """PDF date string (D:YYYYMMDDHHmmSS+HH'mm'), the same instant as the XMP date."""
    off = dt.utcoffset()
    assert off is not None
    minutes = int(off.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return dt.strftime("D:%Y%m%d%H%M%S") + f"{sign}{minutes // 60:02d}'{minutes % 60:02d}'"


def _add_page(pdf: pikepdf.Pdf, font, jpeg: bytes, px: tuple[int, int], size_pt, text_ops: str):
    w_pt, h_pt = size_pt
    image = pikepdf.Stream(pdf, jpeg)
    image.Type = Name.XObject
    image.Subtype = Name.Image
    image.Width, image.Height = px
    image.ColorSpace = Name.DeviceRGB
    image.BitsPerComponent = 8
    image.Filter = Name.DCTDecode
    draw = f"q {_fmt(w_pt)} 0 0 {_fmt(h_pt)} 0 0 cm {_IMAGE_NAME} Do Q\n"
    contents = _flate_stream(pdf, (draw + text_ops).encode("ascii"))
    page = Dictionary(
        Type=Name.Page,
        MediaBox=Array([0, 0, Decimal(_fmt(w_pt)), Decimal(_fmt(h_pt))]),
        Resources=Dictionary(
            XObject=Dictionary({_IMAGE_NAME: image}),
            Font=Dictionary({_FONT_NAME: font}),
        ),
        Contents=contents,
    )
    pdf.pages.append(pikepdf.Page(page))


def _validate(pages: list[SealPage], info: DocumentInfo, image_dpi: int, quality: int) -> None:
    if not pages:
        raise SealError("cannot seal a document without pages", "Tài liệu chưa có trang nào.")
    if image_dpi < MIN_IMAGE_DPI:
        raise SealError(
            f"image_dpi {image_dpi} is below the {MIN_IMAGE_DPI} dpi archival minimum",
            f"Độ phân giải ảnh phải từ {MIN_IMAGE_DPI} dpi trở lên.",
        )
    if not 1 <= quality <= 95:
        raise SealError(f"jpeg_quality {quality} outside 1..95")
    for n, page in enumerate(pages, 1):
        if page.dpi <= 0:
            raise SealError(f"page {n} has invalid dpi {page.dpi}", f"Trang {n} không hợp lệ.")
    if info.created.tzinfo is None or info.created.utcoffset() is None:
        raise SealError("DocumentInfo.created must be timezone-aware")
    try:
        check_archival_keys(info.archival)
    except XmpError as exc:
        raise SealError(str(exc), "Siêu dữ liệu lưu trữ không hợp lệ.") from exc


def seal_pdf(
    pages: list[SealPage],
    info: DocumentInfo,
    out_path: Path,
    *,
    image_dpi: int = 200,
    jpeg_quality: int = 55,
) -> SealResult:
    """Write ``pages`` as a PDF/A-2b file at ``out_path`` (atomically) and describe it.

    Pages are decoded, resampled and compressed one at a time, so only one full-resolution
    page is in memory at once. The file appears under ``out_path`` only when complete and
    durable (:func:`sohoa_common.atomic.atomic_open`). See the module docstring for the content
    hash. Raises :class:`SealError` for bad input (no pages, unreadable image, ...).
    """
    _validate(pages, info, image_dpi, jpeg_quality)
    out_path = Path(out_path)
    pdf = pikepdf.new()
    font = _add_font(pdf)
    content = hashlib.sha256()
    for n, page in enumerate(pages, 1):
        if page.encoded is not None:
            jpeg = page.encoded
            nw, nh = _jpeg_size(jpeg, n)
            size_pt = (nw * 72.0 / image_dpi, nh * 72.0 / image_dpi)
        else:
            pixels, is_bgr = _load_pixels(page.image)
            h_px, w_px = pixels.shape[:2]
            size_pt = (w_px * 72.0 / page.dpi, h_px * 72.0 / page.dpi)
            jpeg, nw, nh = _encode_jpeg(pixels, is_bgr, page.dpi, image_dpi, jpeg_quality)
            del pixels  # drop the full-resolution page before decoding the next one
        try:
            text_ops, text = _text_layer(page.words, page.dpi, size_pt[1])
        except (TypeError, ValueError) as exc:
            raise SealError(f"page {n}: invalid OCR words: {exc}") from exc
        content.update(jpeg)
        content.update(text.encode("utf-8"))
        _add_page(pdf, font, jpeg, (nw, nh), size_pt, text_ops)
    content_sha256 = content.hexdigest()

    _add_output_intent(pdf)
    producer = f"Sohoa {__version__} (pikepdf {pikepdf.__version__})"
    title = info.title or info.doc_id
    # Ids derive from the inputs (reproducible output): the document id is stable across
    # re-seals of one document, the instance id changes with its content or date.
    instance_key = f"{SOHOA_NS}{info.doc_id}/{content_sha256}/{info.created.isoformat()}"
    fields = XmpFields(
        title=title,
        language=info.language,
        created=info.created,
        # Sealing is the one and only modification; using the creation instant keeps the
        # output reproducible (same inputs, same bytes).
        modified=info.created,
        producer=producer,
        creator_tool=CREATOR_TOOL,
        document_id=f"uuid:{uuid.uuid5(uuid.NAMESPACE_URL, SOHOA_NS + info.doc_id)}",
        instance_id=f"uuid:{uuid.uuid5(uuid.NAMESPACE_URL, instance_key)}",
        doc_id=info.doc_id,
        kiosk_id=info.kiosk_id,
        page_count=len(pages),
        content_sha256=content_sha256,
        subject=info.subject,
        keywords=list(info.keywords),
        archival=dict(info.archival),
    )
    metadata = pikepdf.Stream(pdf, build_xmp(fields))
    metadata.Type = Name.Metadata
    metadata.Subtype = Name.XML
    pdf.Root.Metadata = metadata
    pdf.Root.Lang = pikepdf.String(info.language)

    # DocInfo mirrors the XMP entry for entry: PDF/A requires them to agree.
    docinfo = {
        "/Title": pikepdf.String(title),
        "/Author": pikepdf.String(fields.creator),
        "/Creator": pikepdf.String(CREATOR_TOOL),
        "/Producer": pikepdf.String(producer),
        "/CreationDate": pikepdf.String(_pdf_date(info.created)),
        "/ModDate": pikepdf.String(_pdf_date(info.created)),
    }
    if info.subject:
        docinfo["/Subject"] = pikepdf.String(info.subject)
    if info.keywords:
        docinfo["/Keywords"] = pikepdf.String(fields.keywords_text)
    pdf.trailer.Info = pdf.make_indirect(Dictionary(docinfo))

    try:
        with atomic_open(out_path) as fh:
            _save(pdf, fh)
    except (OSError, pikepdf.PdfError) as exc:
        raise SealError(
            f"cannot write {out_path}: {exc}", "Không ghi được tệp PDF lưu trữ (ổ đĩa đầy?)."
        ) from exc
    data_hash, size = _file_sha256(out_path)
    return SealResult(
        path=out_path,
        sha256=data_hash,
        content_sha256=content_sha256,
        size=size,
        page_count=len(pages),
    )


def _save(pdf: pikepdf.Pdf, fh) -> None:
    """Serialize without touching our streams (already compressed; XMP stays plain)."""
    pdf.save(
        fh,
        force_version="1.7",
        compress_streams=False,
        stream_decode_level=pikepdf.StreamDecodeLevel.none,
        object_stream_mode=pikepdf.ObjectStreamMode.generate,
        fix_metadata_version=False,
        deterministic_id=True,
    )


def _file_sha256(path: Path) -> tuple[str, int]:
    return sha256_file(path), Path(path).stat().st_size


# --- verification --------------------------------------------------------------------------


def _page_content(page: pikepdf.Page) -> tuple[list[bytes], str]:
    """The raw JPEG bytes drawn by the page and its text layer string (see module doc)."""
    jpegs: list[bytes] = []
    lines: list[str] = []
    current: list[str] | None = None
    xobjects = page.obj.Resources.get("/XObject", Dictionary())
    for instruction in pikepdf.parse_content_stream(page):
        operands, op = instruction.operands, str(instruction.operator)
        if op == "Do":
            xobj = xobjects.get(str(operands[0]))
            if xobj is not None and xobj.get("/Subtype") == Name.Image:
                if xobj.get("/Filter") != Name.DCTDecode:
                    raise SealError("page image is not a JPEG (DCTDecode) stream")
                jpegs.append(xobj.read_raw_bytes())
        elif op == "BT":
            current = []
        elif op == "Tj" and current is not None:
            current.append(bytes(operands[0]).decode("utf-16-be"))
        elif op == "ET" and current is not None:
            lines.append("".join(current))
            current = None
    return jpegs, "\n".join(lines)


def verify_sealed(path: Path, *, expected_sha256: str | None = None) -> dict:
    """Check a sealed file is complete, PDF/A-2b identified and its content unaltered.

    Re-reads the file strictly (no xref recovery, so a truncated file fails), checks the
    header, PDF/A identification and output intent, recomputes the content hash from the
    embedded JPEGs and text layers and compares it and the page count with the XMP. With
    ``expected_sha256`` (the catalog's record of the whole file) the file bytes are checked
    too, which also covers the metadata. Returns the XMP fields (:func:`firmware.archive.xmp.parse_xmp`)
    plus ``sha256`` and ``size`` of the file. Raises :class:`SealError` on any failure.
    """
    path = Path(path)
    bad_vi = "Tệp PDF lưu trữ bị hỏng hoặc đã bị thay đổi."
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            fh.seek(max(0, path.stat().st_size - 64))
            tail = fh.read()
    except OSError as exc:
        raise SealError(f"cannot read {path}: {exc}", bad_vi) from exc
    if not head.startswith(b"%PDF-1.7") or not any(b > 127 for b in head[9:16]):
        raise SealError(f"{path}: not a PDF 1.7 file with a binary comment", bad_vi)
    if not tail.rstrip().endswith(b"%%EOF"):
        raise SealError(f"{path}: file is truncated (no %%EOF at the end)", bad_vi)
    sha, size = _file_sha256(path)
    if expected_sha256 is not None and sha != expected_sha256.lower():
        raise SealError(f"{path}: file SHA-256 {sha} differs from the recorded one", bad_vi)
    try:
        with pikepdf.open(path, attempt_recovery=False) as pdf:
            result = _verify_open(pdf, path)
            warnings = pdf.get_warnings()
    except SealError:
        raise
    except (pikepdf.PdfError, ValueError, KeyError, AttributeError, TypeError) as exc:
        # ValueError covers undecodable text strings; Key/Attribute/TypeError a structure
        # that is not the one seal_pdf writes.
        raise SealError(f"{path}: damaged PDF: {exc}", bad_vi) from exc
    if warnings:
        raise SealError(f"{path}: damaged PDF: {'; '.join(warnings)}", bad_vi)
    result.update(sha256=sha, size=size)
    return result


def _verify_open(pdf: pikepdf.Pdf, path: Path) -> dict:
    bad_vi = "Tệp PDF lưu trữ bị hỏng hoặc đã bị thay đổi."
    if pdf.is_encrypted:
        raise SealError(f"{path}: archival PDF must not be encrypted", bad_vi)
    if "/Metadata" not in pdf.Root:
        raise SealError(f"{path}: no XMP metadata", bad_vi)
    try:
        meta = parse_xmp(pdf.Root.Metadata.read_bytes())
    except XmpError as exc:
        raise SealError(f"{path}: {exc}", bad_vi) from exc
    if (meta["pdfa_part"], meta["pdfa_conformance"]) != ("2", "B"):
        raise SealError(f"{path}: not identified as PDF/A-2b", bad_vi)
    intents = pdf.Root.get("/OutputIntents", Array())
    if not any(oi.get("/S") == Name.GTS_PDFA1 and "/DestOutputProfile" in oi for oi in intents):
        raise SealError(f"{path}: no PDF/A output intent", bad_vi)
    if meta["page_count"] != len(pdf.pages):
        raise SealError(
            f"{path}: XMP says {meta['page_count']} pages, the file has {len(pdf.pages)}",
            bad_vi,
        )
    content = hashlib.sha256()
    for n, page in enumerate(pdf.pages, 1):
        jpegs, text = _page_content(page)
        if len(jpegs) != 1:
            raise SealError(f"{path}: page {n} draws {len(jpegs)} images, expected 1", bad_vi)
        content.update(jpegs[0])
        content.update(text.encode("utf-8"))
    if content.hexdigest() != meta["content_sha256"]:
        raise SealError(f"{path}: content hash mismatch: pages were altered", bad_vi)
    title = pdf.docinfo.get("/Title")
    if title is None or str(title) != meta["title"]:
        raise SealError(f"{path}: DocInfo title disagrees with the XMP", bad_vi)
    return meta
