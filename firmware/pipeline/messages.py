"""What the clerk is told when a page fails a quality gate, in Vietnamese and English.

The Vietnamese wording is the one clerks already use (shared/DOMAIN.md, "UI words"): short,
says what is wrong and what to do about it (issue 16: "Ảnh quá tối" alone left the clerk
guessing); the screen's catalog (kiosk_ui.labels.QUALITY) words each code the same way. Kept apart from the measuring code so the UI team can
review wording without reading image processing.
"""

from __future__ import annotations

#: code -> (message_vi, message_en)
MESSAGES: dict[str, tuple[str, str]] = {
    "blurred": (
        "Trang bị mờ: giữ yên tài liệu rồi chụp lại",
        "Page is blurred: hold the page still, then retake",
    ),
    "glare": (
        "Trang bị lóa sáng: nghiêng đèn hoặc tài liệu rồi chụp lại",
        "Glare on the page: tilt the lamp or the page, then retake",
    ),
    "cut_off": (
        "Trang bị mất góc: đặt cả trang vào trong khung rồi chụp lại",
        "Page is cut off: put the whole page inside the frame, then retake",
    ),
    "too_dark": (
        "Ảnh quá tối: bật thêm đèn rồi chụp lại",
        "Too dark: turn on more light, then retake",
    ),
    "blank": ("Trang trắng", "Blank page"),
    "no_page": (
        "Không tìm thấy trang tài liệu: đặt tài liệu dưới máy ảnh rồi chụp lại",
        "No page found: place the document under the camera, then retake",
    ),
    "corrupt": ("Ảnh bị hỏng, hãy chụp lại", "Image is corrupt, please retake"),
}


def message(code: str) -> tuple[str, str]:
    """(Vietnamese, English) text for a quality issue code."""
    return MESSAGES[code]
