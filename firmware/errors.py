"""Errors the kiosk shows to people: a stable code, an English and a Vietnamese message.

The touchscreen shows ``message_vi`` (or ``message_en``), never a traceback; the code is
what the API returns and what the audit log records. The type itself is
:class:`sohoa_common.errors.BilingualError`, shared with the drivers and the hub.
"""

from __future__ import annotations

import errno

from sohoa_common.errors import BilingualError

#: The kiosk's one bilingual error type (sohoa_common.errors.BilingualError, shared with drivers).
KioskError = BilingualError


def no_camera() -> KioskError:
    """The one answer for "there is no camera" (core and API alike)."""
    return KioskError(
        "no_camera",
        "No camera is configured or connected.",
        "Chưa có máy ảnh (chưa cấu hình hoặc chưa cắm).",
        status=503,
    )


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


def camera_error(exc: Exception) -> KioskError:
    """Turn what a camera driver raised into words a clerk can act on: its ``code``
    ("gone": unplugged or hung, "end": a folder camera out of images) picks the message,
    and the driver's own Vietnamese detail (e.g. a frame too large) is kept."""
    code = getattr(exc, "code", "io")
    if code == "gone":
        return KioskError(
            "camera_gone",
            "The camera is not responding. Check its cable; captured pages are safe.",
            "Máy ảnh không phản hồi. Hãy kiểm tra dây cắm; các trang đã chụp vẫn an toàn.",
            status=503,
        )
    if code == "end":
        return KioskError(
            "no_more_frames",
            "No more images in the source folder.",
            "Thư mục nguồn không còn ảnh nào.",
            status=409,
        )
    detail_vi = getattr(exc, "message_vi", "")  # what the camera said, e.g. too large
    return KioskError(
        "camera_error",
        f"The camera failed: {exc}. Check the camera, then try again.",
        f"Máy ảnh gặp lỗi{': ' + detail_vi if detail_vi else '.'} "
        "Hãy kiểm tra máy ảnh rồi thử lại.",
        status=503,
    )
