"""Archival PDF/A sealing: image layer, invisible text layer, XMP, hashes, atomicity.

The pages are drawn here with Pillow (Liberation Serif, 300 dpi, a red seal), so every word's
box is known exactly and the text layer can be checked against it with poppler's pdftotext.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from firmware.archive.seal import (
    DocumentInfo,
    OcrWord,
    SealError,
    SealPage,
    seal_pdf,
    verify_sealed,
)
from sohoa_common.atomic import TMP_PREFIX

FONT_PATH = "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf"
DPI = 300
A4_PX = (2480, 3508)  # 210 x 297 mm at 300 dpi
ICT = timezone(timedelta(hours=7))

HEADER_LEFT = "BAN CHẤP HÀNH TRUNG ƯƠNG"
HEADER_RIGHT = "ĐẢNG CỘNG SẢN VIỆT NAM"
NUMBER = "Số 64-CV/TW"
DATE_LINE = "Hà Nội, ngày 10 tháng 4 năm 2025"
TYPE_LINE = "Quyết định"
BODY = [
    "Căn cứ Điều lệ Đảng Cộng sản Việt Nam và Quy chế làm việc của Ban Chấp hành",
    "Trung ương, Bộ Chính trị, Ban Bí thư khóa XIII về công tác văn thư, lưu trữ;",
    "Xét đề nghị của Văn phòng Trung ương Đảng về việc số hóa tài liệu lưu trữ,",
    "các cấp ủy, tổ chức đảng thực hiện nghiêm túc việc lập hồ sơ và nộp lưu.",
    "Điều 1. Ban hành kèm theo Quyết định này Quy định về số hóa tài liệu.",
    "Điều 2. Quyết định có hiệu lực kể từ ngày ký. Các đồng chí chịu trách nhiệm",
    "thi hành Quyết định này; báo cáo kết quả về Văn phòng Tỉnh ủy đúng hạn.",
]

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils")


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def _draw_line(draw, font, text, x, baseline, line_no, words):
    """Draw ``text`` word by word from (x, baseline); record each word's ink box."""
    space = draw.textlength(" ", font=font)
    for word in nfc(text).split(" "):
        x0, t, r, b = draw.textbbox((x, baseline), word, font=font, anchor="ls")
        draw.text((x, baseline), word, font=font, fill=(20, 20, 20), anchor="ls")
        words.append(
            OcrWord(word, x0, t, r - x0, b - t, conf=95.0, line=line_no, baseline=baseline)
        )
        x += draw.textlength(word, font=font) + space
    return x


def make_page(body_lines: int = len(BODY), noise: float = 0.0, seed: int = 0):
    """A flattened A4 page at 300 dpi (BGR) with a Party-document layout and its words."""
    img = Image.new("RGB", A4_PX, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT_PATH, 56)  # ~13.5 pt at 300 dpi
    words: list[OcrWord] = []
    line = 0

    def right_aligned(text, baseline):
        nonlocal line
        width = draw.textlength(nfc(text), font=font)
        _draw_line(draw, font, text, A4_PX[0] - 240 - width, baseline, line, words)
        line += 1

    _draw_line(draw, font, HEADER_LEFT, 240, 300, line, words)
    line += 1
    right_aligned(HEADER_RIGHT, 300)
    _draw_line(draw, font, NUMBER, 400, 420, line, words)
    line += 1
    right_aligned(DATE_LINE, 420)
    tw = draw.textlength(TYPE_LINE, font=font)
    _draw_line(draw, font, TYPE_LINE, (A4_PX[0] - tw) / 2, 620, line, words)
    line += 1
    y = 760
    for i in range(body_lines):
        _draw_line(draw, font, BODY[i % len(BODY)], 280, y, line, words)
        line += 1
        y += 80
    # The red seal over the signature.
    cx, cy, r = 1750, y + 250, 190
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(200, 30, 30), width=14)
    draw.ellipse(
        (cx - r + 40, cy - r + 40, cx + r - 40, cy + r - 40), outline=(200, 30, 30), width=6
    )
    draw.regular_polygon((cx, cy, 50), 5, fill=(200, 30, 30))
    rgb = np.asarray(img).astype(np.int16)
    if noise:
        rng = np.random.default_rng(seed)
        rgb = rgb + rng.normal(0, noise, rgb.shape).round().astype(np.int16)
    bgr = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    return bgr, words


def info(**kw) -> DocumentInfo:
    base = dict(
        doc_id="doc-2025-0042",
        title="Quyết định về số hóa tài liệu lưu trữ",
        created=datetime(2025, 4, 10, 9, 30, tzinfo=ICT),
        kiosk_id="kiosk-hn-07",
        subject="V/v số hóa tài liệu",
        keywords=["số hóa", "lưu trữ"],
        archival={"maHoSo": "VPTU.2025.01", "doMat": "Thường", "soKyHieu": "64-CV/TW"},
    )
    base.update(kw)
    return DocumentInfo(**base)


#: Body lines of a typical one-page letter (plus header block, title and seal).
TYPICAL_BODY_LINES = 14


@pytest.fixture(scope="module")
def pages():
    p1 = make_page(body_lines=TYPICAL_BODY_LINES)
    p2 = make_page(body_lines=4)
    return [SealPage(p1[0], DPI, p1[1]), SealPage(p2[0], DPI, p2[1])]


@pytest.fixture(scope="module")
def sealed(pages, tmp_path_factory):
    out = tmp_path_factory.mktemp("sealed") / "VPTU.2025.01.001.pdf"
    return seal_pdf(pages, info(), out)


def _pdf_points(px: float) -> float:
    return px * 72.0 / DPI


def _expected_text(words: list[OcrWord]) -> str:
    lines: dict[int, list[OcrWord]] = {}
    for w in words:
        lines.setdefault(w.line, []).append(w)
    return "\n".join(
        " ".join(w.text for w in sorted(lines[k], key=lambda w: w.left)) for k in sorted(lines)
    )


# --- structure ------------------------------------------------------------------------------


def test_pdf_is_a4_pdf17_with_binary_header(sealed):
    data = sealed.path.read_bytes()
    assert data.startswith(b"%PDF-1.7\n%")
    assert all(b > 127 for b in data[10:14])  # PDF/A: binary comment on line 2
    assert data.rstrip().endswith(b"%%EOF")
    assert sealed.size == len(data) and sealed.page_count == 2
    with pikepdf.open(sealed.path) as pdf:
        assert len(pdf.pages) == 2
        assert not pdf.is_encrypted
        assert "/ID" in pdf.trailer
        for page in pdf.pages:
            x0, y0, x1, y1 = (float(v) for v in page.mediabox)
            assert (x0, y0) == (0, 0)
            assert x1 == pytest.approx(595, abs=1) and y1 == pytest.approx(842, abs=1)
        # No JavaScript, no actions, no transparency groups.
        assert "/Names" not in pdf.Root and "/OpenAction" not in pdf.Root
        assert "/AA" not in pdf.Root


def test_image_layer_is_colour_jpeg_at_200_dpi_full_page(sealed):
    with pikepdf.open(sealed.path) as pdf:
        for page in pdf.pages:
            images = list(page.get_images().values())
            assert len(images) == 1
            im = images[0]
            assert im.Filter == pikepdf.Name.DCTDecode
            assert im.ColorSpace == pikepdf.Name.DeviceRGB and "/SMask" not in im
            width_in = float(page.mediabox[2]) / 72
            assert int(im.Width) / width_in == pytest.approx(200, abs=1)
            assert int(im.Height) / (float(page.mediabox[3]) / 72) == pytest.approx(200, abs=1)
            import io

            with Image.open(io.BytesIO(im.read_raw_bytes())) as jpeg:
                assert jpeg.format == "JPEG" and jpeg.mode == "RGB"
                # The red seal survived: some pixels are clearly red.
                rgb = np.asarray(jpeg).astype(int)
            red = (rgb[..., 0] > 150) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)
            assert red.sum() > 500
            # Drawn at 100 %: the image fills the MediaBox exactly.
            ops = [
                (list(map(float, o)), str(op))
                for o, op in pikepdf.parse_content_stream(page)
                if str(op) == "cm"
            ]
            assert ops[0][0] == pytest.approx(
                [float(page.mediabox[2]), 0, 0, float(page.mediabox[3]), 0, 0], abs=0.01
            )


def test_page_size_budget(sealed, pages, tmp_path):
    """Archive budget: <= 200 KB per A4 page at 200 dpi for a typical flattened text page
    (white paper, black text, red seal), fonts, ICC and XMP included."""
    assert sealed.size / sealed.page_count <= 200 * 1024
    single = seal_pdf([pages[0]], info(), tmp_path / "one.pdf")
    assert single.size <= 200 * 1024


@pytest.mark.skipif(shutil.which("qpdf") is None, reason="qpdf CLI")
def test_qpdf_finds_no_structural_problem(sealed):
    res = subprocess.run(["qpdf", "--check", str(sealed.path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "No syntax or stream encoding errors" in res.stdout


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils")
def test_rendered_page_looks_like_the_scan_and_text_is_invisible(sealed, pages, tmp_path):
    """Rendering shows the image upright at full page, and nothing else (mode 3 text)."""
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "50",
            "-f",
            "1",
            "-l",
            "1",
            "-png",
            str(sealed.path),
            str(tmp_path / "r"),
        ],
        check=True,
    )
    (png,) = tmp_path.glob("r*.png")
    rendered = cv2.imread(str(png))
    h, w = rendered.shape[:2]
    assert (w, h) == pytest.approx((round(A4_PX[0] / 6), round(A4_PX[1] / 6)), abs=1)
    expected = cv2.resize(pages[0].image, (w, h), interpolation=cv2.INTER_AREA)
    diff = np.abs(rendered.astype(int) - expected.astype(int))
    assert diff.mean() < 4.0
    # Flipped or shifted images would differ a lot more than the JPEG error does.
    assert np.abs(rendered.astype(int) - expected[::-1].astype(int)).mean() > 3 * diff.mean()


def test_fonts_are_embedded(sealed):
    with pikepdf.open(sealed.path) as pdf:
        fonts = [f for page in pdf.pages for f in page.Resources.Font.values()]
        assert fonts
        for font in fonts:
            assert font.Subtype == pikepdf.Name.Type0 and font.Encoding == pikepdf.Name(
                "/Identity-H"
            )
            cid = font.DescendantFonts[0]
            assert cid.Subtype == pikepdf.Name.CIDFontType2
            assert "/CIDToGIDMap" in cid and "/ToUnicode" in font
            assert len(cid.FontDescriptor.FontFile2.read_bytes()) > 100
    if shutil.which("pdffonts"):
        out = subprocess.run(
            ["pdffonts", str(sealed.path)], capture_output=True, text=True, check=True
        ).stdout
        rows = out.splitlines()[2:]
        assert rows and all(re.search(r"\byes\b", row) for row in rows)


def test_xmp_pdfa_identification_and_sohoa_fields(sealed):
    with pikepdf.open(sealed.path) as pdf:
        meta_stream = pdf.Root.Metadata
        assert "/Filter" not in meta_stream  # PDF/A: XMP stays readable as plain text
        meta = pdf.open_metadata()
        assert meta.pdfa_status == "2B"
        assert meta["dc:title"] == "Quyết định về số hóa tài liệu lưu trữ"
        assert meta["xmp:CreatorTool"] == "Sohoa"
        assert meta["xmpMM:DocumentID"].startswith("uuid:")
        assert meta["pdf:Keywords"] == "số hóa, lưu trữ"
        raw = meta_stream.read_bytes().decode("utf-8")
        assert "https://sohoa.vn/ns/archive/1.0/" in raw and "pdfaExtension:schemas" in raw
        # DocInfo agrees with the XMP.
        assert str(pdf.docinfo.Title) == meta["dc:title"]
        assert str(pdf.docinfo.Producer) == meta["pdf:Producer"]
        assert str(pdf.docinfo.Keywords) == meta["pdf:Keywords"]
        assert str(pdf.docinfo.CreationDate) == "D:20250410093000+07'00'"
        # sRGB output intent.
        (intent,) = pdf.Root.OutputIntents
        assert intent.S == pikepdf.Name.GTS_PDFA1
        assert int(intent.DestOutputProfile.N) == 3
        icc = intent.DestOutputProfile.read_bytes()
        assert icc[36:40] == b"acsp" and icc[16:20] == b"RGB " and icc[8] <= 4
        assert str(pdf.Root.Lang) == "vi"
    fields = verify_sealed(sealed.path)
    assert fields["doc_id"] == "doc-2025-0042"
    assert fields["kiosk_id"] == "kiosk-hn-07"
    assert fields["page_count"] == 2
    assert fields["content_sha256"] == sealed.content_sha256
    assert fields["archival"] == {
        "maHoSo": "VPTU.2025.01",
        "doMat": "Thường",
        "soKyHieu": "64-CV/TW",
    }
    assert fields["created"] == "2025-04-10T09:30:00+07:00"
    # Every custom property used is declared in the pdfaExtension schema (PDF/A 6.6.2.3).
    declared = set(fields["extension_properties"])
    assert {"docId", "kioskId", "pageCount", "contentSHA256", *fields["archival"]} <= declared


def test_content_hash_follows_the_documented_definition(sealed, pages):
    import hashlib

    h = hashlib.sha256()
    with pikepdf.open(sealed.path) as pdf:
        for page, src in zip(pdf.pages, pages, strict=True):
            (im,) = page.get_images().values()
            h.update(im.read_raw_bytes())
            h.update(_expected_text(src.words).encode("utf-8"))
    assert h.hexdigest() == sealed.content_sha256
    assert hashlib.sha256(sealed.path.read_bytes()).hexdigest() == sealed.sha256
    assert verify_sealed(sealed.path, expected_sha256=sealed.sha256)["sha256"] == sealed.sha256


# --- text layer -----------------------------------------------------------------------------


@needs_poppler
def test_pdftotext_layout_extracts_exact_vietnamese(sealed):
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(sealed.path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    text = nfc(out)
    for s in (DATE_LINE, HEADER_RIGHT, HEADER_LEFT, TYPE_LINE, NUMBER, BODY[0], BODY[6]):
        assert nfc(s) in text


@needs_poppler
def test_pdftotext_reading_order_and_word_spaces(sealed):
    out = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", "-enc", "UTF-8", str(sealed.path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [nfc(line) for line in out.splitlines()]
    positions = [lines.index(nfc(b)) for b in BODY]  # each body line whole, single spaces
    assert positions == sorted(positions)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area else 0.0


@needs_poppler
def test_pdftotext_word_boxes_overlap_drawn_words(sealed, pages):
    out = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(sealed.path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, list[tuple[float, ...]]] = {}
    for m in re.finditer(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
        out,
    ):
        import html

        found.setdefault(nfc(html.unescape(m.group(5))), []).append(
            tuple(float(m.group(i)) for i in range(1, 5))
        )
    words = pages[0].words
    assert sum(len(v) for v in found.values()) == len(words)
    for w in words:
        drawn = (
            _pdf_points(w.left),
            _pdf_points(w.top),
            _pdf_points(w.left + w.width),
            _pdf_points(w.top + w.height),
        )
        best = max(_iou(drawn, box) for box in found[nfc(w.text)])
        assert best > 0.5, (w.text, best)


@needs_poppler
def test_decomposed_and_non_bmp_text_is_normalised(tmp_path):
    bgr, _ = make_page(body_lines=0)
    nfd = unicodedata.normalize("NFD", "Quyết định")
    words = [
        OcrWord(nfd.split(" ")[0], 300, 1000, 300, 60, 90.0, line=0),
        OcrWord(nfd.split(" ")[1], 640, 1000, 300, 60, 90.0, line=0),
        OcrWord("ký\U0001f600", 300, 1200, 200, 60, 90.0, line=1),  # emoji: outside the BMP
    ]
    res = seal_pdf([SealPage(bgr, DPI, words)], info(), tmp_path / "n.pdf")
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(res.path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Quyết định" in out  # NFC, composed
    assert "ký\ufffd" in out
    verify_sealed(res.path)


# --- inputs, reproducibility ----------------------------------------------------------------


def test_path_input_gives_same_content_and_sealing_is_reproducible(tmp_path, pages):
    png = tmp_path / "p1.png"
    cv2.imwrite(str(png), pages[1].image)
    from_path = seal_pdf([SealPage(png, DPI, pages[1].words)], info(), tmp_path / "a.pdf")
    from_array = seal_pdf(
        [SealPage(pages[1].image, DPI, pages[1].words)], info(), tmp_path / "b.pdf"
    )
    assert from_path.content_sha256 == from_array.content_sha256
    assert from_path.sha256 == from_array.sha256  # same inputs, same bytes
    other = seal_pdf(
        [SealPage(pages[1].image, DPI, pages[1].words)], info(title="Khác"), tmp_path / "c.pdf"
    )
    assert other.content_sha256 == from_array.content_sha256 and other.sha256 != from_array.sha256


@pytest.mark.parametrize(
    "make_args, needle",
    [
        (lambda p, t: ([], info(), {}), "without pages"),
        (lambda p, t: ([SealPage(t / "missing.png", DPI, [])], info(), {}), "cannot read"),
        (lambda p, t: ([SealPage(t / "junk.png", DPI, [])], info(), {}), "cannot read"),
        (lambda p, t: ([p[1]], info(), {"image_dpi": 150}), "200 dpi"),
        (lambda p, t: ([p[1]], info(created=datetime(2025, 4, 10)), {}), "timezone"),
        (lambda p, t: ([p[1]], info(archival={"bad key": "x"}), {}), "bad key"),
        (lambda p, t: ([p[1]], info(archival={"docId": "x"}), {}), "clashes"),
    ],
)
def test_bad_input_raises_seal_error_and_writes_nothing(tmp_path, pages, make_args, needle):
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    page_list, doc, kw = make_args(pages, tmp_path)
    out = tmp_path / "out.pdf"
    with pytest.raises(SealError, match=needle) as exc:
        seal_pdf(page_list, doc, out, **kw)
    assert exc.value.message_vi  # a Vietnamese sentence for the clerk
    assert not out.exists()


# --- crash safety and tamper evidence -------------------------------------------------------


def test_failed_write_leaves_no_file_and_no_temporary(tmp_path, pages, monkeypatch):
    import firmware.archive.seal as seal_mod

    def broken_save(pdf, fh):
        fh.write(b"%PDF-1.7\n half a file")
        raise OSError("disk full")

    out = tmp_path / "doc.pdf"
    monkeypatch.setattr(seal_mod, "_save", broken_save)
    with pytest.raises(SealError, match="disk full") as exc:
        seal_pdf([pages[1]], info(), out)
    assert "Không ghi được" in exc.value.message_vi
    assert list(tmp_path.iterdir()) == []

    # An earlier sealed version under the same name survives a failed re-seal untouched.
    monkeypatch.undo()
    first = seal_pdf([pages[1]], info(), out)
    monkeypatch.setattr(seal_mod, "_save", broken_save)
    with pytest.raises(SealError):
        seal_pdf([pages[1]], info(title="v2"), out)
    assert verify_sealed(out)["sha256"] == first.sha256
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_verify_detects_a_flipped_byte_in_the_image(tmp_path, sealed):
    copy = tmp_path / "tampered.pdf"
    shutil.copy(sealed.path, copy)
    with pikepdf.open(copy) as pdf:
        jpeg = next(iter(pdf.pages[1].get_images().values())).read_raw_bytes()
    start = copy.read_bytes().find(jpeg)
    assert start > 0
    _flip(copy, start + len(jpeg) // 2)
    with pytest.raises(SealError, match="content hash"):
        verify_sealed(copy)


@pytest.mark.parametrize("keep", [0.5, 0.97, -12])
def test_verify_detects_truncation(tmp_path, sealed, keep):
    data = sealed.path.read_bytes()
    n = len(data) + keep if keep < 0 else int(len(data) * keep)
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[:n])
    with pytest.raises(SealError):
        verify_sealed(cut)
    # Even with a forged end marker, the missing cross-reference data is noticed.
    cut.write_bytes(data[:n] + b"\n%%EOF\n")
    with pytest.raises(SealError):
        verify_sealed(cut)


def test_verify_detects_wrong_file_hash_and_non_pdf(tmp_path, sealed):
    with pytest.raises(SealError, match="SHA-256"):
        verify_sealed(sealed.path, expected_sha256="0" * 64)
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"hello")
    with pytest.raises(SealError):
        verify_sealed(junk)
    with pytest.raises(SealError):
        verify_sealed(tmp_path / "absent.pdf")


def test_xmp_round_trip_escapes_markup_and_rejects_bad_keys():
    from firmware.archive.xmp import XmpError, XmpFields, build_xmp, parse_xmp

    when = datetime(2025, 4, 10, 9, 30, tzinfo=ICT)
    fields = XmpFields(
        title='Quyết định <số 12> & "trích yếu"',
        language="vi",
        created=when,
        modified=when,
        producer="p",
        creator_tool="Sohoa",
        document_id="uuid:1",
        instance_id="uuid:2",
        doc_id="d&1",
        kiosk_id="k<1>",
        page_count=3,
        content_sha256="ab" * 32,
        archival={"trichYeu": "V/v <lưu trữ> & số hóa", "mã_hồ_sơ": "01"},
    )
    packet = build_xmp(fields)
    assert packet.startswith(b"<?xpacket begin=") and packet.endswith(b'<?xpacket end="w"?>')
    back = parse_xmp(packet)
    assert back["title"] == fields.title and back["doc_id"] == "d&1"
    assert back["kiosk_id"] == "k<1>" and back["page_count"] == 3
    assert back["archival"] == fields.archival
    for bad in ({"a:b": "x"}, {"1abc": "x"}, {"ok": 5}):
        fields.archival = bad
        with pytest.raises(XmpError):
            build_xmp(fields)
