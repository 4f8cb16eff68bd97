"""Scanner failures as a small set of codes a clerk can act on, in Vietnamese and English.

SANE reports failures as ``SANE_Status`` values; ``scanimage`` prints them through
``sane_strstatus`` ("Document feeder jammed") and exits with the status number. Both are
mapped here, in one table, so the UI never sees a raw backend message and every code comes
with what to do next.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sohoa_common.errors import BilingualError

if TYPE_CHECKING:
    from drivers.scanner.base import Frame

#: code -> (English, Vietnamese). Each message says what happened and what to do next.
MESSAGES: dict[str, tuple[str, str]] = {
    "no_device": (
        "No scanner found: check the scanner's USB cable and power.",
        "Không tìm thấy máy quét, hãy kiểm tra cáp USB và nguồn điện của máy quét.",
    ),
    "feeder_empty": (
        "The document feeder is empty: put the pages in the feeder and scan again.",
        "Khay nạp giấy trống, hãy đặt tài liệu vào khay rồi quét lại.",
    ),
    "jammed": (
        "Paper jam: clear the jammed sheet and scan again.",
        "Kẹt giấy, hãy gỡ giấy kẹt rồi quét lại.",
    ),
    "cover_open": (
        "The scanner cover is open: close it and scan again.",
        "Nắp máy quét đang mở, hãy đóng nắp rồi quét lại.",
    ),
    "busy": (
        "The scanner is busy: wait a moment and scan again.",
        "Máy quét đang bận, hãy chờ một lát rồi quét lại.",
    ),
    "gone": (
        "The scanner was disconnected: check the USB cable and scan again.",
        "Mất kết nối với máy quét, hãy kiểm tra cáp USB rồi quét lại.",
    ),
    "timeout": (
        "The scanner stopped responding: switch it off and on again, then scan again.",
        "Máy quét không phản hồi, hãy tắt rồi bật lại máy quét và quét lại.",
    ),
    "io": (
        "The scanner reported an error: scan again; if it persists, call IT support.",
        "Máy quét báo lỗi, hãy quét lại; nếu vẫn lỗi, hãy báo bộ phận kỹ thuật.",
    ),
    "invalid": (
        "The scan settings do not suit this scanner: call IT support.",
        "Thiết lập quét không phù hợp với máy quét này, hãy báo bộ phận kỹ thuật.",
    ),
}

CODES: tuple[str, ...] = tuple(MESSAGES)


class ScannerError(BilingualError):
    """A scanner failure with a stable ``code`` and messages for the clerk.

    ``detail`` keeps the technical cause (the backend's own words) for the log; ``pages``
    holds the frames scanned before the failure, so a jam at sheet 7 does not throw away
    sheets 1-6.
    """

    def __init__(
        self,
        code: str,
        message: str | None = None,
        message_vi: str | None = None,
        *,
        detail: str = "",
        pages: Sequence[Frame] = (),
    ) -> None:
        if code not in MESSAGES:
            raise ValueError(f"unknown scanner error code {code!r}")
        default_en, default_vi = MESSAGES[code]
        super().__init__(code, message or default_en, message_vi or default_vi, status=503)
        self.message = self.message_en  # the English text, as callers of this type read it
        self.detail = detail
        self.pages: list[Frame] = list(pages)
        if detail:
            self.args = (f"{self.message} ({detail})",)


# SANE_Status numbers (sane/sane.h) -> our codes. scanimage exits with these numbers.
SANE_STATUS_CODES: dict[int, tuple[str, str]] = {
    1: ("SANE_STATUS_UNSUPPORTED", "invalid"),
    2: ("SANE_STATUS_CANCELLED", "io"),
    3: ("SANE_STATUS_DEVICE_BUSY", "busy"),
    4: ("SANE_STATUS_INVAL", "invalid"),
    5: ("SANE_STATUS_EOF", "io"),
    6: ("SANE_STATUS_JAMMED", "jammed"),
    7: ("SANE_STATUS_NO_DOCS", "feeder_empty"),
    8: ("SANE_STATUS_COVER_OPEN", "cover_open"),
    9: ("SANE_STATUS_IO_ERROR", "gone"),
    10: ("SANE_STATUS_NO_MEM", "io"),
    11: ("SANE_STATUS_ACCESS_DENIED", "io"),
}

# sane_strstatus() texts (sanei/sanei_init_debug / backend/dll) -> our codes. scanimage
# runs under LC_ALL=C so these are the untranslated strings.
_STRSTATUS: dict[str, str] = {
    "Operation not supported": "invalid",
    "Operation was cancelled": "io",
    "Device busy": "busy",
    "Invalid argument": "invalid",
    "End of file reached": "io",
    "Document feeder jammed": "jammed",
    "Document feeder out of documents": "feeder_empty",
    "Scanner cover is open": "cover_open",
    "Error during device I/O": "gone",
    "Out of memory": "io",
    "Access to resource has been denied": "io",
}

_ACCESS_DENIED = (
    "The kiosk has no permission to use the scanner: call IT support.",
    "Kiosk không có quyền truy cập máy quét, hãy báo bộ phận kỹ thuật.",
)

_OPEN_FAILED = re.compile(r"open of device (?P<dev>\S+) failed: (?P<status>.+)$")
_CALL_FAILED = re.compile(r"sane_(?:start|read|control_option|get_parameters): (?P<status>.+)$")
_OPTION_FAILED = re.compile(r"setting of option (?P<opt>\S+) failed \((?P<status>.+)\)$")


def _scanimage_errors(stderr: str) -> list[str]:
    """The ``scanimage: ...`` lines that report errors (not its rounding warnings)."""
    lines = []
    for raw in stderr.splitlines():
        line = raw.strip()
        if line.startswith("scanimage: ") and "rounded value of" not in line:
            lines.append(line[len("scanimage: ") :])
    return lines


def batch_exit_status(stderr: str, pages: int) -> int:
    """The exit status scanimage would have given, from what it printed before hanging.

    Used when scanimage reported the end of its batch and then wedged while closing the
    device: an ADF batch that ran out of paper after at least one page is a success (as
    scanimage itself treats it), any other reported failure is that failure.
    """
    errors = _scanimage_errors(stderr)
    if not errors:
        return 0 if pages else 5
    if pages and "Document feeder out of documents" in errors[-1]:
        return 0
    return 1


def classify(returncode: int, stderr: str) -> ScannerError:
    """Turn a failed ``scanimage`` run into a ScannerError.

    The printed status text is preferred over the exit code because scanimage exits with
    1 for failures that happen before a status exists (open, option parsing).
    """
    for line in reversed(_scanimage_errors(stderr)):
        if m := _OPEN_FAILED.search(line):
            status = m["status"].strip()
            if status == "Invalid argument":
                # The dll backend answers "Invalid argument" when no backend knows the name:
                # the device is not there (unplugged, switched off, never connected).
                return ScannerError("no_device", detail=line)
            if status == "Access to resource has been denied":
                return ScannerError("io", *_ACCESS_DENIED, detail=line)
            return ScannerError(_STRSTATUS.get(status, "gone"), detail=line)
        if m := _CALL_FAILED.search(line):
            return ScannerError(_STRSTATUS.get(m["status"].strip(), "io"), detail=line)
        if m := _OPTION_FAILED.search(line):
            return ScannerError("invalid", detail=line)
        if "unrecognized option" in line or "option requires an argument" in line:
            return ScannerError("invalid", detail=line)
    if returncode in SANE_STATUS_CODES:
        name, code = SANE_STATUS_CODES[returncode]
        return ScannerError(code, detail=f"scanimage exited with {name}")
    if returncode == 0:
        return ScannerError("io", detail="scan ended without a page")
    if returncode < 0:
        return ScannerError("io", detail=f"scanimage died from signal {-returncode}")
    tail = stderr.strip().splitlines()[-1:] or [""]
    return ScannerError("io", detail=f"scanimage exited with {returncode}: {tail[0]}")
