"""The review form's pre-fill (which source wins), the reader's repairs (word list, issuer
lines, body codes, capitals in the text layer) and the screens' Vietnamese formats."""

from __future__ import annotations

import pytest

from firmware.metadata.bodies import canonical_symbol, snap_issuer
from firmware.metadata.headers import fix_breaks, restore_line, split_joined
from firmware.metadata.numbering import number_symbol_of
from firmware.metadata.prefill import form_values
from firmware.metadata.textlayer import restore_text
from firmware.metadata.wordlist import Restorer, count_texts, restorer
from kiosk_ui import formats

EXTRACTION = {
    "page_id": "P1",
    "fields": {
        "type": {"value": "Công văn", "confidence": 0.95},
        "number": {"value": "64", "confidence": 0.97},
        "symbol": {"value": "CV/TW", "confidence": 0.97},
        "date": {"value": "2025-04-10", "confidence": 0.5},
        "issuer": {"value": "BAN CHẤP HÀNH TRUNG ƯƠNG", "confidence": 0.9},
        "subject": {"value": "V/v số hóa", "confidence": 0.92},
    },
    "metadata": {"doc_type": "CV", "number": "64", "symbol": "CV/TW", "kind": "party"},
}


def test_reader_fills_the_form_and_flags_what_it_is_unsure_of():
    f = form_values({}, EXTRACTION, None, 0.8)
    assert f["number_symbol"].value == "64-CV/TW" and f["number_symbol"].source == "ocr"
    assert f["doc_type"].value == "CV"
    assert f["date"].unsure and not f["subject"].unsure


def test_cover_sheet_and_register_win_over_the_reader_and_the_clerk_over_all():
    meta = {"subject": "V/v từ tờ bìa", "field_sources": {"subject": "coversheet"}}
    entry = {"issuer": "Tỉnh ủy Nam Định", "number_symbol": "64-CV/TW", "date": "2025-04-11"}
    f = form_values(meta, EXTRACTION, entry, 0.8)
    assert (f["subject"].value, f["subject"].source) == ("V/v từ tờ bìa", "coversheet")
    assert (f["issuer"].value, f["issuer"].source) == ("Tỉnh ủy Nam Định", "register")
    assert f["date"].value == "2025-04-11" and not f["date"].unsure
    clerk = form_values({"issuer": "Văn phòng Tỉnh ủy"}, EXTRACTION, entry, 0.8)
    assert (clerk["issuer"].value, clerk["issuer"].source) == ("Văn phòng Tỉnh ủy", "clerk")


def test_nothing_read_leaves_empty_fields_marked():
    f = form_values({}, None, None, 0.8)
    assert all(v.value == "" and v.unsure for v in f.values())


@pytest.mark.parametrize(
    ("meta", "shown"),
    [
        ({"number": "49-QĐ/UBKTTU"}, "49-QĐ/UBKTTU"),
        ({"number": "49", "symbol": "QĐ/UBKTTU", "kind": "party"}, "49-QĐ/UBKTTU"),
        ({"number": "12", "symbol": "QĐ-UBND"}, "12/QĐ-UBND"),
        ({"number_symbol": "64-CV/TW", "number": "64"}, "64-CV/TW"),
    ],
)
def test_number_and_symbol_are_shown_whole(meta, shown):
    assert number_symbol_of(meta) == shown


@pytest.mark.parametrize(
    ("read", "meant"),
    [
        (
            "Về qua trình sap xếp, kiện toàn tố chức bộ máy",
            "Về quá trình sắp xếp, kiện toàn tổ chức bộ máy",
        ),
        ("Tang cường công tác", "Tăng cường công tác"),
        ("Về chỉnh lý tài liệu tôn đọng", "Về chỉnh lý tài liệu tồn đọng"),
    ],
)
def test_word_list_puts_back_lost_marks(read, meant):
    assert restorer().restore_text(read) == meant


def test_word_list_leaves_text_it_cannot_vouch_for():
    r = restorer()
    for text in ("đi qua cầu", "qua", "Hôm nay trời đẹp", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"):
        assert r.restore_text(text) == text


def test_restorer_learns_from_its_texts_only():
    uni, bi = count_texts(["tăng cường", "tăng cường kỷ luật"])
    r = Restorer(uni, bi)
    assert r.restore_text("Tang cuong ky luat") == "Tăng cường kỷ luật"
    assert r.restore_text("Tang ca") == "Tang ca"  # "ca" unknown: no context, kept


def test_issuer_lines_are_cleaned_split_and_joined_at_the_right_place():
    assert fix_breaks(["ỦY BAN NHÂN", "DÂN XÃ TÂN HƯNG"]) == ["ỦY BAN NHÂN DÂN", "XÃ TÂN HƯNG"]
    assert fix_breaks(["BAN CHẤP HÀNH ĐẢNG", "BỘ TỈNH CÀ MAU"]) == [
        "BAN CHẤP HÀNH ĐẢNG BỘ",
        "TỈNH CÀ MAU",
    ]
    assert fix_breaks(["TỈNH ỦY QUẢNG NAM", "ỦY BAN KIỂM TRA"]) == [
        "TỈNH ỦY QUẢNG NAM",
        "ỦY BAN KIỂM TRA",
    ]
    assert split_joined("TINHNGHEAN") == ["TINH", "NGHE", "AN"]
    assert restore_line("ĐẢNG BỘ TINHNGHEAN")[0] == "ĐẢNG BỘ TỈNH NGHỆ AN"
    assert restore_line("UBND HUYỆN VŨ THƯ_")[0] == "UBND HUYỆN VŨ THƯ"
    assert restore_line("BAN CHẤP HÀNH TRUNG ƯƠNG ok")[0] == "BAN CHẤP HÀNH TRUNG ƯƠNG"
    assert restore_line("DANG UY XA TAN HUNG", ("TÂN HƯNG",))[0] == "ĐẢNG ỦY XÃ TÂN HƯNG"
    assert restore_line("BANG BỘ TÍNH NGHỆ AN")[0] == "ĐẢNG BỘ TỈNH NGHỆ AN"  # Đ read as B
    assert restore_line("BAN DÂN VẬN")[0] == "BAN DÂN VẬN"


def test_body_codes_get_their_stroke_back_and_known_issuers_their_spelling():
    assert canonical_symbol("KH/DU") == "KH/ĐU"
    assert canonical_symbol("TB-SGDDT") == "TB-SGDĐT"
    assert canonical_symbol("QĐ-UBND") == "QĐ-UBND"
    assert canonical_symbol("CV/XYZ") == "CV/XYZ"
    known = ["HUYỆN ỦY GIA LÂM - ĐẢNG ỦY XÃ ĐA TỐN", "TỈNH ỦY BẮC NINH - BAN TUYÊN GIÁO"]
    assert snap_issuer("HUYEN UY GIA LAM - DANG UY XA DA TON", known) == known[0]
    assert snap_issuer("ỦY BAN NHÂN DÂN TỈNH CÀ MAU", known) is None


def test_text_layer_headings_in_capitals_get_their_marks():
    text = "QUYET DINH\nVề việc abc\nUY BAN KIEM TRA\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert restore_text(text).split("\n") == [
        "QUYẾT ĐỊNH",
        "Về việc abc",
        "ỦY BAN KIỂM TRA",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    ]


def test_screens_write_dates_and_numbers_the_vietnamese_way():
    assert formats.vi_date("2022-02-17") == "17/02/2022"
    assert formats.vi_date("2022-02-17T10:00:00+00:00") == "17/02/2022"
    assert formats.vi_date("") == ""
    assert formats.size(71.9e9, "GB", "vi") == "71,9 GB"  # SI, as the hub's table counts
    assert formats.size(71.9e9, "GB", "en") == "71.9 GB"
    assert formats.size(5_012) == "5,0 kB" and formats.size(512) == "512 B"
    assert formats.number(1234.5, "vi") == "1.234,5"


def _word(text, left, top, line, scale=1.0, width=200):
    from firmware.ocr.engine import Word

    s = scale
    return Word(text, int(left * s), int(top * s), int(width * s), int(40 * s), 95.0, line)


#: the date line of the right column, in page pixels
DATE_LINE = [("ngày", 1500), ("05", 1620), ("tháng", 1700), ("3", 1820)]


def test_header_reread_adds_only_the_lines_the_page_pass_missed():
    import numpy as np

    from firmware.metadata.reread import SCALE, reread_header
    from firmware.ocr.engine import OcrResult

    word = _word
    page_words = [word("BỘ", 400, 230, 0), word("NỘI", 620, 230, 0), word("VỤ", 840, 230, 0)]
    page_words += [word(t, x, 330, 1, width=100) for t, x in DATE_LINE]
    calls = []

    class Enlarged:  # what Tesseract reads in the band enlarged 1.5 times
        def recognize(self, image, dpi):
            calls.append(image.shape[1])
            assert dpi == 450 and image.shape[1] == int(2480 * SCALE)
            return OcrResult(
                words=[
                    word("BỘ", 400, 230, 0, SCALE),
                    word("NỘI", 620, 230, 0, SCALE),
                    word("VỤ", 840, 230, 0, SCALE),
                    word("Số:", 400, 330, 1, SCALE),
                    word("14/CT-BNV", 620, 330, 1, SCALE),
                ]
            )

    image = np.full((3508, 2480), 250, np.uint8)
    added = reread_header(Enlarged(), image, 300, page_words)
    assert [(w.text, w.left, w.top, w.line) for w in added] == [
        ("Số:", 400, 330, 2),
        ("14/CT-BNV", 620, 330, 2),
    ]
    assert len(calls) == 1  # number and date found: no column pass


def test_header_halves_are_read_alone_when_the_number_line_is_still_missing():
    """Bench seed 13, 1600x1200: "Số: 285/HD-BNV" was in neither the page nor the band
    pass; the left half of the band read alone has it (seed 17: with the motto's first
    word, cut, on the same line). A word across the cut is not taken, nor is any line of
    a half but the number and the date line."""
    import numpy as np

    from firmware.metadata.reread import SCALE, reread_header
    from firmware.ocr.engine import OcrResult

    word = _word
    page_words = [word("BỘ", 400, 230, 0), word("NỘI", 620, 230, 0), word("VỤ", 840, 230, 0)]
    page_words += [word(t, x, 330, 1, width=100) for t, x in DATE_LINE]
    page_words += [word("Nghị", 400, 700, 2), word("định", 620, 700, 2)]
    page_words += [word("30/2020/NĐ-CP", 840, 700, 2)]  # a number quoted in the text
    seen = []

    class Reader:
        def recognize(self, image, dpi):
            seen.append(image.shape[1])
            if image.shape[1] == int(2480 * SCALE):  # the whole band: misses it again
                return OcrResult(words=[word("BỘ", 400, 230, 0, SCALE)])
            if len(seen) == 2:  # left half
                return OcrResult(
                    words=[
                        word("Số:", 400, 330, 0, SCALE),
                        word("285/HD-BNV", 620, 330, 0, SCALE),
                        word("Độc", 1200, 330, 0, SCALE, width=100),  # the motto, cut
                        word("HƯỚ", 1100, 520, 1, SCALE, width=140),  # touches the cut
                    ]
                )
            return OcrResult(words=[word("NG", 2, 520, 0, SCALE)])  # right half, at the cut

    image = np.full((3508, 2480), 250, np.uint8)
    added = reread_header(Reader(), image, 300, page_words)
    assert seen == [int(2480 * SCALE), int(1240 * SCALE), int(1240 * SCALE)]
    assert [(w.text, w.left, w.top) for w in added] == [("Số:", 400, 330), ("285/HD-BNV", 620, 330)]
