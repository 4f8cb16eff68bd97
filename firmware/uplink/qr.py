"""The enrollment token QR: ``sohoa-enroll:?hub=<url>&token=<token>&ca=<sha256 hex>``.

Provincial IT prints the QR (``sohoa hub token new``); the clerk shows it to the kiosk's
camera (read on the capture path like a cover sheet, :mod:`firmware.coversheet.actions`) or IT types
``sohoa enroll --qr photo.png`` (read here with the thorough search of
:func:`firmware.coversheet.reader.read_qr_texts`). Both use the kiosk's one QR reader module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from firmware.coversheet.reader import read_qr_texts
from firmware.errors import KioskError
from firmware.uplink.hub_url import https_problem
from provisioning import schemas
from provisioning.schemas import ENROLL_URI_SCHEME

SCHEME = ENROLL_URI_SCHEME
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class EnrollTicket:
    """What one enrollment needs: where the hub is, the one-time token, the CA pin (None
    when IT typed a token without the fingerprint: trust on first use)."""

    hub: str
    token: str
    ca_sha256: str | None


def _bad(reason_en: str, reason_vi: str) -> KioskError:
    return KioskError(
        "enroll_invalid",
        f"The enrollment details are not valid: {reason_en}.",
        f"Thông tin đăng ký thiết bị không hợp lệ: {reason_vi}.",
        status=422,
    )


def check_hub_url(url: str) -> str:
    """A typed hub address must be https:// with a host (enrollment never runs in clear)."""
    problem = https_problem(url)
    if problem is not None:
        raise _bad(problem, "địa chỉ trung tâm phải bắt đầu bằng https://")
    return url.strip().rstrip("/")


def check_ca_sha256(value: str) -> str:
    v = value.strip().lower().replace(":", "")
    if not _HEX64.match(v):
        raise _bad("the CA fingerprint is not 64 hex digits", "dấu vân tay CA không hợp lệ")
    return v


def parse_enroll_uri(text: str) -> EnrollTicket:
    """Parse the QR text (rules in :func:`provisioning.schemas.parse_enroll_uri`); raise
    :class:`KioskError` ``enroll_invalid`` with the reason."""
    try:
        info = schemas.parse_enroll_uri(text)
    except ValueError as exc:
        raise _bad(str(exc), "mã QR thiếu hoặc sai thông tin") from None
    return EnrollTicket(hub=info.hub, token=info.token, ca_sha256=info.ca_sha256)


def find_ticket(bgr: np.ndarray) -> EnrollTicket | None:
    """The enrollment ticket shown in an image, or None when no ``sohoa-enroll:`` QR is in it.

    A QR with other content (a cover sheet, a web address) is ignored, not an error, since
    the camera sees whatever lies on the desk; a ``sohoa-enroll:`` QR that does not parse at
    any scale is reported, because someone is trying to enroll and needs the reason.
    """
    problem: KioskError | None = None
    for text in read_qr_texts(bgr):
        if text.strip().lower().startswith(SCHEME + ":"):
            try:
                return parse_enroll_uri(text)
            except KioskError as exc:  # a misread at one scale: try the others
                problem = exc
    if problem is not None:
        raise problem
    return None


def decode_image_bytes(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise KioskError(
            "enroll_image_unreadable",
            "The image with the enrollment code cannot be read.",
            "Không đọc được ảnh chứa mã đăng ký.",
            status=422,
        )
    return img


def ticket_from_file(path: Path | str) -> EnrollTicket:
    """``sohoa enroll --qr IMAGE``: the ticket in an image file, or a clear error."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KioskError(
            "enroll_image_unreadable",
            f"Cannot read {path}: {exc.strerror}.",
            f"Không đọc được tệp ảnh {path}.",
            status=422,
        ) from None
    ticket = find_ticket(decode_image_bytes(data))
    if ticket is None:
        raise KioskError(
            "enroll_qr_not_found",
            f"No Sohoa enrollment QR code was found in {path}.",
            f"Không tìm thấy mã QR đăng ký thiết bị trong ảnh {path}.",
            status=422,
        )
    return ticket
