"""Seeded Vietnamese administrative content for the simulated documents.

The simulator must produce documents that look and read like real Party and State papers
(Hướng dẫn 36-HD/VPTW, Decree 30/2020/NĐ-CP) yet all differ, so OCR accuracy and metadata
extraction are measured on text the pipeline has never seen. Everything here is drawn from a
``numpy.random.Generator`` so one ``doc_seed`` always yields the same document.

All strings are NFC (precomposed Vietnamese letters), which is what OCR output is compared in.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def pick(rng: np.random.Generator, seq: Sequence[T]) -> T:
    """One element of ``seq`` (numpy's choice would turn strings into numpy scalars)."""
    return seq[int(rng.integers(len(seq)))]


@dataclass(frozen=True)
class Issuer:
    """An issuing body: how it prints its header, numbers its documents and names itself."""

    lines: tuple[str, ...]  # header lines, superior body first, in capitals
    symbol: str  # body abbreviation used in the number/symbol ("TU", "UBND")
    place: str  # place name written before the date
    self_name: str  # how the body names itself in running text
    authority: str  # the deciding authority line of a Quyết định
    signers: tuple[tuple[str, ...], ...]  # possible signature headings (capitals)
    cc: tuple[str, ...]  # "Nơi nhận" entries besides "Như trên" and the archive copy


PARTY_ISSUERS: tuple[Issuer, ...] = (
    Issuer(
        ("TỈNH ỦY BẮC NINH", "BAN TUYÊN GIÁO"),
        "BTGTU",
        "Bắc Ninh",
        "Ban Tuyên giáo Tỉnh ủy",
        "BAN TUYÊN GIÁO TỈNH ỦY",
        (("K/T TRƯỞNG BAN", "PHÓ TRƯỞNG BAN"), ("TRƯỞNG BAN",)),
        ("Thường trực Tỉnh ủy (để b/c),", "Các ban xây dựng Đảng Tỉnh ủy,"),
    ),
    Issuer(
        ("ĐẢNG BỘ TỈNH NGHỆ AN", "TỈNH ỦY"),
        "TU",
        "Nghệ An",
        "Ban Thường vụ Tỉnh ủy",
        "BAN THƯỜNG VỤ TỈNH ỦY",
        (("T/M BAN THƯỜNG VỤ", "PHÓ BÍ THƯ"), ("T/M TỈNH ỦY", "BÍ THƯ")),
        ("Ban Bí thư Trung ương Đảng (để b/c),", "Các đồng chí Tỉnh ủy viên,"),
    ),
    Issuer(
        ("TỈNH ỦY HẢI DƯƠNG", "VĂN PHÒNG"),
        "VPTU",
        "Hải Dương",
        "Văn phòng Tỉnh ủy",
        "VĂN PHÒNG TỈNH ỦY",
        (("K/T CHÁNH VĂN PHÒNG", "PHÓ CHÁNH VĂN PHÒNG"), ("CHÁNH VĂN PHÒNG",)),
        ("Thường trực Tỉnh ủy (để b/c),", "Lãnh đạo Văn phòng,"),
    ),
    Issuer(
        ("ĐẢNG BỘ TỈNH THÁI BÌNH", "HUYỆN ỦY VŨ THƯ"),
        "HU",
        "Vũ Thư",
        "Ban Thường vụ Huyện ủy",
        "BAN THƯỜNG VỤ HUYỆN ỦY",
        (("T/M BAN THƯỜNG VỤ", "BÍ THƯ"), ("T/M BAN THƯỜNG VỤ", "PHÓ BÍ THƯ")),
        ("Ban Thường vụ Tỉnh ủy (để b/c),", "Các đồng chí Huyện ủy viên,"),
    ),
    Issuer(
        ("HUYỆN ỦY GIA LÂM", "ĐẢNG ỦY XÃ ĐA TỐN"),
        "ĐU",
        "Đa Tốn",
        "Đảng ủy xã",
        "BAN CHẤP HÀNH ĐẢNG BỘ XÃ",
        (("T/M ĐẢNG ỦY", "BÍ THƯ"), ("T/M ĐẢNG ỦY", "PHÓ BÍ THƯ")),
        ("Ban Thường vụ Huyện ủy (để b/c),", "Các chi bộ trực thuộc,"),
    ),
    Issuer(
        ("TỈNH ỦY QUẢNG NAM", "ỦY BAN KIỂM TRA"),
        "UBKTTU",
        "Quảng Nam",
        "Ủy ban Kiểm tra Tỉnh ủy",
        "ỦY BAN KIỂM TRA TỈNH ỦY",
        (("T/M ỦY BAN KIỂM TRA", "CHỦ NHIỆM"), ("T/M ỦY BAN KIỂM TRA", "PHÓ CHỦ NHIỆM")),
        ("Thường trực Tỉnh ủy (để b/c),", "Ủy ban Kiểm tra Trung ương (để b/c),"),
    ),
    Issuer(
        ("BAN CHẤP HÀNH TRUNG ƯƠNG",),
        "TW",
        "Hà Nội",
        "Ban Bí thư",
        "BAN BÍ THƯ",
        (("T/M BAN BÍ THƯ",), ("T/L BAN BÍ THƯ", "CHÁNH VĂN PHÒNG")),
        ("Các tỉnh ủy, thành ủy,", "Các ban đảng, ban cán sự đảng,"),
    ),
    Issuer(
        ("ĐẢNG BỘ THÀNH PHỐ ĐÀ NẴNG", "BAN TỔ CHỨC THÀNH ỦY"),
        "BTCTU",
        "Đà Nẵng",
        "Ban Tổ chức Thành ủy",
        "BAN TỔ CHỨC THÀNH ỦY",
        (("K/T TRƯỞNG BAN", "PHÓ TRƯỞNG BAN"), ("TRƯỞNG BAN",)),
        ("Thường trực Thành ủy (để b/c),", "Các quận ủy, huyện ủy,"),
    ),
)

STATE_ISSUERS: tuple[Issuer, ...] = (
    Issuer(
        ("ỦY BAN NHÂN DÂN", "TỈNH BẮC NINH"),
        "UBND",
        "Bắc Ninh",
        "Ủy ban nhân dân tỉnh",
        "CHỦ TỊCH ỦY BAN NHÂN DÂN TỈNH BẮC NINH",
        (("KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"), ("TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH")),
        ("Chủ tịch, các PCT UBND tỉnh;", "Các sở, ban, ngành tỉnh;"),
    ),
    Issuer(
        ("UBND TỈNH NGHỆ AN", "SỞ NỘI VỤ"),
        "SNV",
        "Nghệ An",
        "Sở Nội vụ",
        "GIÁM ĐỐC SỞ NỘI VỤ TỈNH NGHỆ AN",
        (("KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"), ("GIÁM ĐỐC",)),
        ("UBND tỉnh (để b/c);", "Giám đốc, các PGĐ Sở;"),
    ),
    Issuer(
        ("UBND HUYỆN VŨ THƯ", "PHÒNG NỘI VỤ"),
        "PNV",
        "Vũ Thư",
        "Phòng Nội vụ",
        "TRƯỞNG PHÒNG NỘI VỤ HUYỆN VŨ THƯ",
        (("TRƯỞNG PHÒNG",), ("KT. TRƯỞNG PHÒNG", "PHÓ TRƯỞNG PHÒNG")),
        ("UBND huyện (để b/c);", "Các cơ quan, đơn vị thuộc huyện;"),
    ),
    Issuer(
        ("ỦY BAN NHÂN DÂN", "HUYỆN GIA LÂM"),
        "UBND",
        "Gia Lâm",
        "Ủy ban nhân dân huyện",
        "CHỦ TỊCH ỦY BAN NHÂN DÂN HUYỆN GIA LÂM",
        (("KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"), ("TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH")),
        ("Thường trực Huyện ủy (để b/c);", "UBND các xã, thị trấn;"),
    ),
    Issuer(
        ("UBND THÀNH PHỐ HÀ NỘI", "SỞ GIÁO DỤC VÀ ĐÀO TẠO"),
        "SGDĐT",
        "Hà Nội",
        "Sở Giáo dục và Đào tạo",
        "GIÁM ĐỐC SỞ GIÁO DỤC VÀ ĐÀO TẠO",
        (("KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"), ("GIÁM ĐỐC",)),
        ("UBND Thành phố (để b/c);", "Các phòng giáo dục và đào tạo;"),
    ),
    Issuer(
        ("BỘ NỘI VỤ",),
        "BNV",
        "Hà Nội",
        "Bộ Nội vụ",
        "BỘ TRƯỞNG BỘ NỘI VỤ",
        (("KT. BỘ TRƯỞNG", "THỨ TRƯỞNG"), ("BỘ TRƯỞNG",)),
        ("Các bộ, cơ quan ngang bộ;", "UBND các tỉnh, thành phố;"),
    ),
    Issuer(
        ("UBND TỈNH QUẢNG NAM", "SỞ THÔNG TIN VÀ TRUYỀN THÔNG"),
        "STTTT",
        "Quảng Nam",
        "Sở Thông tin và Truyền thông",
        "GIÁM ĐỐC SỞ THÔNG TIN VÀ TRUYỀN THÔNG",
        (("KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"), ("GIÁM ĐỐC",)),
        ("UBND tỉnh (để b/c);", "Các sở, ban, ngành;"),
    ),
    Issuer(
        ("ỦY BAN NHÂN DÂN", "XÃ ĐA TỐN"),
        "UBND",
        "Đa Tốn",
        "Ủy ban nhân dân xã",
        "CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ ĐA TỐN",
        (("TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"), ("KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH")),
        ("Đảng ủy xã (để b/c);", "Các thôn, tổ dân phố;"),
    ),
)

# (type name, code in the number/symbol, weight). Letters dominate real registers.
PARTY_TYPES = (
    ("Công văn", "CV", 5),
    ("Nghị quyết", "NQ", 1),
    ("Chỉ thị", "CT", 1),
    ("Kết luận", "KL", 1),
    ("Báo cáo", "BC", 2),
    ("Thông báo", "TB", 2),
    ("Hướng dẫn", "HD", 1),
    ("Kế hoạch", "KH", 2),
    ("Quy định", "QĐi", 1),
    ("Thông tri", "TT", 1),
    ("Chương trình", "CTr", 1),
    ("Tờ trình", "TTr", 1),
    ("Quyết định", "QĐ", 1),
)
STATE_TYPES = (
    ("Công văn", "", 5),
    ("Quyết định", "QĐ", 3),
    ("Chỉ thị", "CT", 1),
    ("Báo cáo", "BC", 2),
    ("Thông báo", "TB", 2),
    ("Kế hoạch", "KH", 2),
    ("Tờ trình", "TTr", 1),
    ("Hướng dẫn", "HD", 1),
)
STATE_LETTER_UNITS = ("VP", "NC", "KTN", "VX", "TH", "VT")

TOPICS = (
    "tăng cường công tác số hóa tài liệu lưu trữ",
    "đẩy mạnh chuyển đổi số trong các cơ quan đảng",
    "tổ chức học tập, quán triệt nghị quyết của Đảng",
    "nâng cao chất lượng sinh hoạt chi bộ",
    "công tác văn thư, lưu trữ năm {year}",
    "chỉnh lý tài liệu tồn đọng tại các cơ quan, đơn vị",
    "kiểm tra, giám sát việc thực hiện quy chế làm việc",
    "tổng kết công tác xây dựng Đảng năm {year}",
    "tổ chức các hoạt động kỷ niệm {anniv} năm Ngày thành lập Đảng Cộng sản Việt Nam",
    "bảo vệ bí mật nhà nước trong tình hình mới",
    "thu, nộp, quản lý và sử dụng đảng phí",
    "công tác phát triển đảng viên mới",
    "sắp xếp, kiện toàn tổ chức bộ máy",
    "quản lý, sử dụng con dấu và chữ ký số",
    "phòng, chống thiên tai và tìm kiếm cứu nạn năm {year}",
    "cải cách hành chính, nâng cao mức độ hài lòng của người dân",
    "triển khai cơ sở dữ liệu văn bản điện tử dùng chung",
    "lập hồ sơ và nộp lưu hồ sơ, tài liệu vào Lưu trữ lịch sử",
    "tuyên truyền kỷ niệm Ngày Quốc khánh 2/9",
    "rà soát, bổ sung quy hoạch cán bộ nhiệm kỳ 2025 - 2030",
)

AGENTS = {
    "party": (
        "Các cấp ủy, tổ chức đảng",
        "Ban Thường vụ các huyện ủy, thị ủy, thành ủy",
        "Các đảng ủy trực thuộc",
        "Văn phòng cấp ủy các cấp",
        "Các chi bộ trực thuộc",
        "Người đứng đầu cấp ủy",
        "Các ban xây dựng Đảng",
        "Đội ngũ cán bộ, đảng viên",
    ),
    "state": (
        "Các sở, ban, ngành",
        "Ủy ban nhân dân các huyện, thị xã, thành phố",
        "Thủ trưởng các cơ quan, đơn vị",
        "Văn phòng Ủy ban nhân dân tỉnh",
        "Các phòng, ban chuyên môn",
        "Công chức làm công tác văn thư, lưu trữ",
        "Ủy ban nhân dân các xã, phường, thị trấn",
    ),
}
MODALS = ("cần", "tiếp tục", "chủ động", "khẩn trương", "có trách nhiệm", "tập trung")
ACTIONS = (
    "rà soát, đánh giá",
    "tổ chức triển khai",
    "quán triệt và thực hiện nghiêm",
    "kiểm tra, đôn đốc",
    "xây dựng kế hoạch cụ thể về",
    "tăng cường lãnh đạo, chỉ đạo",
    "bố trí đủ nhân lực, kinh phí cho",
    "phối hợp chặt chẽ trong",
    "đánh giá đúng thực trạng",
    "nâng cao chất lượng",
)
OBJECTS = (
    "công tác văn thư, lưu trữ",
    "việc số hóa tài liệu lưu trữ hình thành trong giai đoạn {y1} - {y2}",
    "việc lập hồ sơ công việc và nộp lưu hồ sơ vào lưu trữ cơ quan",
    "công tác quản lý hồ sơ, tài liệu có giá trị bảo quản vĩnh viễn",
    "việc cập nhật sổ đăng ký văn bản đến, văn bản đi",
    "việc quản lý văn bản điện tử trên hệ thống thông tin",
    "công tác bảo vệ bí mật nhà nước",
    "việc ứng dụng chữ ký số trong gửi, nhận văn bản",
    "việc xây dựng cơ sở dữ liệu tài liệu lưu trữ điện tử",
    "công tác kiểm tra, giám sát của cấp ủy",
    "việc chỉnh lý khoa học tài liệu tồn đọng",
    "các nhiệm vụ trọng tâm của năm {year}",
)
QUALIFIERS = (
    "",
    "",
    " theo đúng quy định",
    ", bảo đảm chất lượng, hiệu quả",
    ", hoàn thành trước ngày {dd}/{mm}/{year}",
    " đúng tiến độ đề ra",
    ", tránh hình thức, lãng phí",
    " gắn với thực hiện nhiệm vụ chính trị của địa phương",
    " theo hướng dẫn của cơ quan chuyên môn cấp trên",
    ", kịp thời báo cáo những khó khăn, vướng mắc phát sinh",
)
REFS = {
    "party": (
        "Chỉ thị số {n}-CT/TW ngày {date} của Ban Bí thư",
        "Kết luận số {n}-KL/TW ngày {date} của Bộ Chính trị",
        "Kế hoạch số {n}-KH/TU ngày {date} của Ban Thường vụ Tỉnh ủy",
        "Hướng dẫn số 36-HD/VPTW ngày 03/4/2018 của Văn phòng Trung ương Đảng",
        "Công văn số {n}-CV/VPTW ngày {date} của Văn phòng Trung ương Đảng",
        "Quy định số {n}-QĐi/TW ngày {date} của Ban Chấp hành Trung ương",
    ),
    "state": (
        "Luật Lưu trữ năm 2024",
        "Nghị định số 30/2020/NĐ-CP ngày 05/3/2020 của Chính phủ về công tác văn thư",
        "Quyết định số {n}/QĐ-UBND ngày {date} của Ủy ban nhân dân tỉnh",
        "Kế hoạch số {n}/KH-UBND ngày {date} của Ủy ban nhân dân tỉnh",
        "Công văn số {n}/BNV-VTLTNN ngày {date} của Bộ Nội vụ",
        "Chỉ thị số {n}/CT-UBND ngày {date} của Chủ tịch Ủy ban nhân dân tỉnh",
    ),
}
ACHIEVEMENTS = (
    "chỉnh lý được {n} mét giá tài liệu",
    "tiếp nhận {n} hồ sơ vào Lưu trữ lịch sử",
    "tổ chức {k} lớp tập huấn nghiệp vụ cho {n} lượt cán bộ",
    "hoàn thành việc số hóa {n} trang tài liệu",
    "ban hành {k} văn bản hướng dẫn nghiệp vụ",
)
CONTRIBUTIONS = (
    "nâng cao hiệu quả công tác tham mưu, phục vụ lãnh đạo",
    "phục vụ kịp thời nhu cầu khai thác, sử dụng tài liệu",
    "bảo đảm an toàn tài liệu lưu trữ",
    "từng bước hiện đại hóa công tác văn thư, lưu trữ",
)
WEAKNESSES = (
    "việc lập hồ sơ công việc ở một số đơn vị còn chậm",
    "cơ sở vật chất, kho lưu trữ chưa đáp ứng yêu cầu",
    "một số nơi chưa bố trí cán bộ chuyên trách làm công tác lưu trữ",
    "tài liệu tồn đọng còn nhiều, chưa được chỉnh lý",
    "chất lượng bản số hóa ở một số nơi chưa bảo đảm",
)
TITLES = {
    "party": (
        "Phó Chánh Văn phòng",
        "Trưởng phòng Hành chính - Lưu trữ",
        "Phó Trưởng ban",
        "Ủy viên Ban Thường vụ",
        "Chánh Văn phòng",
    ),
    "state": (
        "Phó Giám đốc Sở",
        "Chánh Văn phòng",
        "Trưởng phòng Hành chính - Lưu trữ",
        "Phó Chủ tịch Ủy ban nhân dân",
        "Trưởng phòng Nội vụ",
    ),
}
UNITS = {
    "party": (
        "Văn phòng Tỉnh ủy",
        "Ban Tổ chức Tỉnh ủy",
        "Ban Tuyên giáo Tỉnh ủy",
        "các cơ quan có liên quan",
        "Kho Lưu trữ Tỉnh ủy",
        "Trung tâm tích hợp dữ liệu tỉnh",
    ),
    "state": (
        "Sở Nội vụ",
        "Văn phòng Ủy ban nhân dân tỉnh",
        "Trung tâm Lưu trữ lịch sử tỉnh",
        "các cơ quan có liên quan",
        "Sở Tài chính",
        "Trung tâm tích hợp dữ liệu tỉnh",
    ),
}
SCOPES = {
    "party": ("toàn Đảng bộ", "các cơ quan đảng", "toàn tỉnh", "các đảng bộ trực thuộc"),
    "state": ("toàn tỉnh", "toàn huyện", "toàn ngành", "các cơ quan, đơn vị"),
}
# Generic agents read naturally in lower case mid-sentence; named bodies keep capitals.
_GENERIC_HEADS = ("Các ", "Đội ngũ ", "Người ", "Thủ trưởng ", "Công chức ")
FAMILY = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
)
MIDDLE = ("Văn", "Thị", "Đức", "Minh", "Quang", "Thanh", "Hữu", "Ngọc", "Xuân", "Thu", "Quốc")
GIVEN = (
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Giang",
    "Hà",
    "Hải",
    "Hạnh",
    "Hiếu",
    "Hoa",
    "Hùng",
    "Hương",
    "Khánh",
    "Lan",
    "Linh",
    "Long",
    "Mai",
    "Nam",
    "Nga",
    "Phong",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Thảo",
    "Thắng",
    "Trung",
    "Tuấn",
    "Việt",
    "Yến",
)
PLAN_SECTIONS = ("I. MỤC ĐÍCH, YÊU CẦU", "II. NHIỆM VỤ, GIẢI PHÁP", "III. TỔ CHỨC THỰC HIỆN")


@dataclass
class Paragraph:
    """One body paragraph. ``style``: body (justified, indented), italic, heading, center."""

    text: str
    style: str = "body"


@dataclass
class DocumentSpec:
    """Everything printed on a document except the flowing body text."""

    doc_seed: int
    layout: str  # "party" | "state"
    issuer: Issuer
    type_name: str
    type_code: str
    number: int
    number_symbol: str
    date: dt.date
    place_date: str
    subject: str  # as printed: "V/v ..." for letters, else the line under the type name
    kinh_gui: list[str] = field(default_factory=list)  # letters only
    signer_lines: tuple[str, ...] = ()
    signer_name: str = ""
    recipients: list[str] = field(default_factory=list)  # "Nơi nhận" entries

    @property
    def is_letter(self) -> bool:
        return self.type_name == "Công văn"

    def fields(self) -> dict[str, object]:
        """Ground-truth metadata, the values a perfect extractor would return."""
        return {
            "issuer": " - ".join(self.issuer.lines),
            "issuer_lines": list(self.issuer.lines),
            "number_symbol": self.number_symbol,
            "number": self.number,
            "place_date": self.place_date,
            "date": self.date.isoformat(),
            "type": self.type_name,
            "type_code": self.type_code,
            "subject": self.subject,
            "signer": self.signer_name,
        }


def _weighted(rng: np.random.Generator, items: Sequence[tuple[str, str, int]]) -> tuple[str, str]:
    weights = np.array([w for _, _, w in items], dtype=float)
    i = int(rng.choice(len(items), p=weights / weights.sum()))
    return items[i][0], items[i][1]


def _person(rng: np.random.Generator) -> str:
    middle = pick(rng, MIDDLE)
    return f"{pick(rng, FAMILY)} {middle} {pick(rng, GIVEN)}"


def _short_date(rng: np.random.Generator, year: int) -> str:
    return f"{int(rng.integers(1, 29)):02d}/{int(rng.integers(1, 13))}/{year}"


def _place_date(place: str, date: dt.date, layout: str, rng: np.random.Generator) -> str:
    # Decree 30: State documents pad days below 10 and months below 3 with a zero; Party
    # documents do either, so OCR and the date parser see both spellings.
    if layout == "state":
        day = f"{date.day:02d}"
        month = f"{date.month:02d}" if date.month < 3 else str(date.month)
    else:
        pad = rng.random() < 0.4
        day = f"{date.day:02d}" if pad else str(date.day)
        month = f"{date.month:02d}" if pad and date.month < 10 else str(date.month)
    return f"{place}, ngày {day} tháng {month} năm {date.year}"


def _topic(rng: np.random.Generator, year: int) -> str:
    return pick(rng, TOPICS).format(year=year, anniv=year - 1930)


def make_spec(doc_seed: int, layout: str) -> DocumentSpec:
    """The fixed parts of document ``doc_seed`` in ``layout`` ("party" or "state")."""
    if layout not in ("party", "state"):
        raise ValueError(f"layout must be 'party' or 'state', not {layout!r}")
    rng = np.random.default_rng([doc_seed, 0 if layout == "party" else 1])
    issuer = pick(rng, PARTY_ISSUERS if layout == "party" else STATE_ISSUERS)
    type_name, type_code = _weighted(rng, PARTY_TYPES if layout == "party" else STATE_TYPES)
    date = dt.date(2020, 1, 1) + dt.timedelta(days=int(rng.integers(0, 6 * 365)))
    number = int(rng.integers(1, 40 + date.timetuple().tm_yday))
    if layout == "party":
        number_symbol = f"{number}-{type_code}/{issuer.symbol}"
    elif type_code:
        number_symbol = f"{number}/{type_code}-{issuer.symbol}"
    else:
        number_symbol = f"{number}/{issuer.symbol}-{pick(rng, STATE_LETTER_UNITS)}"
    topic = _topic(rng, date.year)
    if type_name == "Công văn":
        subject = f"V/v {topic}"
    else:
        lead = "Về việc" if rng.random() < 0.5 else "Về"
        subject = f"{lead} {topic}"
    spec = DocumentSpec(
        doc_seed=doc_seed,
        layout=layout,
        issuer=issuer,
        type_name=type_name,
        type_code=type_code,
        number=number,
        number_symbol=number_symbol,
        date=date,
        place_date=_place_date(issuer.place, date, layout, rng),
        subject=subject,
        signer_lines=pick(rng, issuer.signers),
        signer_name=_person(rng),
    )
    if spec.is_letter:
        agents = list(AGENTS[layout])
        rng.shuffle(agents)
        spec.kinh_gui = agents[: int(rng.integers(1, 3))]
    sep = "," if layout == "party" else ";"
    first = "Như kính gửi" if spec.is_letter else "Như trên"
    archive = "Lưu Văn phòng." if layout == "party" else f"Lưu: VT, {issuer.symbol}."
    cc = list(issuer.cc[: int(rng.integers(1, len(issuer.cc) + 1))])
    spec.recipients = [f"- {first}{sep}"] + [f"- {c}" for c in cc] + [f"- {archive}"]
    return spec


class BodyWriter:
    """Produces the body paragraphs of one document, in order, on demand.

    The page flow asks for paragraphs until the document reaches the wanted page count, so
    the writer is a stream rather than a fixed list; ``closing()`` ends the document.
    """

    def __init__(self, spec: DocumentSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.rng = rng
        self.year = spec.date.year
        self._count = 0
        self._article = 0
        self._item = 0
        self._section = 0
        self._queue: list[Paragraph] = list(self._opening())

    # --- sentences -------------------------------------------------------------------
    def _fmt(self, template: str) -> str:
        rng = self.rng
        y1 = int(rng.integers(1975, 2015))
        return template.format(
            year=self.year,
            y1=y1,
            y2=y1 + int(rng.integers(5, 11)),
            dd=f"{int(rng.integers(1, 29)):02d}",
            mm=f"{int(rng.integers(1, 13)):02d}",
            n=int(rng.integers(2, 900)),
            k=int(rng.integers(2, 15)),
            date=_short_date(rng, int(rng.integers(2016, self.year + 1))),
        )

    def _agent(self, lower: bool = False) -> str:
        agent = pick(self.rng, AGENTS[self.spec.layout])
        if lower and agent.startswith(_GENERIC_HEADS):
            return agent[0].lower() + agent[1:]
        return agent

    def _duty_sentence(self) -> str:
        rng = self.rng
        return self._fmt(
            f"{self._agent()} {pick(rng, MODALS)} {pick(rng, ACTIONS)} "
            f"{pick(rng, OBJECTS)}{pick(rng, QUALIFIERS)}."
        )

    def _stats_sentence(self) -> str:
        rng = self.rng
        b = int(rng.integers(800, 12000))
        a = int(b * rng.uniform(0.3, 0.95))
        d = int(rng.integers(300, 5000))
        c = int(d * rng.uniform(0.3, 0.95))
        y1 = int(rng.integers(2015, self.year))
        return (
            f"Đến nay, {pick(rng, SCOPES[self.spec.layout])} đã số hóa được {a}/{b} văn bản đến và {c}/{d} văn "
            f"bản đi giai đoạn {y1} - {self.year}, đạt tỷ lệ {round(100 * (a + c) / (b + d))}%."
        )

    def _budget_sentence(self) -> str:
        rng = self.rng
        amount = f"{int(rng.integers(50, 2500)):,}".replace(",", ".")
        level = pick(self.rng, ("tỉnh", "huyện", "địa phương"))
        return (
            f"Tổng kinh phí thực hiện dự kiến là {amount} triệu đồng, bố trí từ nguồn ngân "
            f"sách {level} năm {self.year}."
        )

    def _assign_sentence(self) -> str:
        rng = self.rng
        return (
            f"Giao đồng chí {_person(rng)}, {pick(rng, TITLES[self.spec.layout])}, chủ trì, phối hợp với "
            f"{pick(rng, UNITS[self.spec.layout])} theo dõi, đôn đốc việc thực hiện."
        )

    def _past_sentence(self) -> str:
        rng = self.rng
        return self._fmt(
            f"Trong năm {self.year - 1}, {self._agent(lower=True)} đã "
            f"{pick(rng, ACHIEVEMENTS)}, góp phần {pick(rng, CONTRIBUTIONS)}. "
            f"Tuy nhiên, {pick(rng, WEAKNESSES)}."
        )

    def _sentences(self, count: int) -> str:
        makers = (
            self._duty_sentence,
            self._duty_sentence,
            self._stats_sentence,
            self._budget_sentence,
            self._assign_sentence,
            self._past_sentence,
        )
        # Without replacement (beyond the duplicated duty maker) so a paragraph never
        # repeats the same kind of sentence twice in a row.
        order = self.rng.permutation(len(makers))[:count]
        return " ".join(makers[int(i)]() for i in order)

    # --- paragraphs ------------------------------------------------------------------
    def _opening(self) -> list[Paragraph]:
        spec, rng = self.spec, self.rng
        ref = self._fmt(pick(rng, REFS[spec.layout]))
        if spec.type_name == "Quyết định":
            dash = "- " if spec.layout == "party" else ""
            basis = (
                "Căn cứ Điều lệ Đảng Cộng sản Việt Nam;"
                if spec.layout == "party"
                else "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;"
            )
            return [
                Paragraph(spec.issuer.authority, "center"),
                Paragraph(dash + basis, "italic"),
                Paragraph(f"{dash}Căn cứ {ref};", "italic"),
                Paragraph(f"{dash}Xét đề nghị của {pick(rng, UNITS[spec.layout])},", "italic"),
                Paragraph("QUYẾT ĐỊNH:", "center"),
            ]
        own = spec.issuer.self_name
        opener = Paragraph(
            f"Thực hiện {ref}, {own} đề nghị {self._agent(lower=True)} thực hiện tốt "
            f"một số nội dung sau:"
            if spec.is_letter
            else f"Thực hiện {ref}, {own} ban hành {spec.type_name.lower()} "
            f"{spec.subject[0].lower()}{spec.subject[1:]} như sau:"
        )
        return [opener]

    def next(self, sentences: int | None = None) -> Paragraph:
        """The next body paragraph; ``sentences`` forces a (short) length."""
        if self._queue:
            return self._queue.pop(0)
        spec, rng = self.spec, self.rng
        self._count += 1
        n = sentences if sentences is not None else int(rng.integers(1, 4))
        text = self._sentences(n)
        if spec.type_name == "Quyết định":
            self._article += 1
            return Paragraph(f"Điều {self._article}. {text}")
        # Plans and guidance are organised in roman-numbered sections.
        sectioned = spec.type_code in ("KH", "HD", "CTr") and self._section < len(PLAN_SECTIONS)
        if sectioned and (self._count == 1 or (self._count % 3 == 1 and rng.random() < 0.8)):
            self._queue.append(Paragraph(text))
            self._section += 1
            self._item = 0
            return Paragraph(PLAN_SECTIONS[self._section - 1], "heading")
        if rng.random() < 0.35:
            self._item += 1
            return Paragraph(f"{self._item}. {text}")
        return Paragraph(text)

    def closing(self) -> Paragraph:
        spec, rng = self.spec, self.rng
        if spec.type_name == "Quyết định":
            return Paragraph(
                f"Điều {self._article + 1}. Quyết định này có hiệu lực kể từ ngày ký. "
                f"Thủ trưởng các cơ quan, đơn vị có liên quan chịu trách nhiệm thi hành "
                f"Quyết định này."
            )
        if spec.layout == "party":
            text = pick(
                rng,
                (
                    "Trong quá trình thực hiện, nếu có khó khăn, vướng mắc, đề nghị các đồng chí "
                    f"phản ánh về {pick(rng, UNITS[spec.layout])} để tổng hợp, báo cáo Ban Thường vụ.",
                    "Đề nghị các cấp ủy, tổ chức đảng quan tâm, chỉ đạo thực hiện nghiêm túc.",
                ),
            )
        else:
            text = pick(
                rng,
                (
                    "Yêu cầu thủ trưởng các cơ quan, đơn vị nghiêm túc triển khai thực hiện.",
                    "Trong quá trình thực hiện, nếu có vướng mắc, đề nghị các đơn vị phản ánh về "
                    f"{pick(rng, UNITS[spec.layout])} để được hướng dẫn.",
                ),
            )
        return Paragraph(text)
