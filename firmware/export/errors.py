"""The export's refusals and failures, in both languages, Vietnamese for the clerk.

Every one of them leaves the documents ``sealed``, waiting for export: the messages say so,
because the clerk's first question on a failed export is whether anything was lost.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from firmware.errors import KioskError

if TYPE_CHECKING:
    from firmware.export.preflight import Preflight


class ExportError(KioskError):
    """Export refused or failed; ``preflight`` is set when the stick was the reason."""

    def __init__(
        self,
        code: str,
        en: str,
        vi: str,
        *,
        status: int = 409,
        preflight: Preflight | None = None,
    ):
        super().__init__(code, en, vi, status=status)
        self.preflight: Preflight | None = preflight


class ExportCancelled(ExportError):
    """The archivist stopped the export; what was written is removed, nothing is lost."""

    def __init__(self) -> None:
        super().__init__(
            "export_cancelled",
            "The export was stopped. Nothing was lost: the documents are still waiting for export.",
            "Đã dừng xuất. Không mất dữ liệu: tài liệu vẫn đang chờ xuất.",
        )


def io_error(exc: OSError) -> ExportError:
    """What a failed write on the stick means for the clerk; the documents are safe."""
    safe_en = " Nothing was lost: the documents are still waiting for export."
    safe_vi = " Không mất dữ liệu: tài liệu vẫn đang chờ xuất."
    if exc.errno == errno.ENOSPC:
        return ExportError(
            "usb_full",
            "The USB stick became full while writing."
            + safe_en
            + " Use a stick with more free space.",
            "USB đã đầy khi đang ghi." + safe_vi + " Hãy dùng USB còn nhiều dung lượng hơn.",
            status=507,
        )
    if exc.errno == errno.EROFS:
        return ExportError(
            "usb_read_only",
            "The USB stick refused writing (read-only)." + safe_en,
            "USB không cho ghi (chỉ đọc)." + safe_vi,
        )
    if exc.errno in (errno.ENODEV, errno.ENXIO, errno.EIO, errno.ENOENT, errno.ESHUTDOWN):
        return ExportError(
            "usb_removed",
            "The USB stick was removed or failed while writing."
            + safe_en
            + " Insert it again and export again.",
            "USB bị rút ra hoặc bị lỗi khi đang ghi." + safe_vi + " Hãy cắm lại USB và xuất lại.",
            status=503,
        )
    return ExportError(
        "usb_write_error",
        f"Writing to the USB stick failed ({exc.strerror or exc})." + safe_en,
        "Lỗi ghi dữ liệu ra USB." + safe_vi + " Hãy thử lại với USB khác.",
        status=500,
    )
