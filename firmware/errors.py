"""Errors the kiosk shows to people: a stable code, an English and a Vietnamese message.

The touchscreen shows ``message_vi`` (or ``message_en``), never a traceback; the code is
what the API returns and what the audit log records.
"""

from __future__ import annotations

import errno


class KioskError(Exception):
    def __init__(self, code: str, message_en: str, message_vi: str, *, status: int = 409):
        super().__init__(message_en)
        self.code = code
        self.message_en = message_en
        self.message_vi = message_vi
        self.status = status

    def message(self, lang: str = "vi") -> str:
        return self.message_vi if lang == "vi" else self.message_en

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message_en": self.message_en, "message_vi": self.message_vi}


def disk_error(exc: OSError, what: str) -> KioskError:
    """Turn an OSError while writing into a message a clerk can act on."""
    if exc.errno == errno.ENOSPC:
        return KioskError(
            "disk_full",
            f"Storage is full while saving the {what}; earlier pages are safe. "
            "Ask IT to free space, then try again.",
            "Bộ nhớ đã đầy, không lưu được. Các trang đã chụp vẫn an toàn; "
            "hãy báo cán bộ kỹ thuật giải phóng bộ nhớ rồi thử lại.",
            status=507,
        )
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return KioskError(
            "storage_readonly",
            f"Storage cannot be written while saving the {what} ({exc.strerror}).",
            "Không ghi được vào bộ nhớ của máy; hãy báo cán bộ kỹ thuật.",
            status=507,
        )
    return KioskError(
        "storage_error",
        f"Could not save the {what}: {exc.strerror or exc}.",
        "Lỗi ghi dữ liệu; hãy thử lại, nếu vẫn lỗi hãy báo cán bộ kỹ thuật.",
        status=500,
    )
