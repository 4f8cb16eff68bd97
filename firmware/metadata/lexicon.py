"""Words of Vietnamese issuing-body names, to put back diacritics OCR dropped.

Header lines are set in bold capitals, where Tesseract most often loses the marks
("DANG BO THANH PHO" for "ĐẢNG BỘ THÀNH PHỐ"). Capitals of an issuing body come from a small
administrative vocabulary plus place names, so a word whose folded form matches exactly one
entry here is restored; a word whose folded form is ambiguous ("THANH": THÀNH or THANH) is
restored only as part of a longer phrase that is not ambiguous ("THANH PHO" -> "THÀNH PHỐ").
"""

from __future__ import annotations

from functools import lru_cache

from firmware.store.textfold import fold

WORDS = """
ĐẢNG BỘ CỘNG SẢN VIỆT NAM TỈNH THÀNH PHỐ ỦY BAN CHẤP HÀNH TRUNG ƯƠNG HUYỆN QUẬN THỊ XÃ
PHƯỜNG TRẤN VĂN PHÒNG TUYÊN GIÁO TỔ CHỨC KIỂM TRA DÂN VẬN NỘI CHÍNH NHÂN SỞ DỤC ĐÀO TẠO
THÔNG TIN TRUYỀN TƯ PHÁP TÀI KẾ HOẠCH ĐẦU XÂY DỰNG TẾ CÔNG AN QUÂN SỰ MẶT TRẬN QUỐC HỘI
ĐOÀN NIÊN HỒ CHÍ MINH LIÊN LAO ĐỘNG NÔNG NGHIỆP PHÁT TRIỂN CHI KHỐI CƠ QUAN DOANH CÁN
THƯỜNG VỤ BÍ THƯ CHÍNH PHỦ BỘ TRƯỞNG GIÁM ĐỐC NGÀNH LỰC LƯỢNG VŨ TRANG BIÊN PHÒNG
HẢI KHOA HỌC VÀ NGOẠI GIAO THƯƠNG MẠI VĂN HÓA THỂ THAO DU LỊCH MÔI TRƯỜNG NGUYÊN
TÒA ÁN VIỆN SÁT KHU DÂN CƯ ẤP BẢN LÀNG HỢP TÁC CỰU CHIẾN BINH PHỤ NỮ NÔNG DÂN
TRUNG TÂM LƯU TRỮ LỊCH SỬ
"""

PHRASES = """
THÀNH PHỐ|THÀNH ỦY|THANH NIÊN|THANH TRA|HÀ NỘI|HỒ CHÍ MINH|HẢI PHÒNG|ĐÀ NẴNG|CẦN THƠ
|AN GIANG|BÀ RỊA - VŨNG TÀU|BẮC GIANG|BẮC KẠN|BẠC LIÊU|BẮC NINH|BẾN TRE|BÌNH ĐỊNH
|BÌNH DƯƠNG|BÌNH PHƯỚC|BÌNH THUẬN|CÀ MAU|CAO BẰNG|ĐẮK LẮK|ĐẮK NÔNG|ĐIỆN BIÊN|ĐỒNG NAI
|ĐỒNG THÁP|GIA LAI|HÀ GIANG|HÀ NAM|HÀ TĨNH|HẢI DƯƠNG|HẬU GIANG|HÒA BÌNH|HƯNG YÊN
|KHÁNH HÒA|KIÊN GIANG|KON TUM|LAI CHÂU|LÂM ĐỒNG|LẠNG SƠN|LÀO CAI|LONG AN|NAM ĐỊNH
|NGHỆ AN|NINH BÌNH|NINH THUẬN|PHÚ THỌ|PHÚ YÊN|QUẢNG BÌNH|QUẢNG NAM|QUẢNG NGÃI
|QUẢNG NINH|QUẢNG TRỊ|SÓC TRĂNG|SƠN LA|TÂY NINH|THÁI BÌNH|THÁI NGUYÊN|THANH HÓA
|THỪA THIÊN HUẾ|TIỀN GIANG|TRÀ VINH|TUYÊN QUANG|VĨNH LONG|VĨNH PHÚC|YÊN BÁI
|ỦY BAN NHÂN DÂN|ỦY BAN KIỂM TRA|BAN THƯỜNG VỤ|BAN TUYÊN GIÁO|BAN TỔ CHỨC|BAN DÂN VẬN
|BAN NỘI CHÍNH|VĂN PHÒNG|ĐẢNG ỦY|HUYỆN ỦY|TỈNH ỦY|QUẬN ỦY|THỊ ỦY|ĐẢNG BỘ|CHI BỘ
|GIÁO DỤC VÀ ĐÀO TẠO|THÔNG TIN VÀ TRUYỀN THÔNG|NỘI VỤ|TƯ PHÁP|TÀI CHÍNH|Y TẾ
"""


def _key(text: str) -> str:
    return " ".join(fold(text).replace("-", " ").split())


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], dict[str, str], int]:
    """(unambiguous word map, phrase map, longest phrase length in words)."""
    words: dict[str, set[str]] = {}
    for w in WORDS.split():
        words.setdefault(_key(w), set()).add(w)
    single = {k: next(iter(v)) for k, v in words.items() if len(v) == 1}
    phrases = {_key(p): p.strip() for p in PHRASES.replace("\n", "").split("|") if p.strip()}
    longest = max(len(k.split()) for k in phrases)
    return single, phrases, longest


def _run_together(token: str, phrases: dict[str, str]) -> str | None:
    """A place name read as one word with one letter wrong ("HANOL" for "HÀ NỘI", bench
    seed 17): the single phrase of two or more words whose letters, run together, are one
    edit away from the token's; None when none or several are."""
    from rapidfuzz.distance import Levenshtein

    low = fold(token)
    if len(low) < 5 or not low.isalpha():
        return None
    near = {
        p
        for k, p in phrases.items()
        if " " in k
        and abs(len(k) - len(k.split()) + 1 - len(low)) <= 1
        and Levenshtein.distance(k.replace(" ", ""), low) <= 1
    }
    return next(iter(near)) if len(near) == 1 else None


def restore_caps(text: str, extra: tuple[str, ...] = ()) -> tuple[str, float]:
    """Put diacritics back on an all-capitals header line; return (text, share known).

    Only words in capitals are touched (mixed-case text is left as OCR read it). The share
    is the fraction of words found in the vocabulary: a low share means the line is not a
    known kind of body name, which lowers the issuer's confidence. ``extra`` phrases (in
    capitals) come from the same page, e.g. the place of the date line ("Đa Tốn" ->
    "ĐA TỐN"), which usually names the body's locality.
    """
    tokens = text.split()
    if not tokens:
        return text, 0.0
    single, phrases, longest = _tables()
    if extra:
        # The vocabulary wins: the date line may itself have lost its marks ("Da Nang").
        phrases = {**{_key(p): p for p in extra if p.strip()}, **phrases}
        longest = max(longest, *(len(_key(p).split()) for p in extra if p.strip()))
    out: list[str] = []
    known = 0
    i = 0
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 1, -1):
            chunk = tokens[i : i + n]
            if all(t.isupper() or t == "-" for t in chunk):
                hit = phrases.get(_key(" ".join(chunk)))
                if hit is not None and len(hit.split()) == n:
                    out.extend(hit.split())
                    known += n
                    i += n
                    break
        else:
            tok = tokens[i]
            hit = single.get(_key(tok)) if tok.isupper() else None
            if hit is None and tok.isupper():
                hit = _run_together(tok, phrases)
            if hit is not None:
                out.append(hit)
                known += 1
            else:
                out.append(tok)
                known += 1 if _key(tok) in phrases or _key(tok) in single else 0
            i += 1
    return " ".join(out), known / len(tokens)
