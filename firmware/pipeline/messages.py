"""What the clerk is told when a page fails a quality gate, in Vietnamese and English.

The Vietnamese wording is the one clerks already use (shared/DOMAIN.md, "UI words"): short,
says what is wrong and what to do. Kept apart from the measuring code so the UI team can
review wording without reading image processing.
"""

from __future__ import annotations

#: code -> (message_vi, message_en)
MESSAGES: dict[str, tuple[str, str]] = {
    "blurred": ("Trang bị mờ, hãy chụp lại", "Page is blurred, please retake"),
    "glare": ("Trang bị lóa sáng", "Glare on the page"),
    "cut_off": (
        "Trang bị mất góc, hãy đặt lại tài liệu",
        "Page is cut off, please reposition the document",
    ),
    "too_dark": ("Ảnh quá tối", "Image is too dark"),
    "blank": ("Trang trắng", "Blank page"),
    "no_page": ("Không tìm thấy trang tài liệu", "No page found"),
    "corrupt": ("Ảnh bị hỏng, hãy chụp lại", "Image is corrupt, please retake"),
}


def message(code: str) -> tuple[str, str]:
    """(Vietnamese, English) text for a quality issue code."""
    return MESSAGES[code]
