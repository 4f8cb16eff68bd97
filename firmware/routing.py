"""Where a sealed document may go: the one place that holds the confidentiality rule.

The Party WAN has no network-wide encryption, so a classified document ("Mật", "Tối mật")
never enters the upload outbox, whatever the configuration says; it leaves the kiosk only
on an authorized secure USB stick, encrypted to the receiving office. "Tuyệt mật" documents
are not digitized at all. Every path that could enqueue a document for the WAN must call
:func:`assert_may_upload`; tests walk every such path.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from firmware.errors import KioskError


class Level(StrEnum):
    THUONG = "thuong"  # ordinary
    MAT = "mat"  # confidential
    TOI_MAT = "toi_mat"  # secret
    TUYET_MAT = "tuyet_mat"  # top secret: never digitized


LABELS_VI = {
    Level.THUONG: "Thường",
    Level.MAT: "Mật",
    Level.TOI_MAT: "Tối mật",
    Level.TUYET_MAT: "Tuyệt mật",
}
LABELS_EN = {
    Level.THUONG: "Ordinary",
    Level.MAT: "Confidential",
    Level.TOI_MAT: "Secret",
    Level.TUYET_MAT: "Top secret",
}

CONFIDENTIAL = frozenset({Level.MAT, Level.TOI_MAT})
#: Strictness order: lowering a level (a higher rank to a lower one) is an archivist's act.
RANK = {Level.THUONG: 0, Level.MAT: 1, Level.TOI_MAT: 2, Level.TUYET_MAT: 3}


class Route(StrEnum):
    UPLINK = "uplink"  # WAN outbox to the provincial archive
    SECURE_USB = "secure_usb"  # encrypted export to an authorized stick


class RoutingError(KioskError):
    """The confidentiality rule refused something (the kiosk's one bilingual error type)."""

    def __init__(self, code: str, message_en: str, message_vi: str, *, status: int = 409):
        super().__init__(code, message_en, message_vi, status=status)


def parse_level(value: str | None) -> Level:
    """Accept the stored code or the Vietnamese label (with or without diacritics)."""
    from firmware.store.textfold import fold

    if value is None or str(value).strip() == "":
        return Level.THUONG
    v = fold(str(value)).strip().replace(" ", "_").replace("-", "_")
    for level in Level:
        if v in (level.value, fold(LABELS_VI[level]).replace(" ", "_")):
            return level
    raise RoutingError(
        "bad_level",
        f"Unknown confidentiality level {value!r}",
        f"Độ mật không hợp lệ: {value}",
        status=422,
    )


def check_may_digitize(level: Level | str | None) -> Level:
    lvl = parse_level(level) if not isinstance(level, Level) else level
    if lvl == Level.TUYET_MAT:
        raise RoutingError(
            "top_secret_refused",
            "Top secret (Tuyệt mật) documents are not digitized. Return the original to the "
            "archive and discard this capture; nothing was saved. Only an archivist may "
            "lower the level.",
            "Tài liệu Tuyệt mật không được số hóa. Hãy trả bản gốc về kho lưu trữ và hủy "
            "bản chụp này; tài liệu chưa được lưu. Chỉ lưu trữ viên mới được hạ độ mật.",
            status=422,
        )
    return lvl


def is_confidential(level: Level | str | None) -> bool:
    return parse_level(level) in CONFIDENTIAL


def route_for(doc: dict[str, Any]) -> Route:
    """The route of a sealed document, from its confidentiality level alone."""
    lvl = check_may_digitize(doc.get("confidentiality"))
    return Route.SECURE_USB if lvl in CONFIDENTIAL else Route.UPLINK


def assert_may_upload(doc: dict[str, Any]) -> None:
    """Raise unless the document may cross the WAN. Call before anything enters the outbox."""
    if route_for(doc) != Route.UPLINK:
        raise RoutingError(
            "confidential_not_uploadable",
            f"Document {doc.get('id')} is classified and never goes over the network; "
            "export it to a secure USB stick.",
            "Tài liệu mật không được gửi qua mạng; hãy xuất ra USB bảo mật.",
        )


def stricter(a: Level | str | None, b: Level | str | None) -> Level:
    """The stricter of two levels (evidence of a higher level always wins)."""
    la, lb = parse_level(a), parse_level(b)
    return la if RANK[la] >= RANK[lb] else lb


def is_lowering(before: Level | str | None, after: Level | str | None) -> bool:
    return RANK[parse_level(after)] < RANK[parse_level(before)]
