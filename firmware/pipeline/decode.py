"""Stage 1: turn the bytes of a captured frame into pixels, or refuse them clearly.

A frame can arrive damaged: the camera stream was cut (truncated JPEG), the spool file was
half written before a power cut, or a USB camera produced garbage. OpenCV's decoder happily
returns a half-grey picture for a truncated JPEG, which would then be "detected", warped
and archived; so truncation is checked on the JPEG markers before decoding, and every
failure becomes :class:`CorruptFrame`, which the capture session turns into
"Ảnh bị hỏng, hãy chụp lại".

A stream cut mid-scan that still ends with ``FFD9`` passes the marker check; libjpeg then
warns "premature end of data segment" and fills every missing block with zero
coefficients, i.e. flat grey 128. OpenCV drops that warning, so after decoding the corners
(where the final block lands, whatever the EXIF orientation) are checked for exact decoder
fill, and only then is the frame decoded again by libjpeg-turbo in strict mode
(``simplejpeg``, at 1/8 scale: entropy decoding only) so that libjpeg's own warning decides.
Checking every frame strictly would cost a second decode (~0.3 s per 12 MP frame here).

The preview path decodes at 1/2, 1/4 or 1/8 scale with ``IMREAD_REDUCED_COLOR_N``: libjpeg
scales in the DCT domain, so a 12 MP frame is decoded to 1000x750 in about the time it takes
to entropy-decode it, far less than decoding in full and resizing.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from drivers.camera.limits import too_large

#: Frames smaller than this (either side) cannot hold a legible page.
MIN_FRAME_SIDE = 64

_REDUCED_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}

#: What libjpeg produces for blocks whose data is missing (all coefficients zero).
DECODER_FILL = 128

_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class CorruptFrame(Exception):
    """The frame cannot be used: empty, undecodable, truncated or too small."""


def read_frame_bytes(data: bytes | bytearray | memoryview | Path | str) -> bytes:
    """Return the encoded frame as bytes, reading it from disk if given a path."""
    if isinstance(data, (str, Path)):
        try:
            return Path(data).read_bytes()
        except OSError as exc:
            raise CorruptFrame(f"cannot read frame file {data}: {exc.strerror}") from exc
    return bytes(data)


def _is_jpeg(buf: bytes) -> bool:
    return buf[:3] == b"\xff\xd8\xff"


def jpeg_truncated(buf: bytes) -> bool:
    """True if a JPEG lacks the end-of-image marker after its last scan.

    Inside entropy-coded data every 0xFF byte is followed by 0x00 or a restart marker, so
    0xFFD9 (EOI) cannot appear there by accident; an EXIF thumbnail has its own EOI, but it
    comes before the main image's start-of-scan, hence the comparison with the last SOS.
    """
    last_sos = buf.rfind(b"\xff\xda")
    last_eoi = buf.rfind(b"\xff\xd9")
    return last_sos < 0 or last_eoi < last_sos


def jpeg_size(buf: bytes) -> tuple[int, int] | None:
    """(width, height) from the JPEG's SOF header, without decoding; None if not found.

    Needed so the preview, decoded at reduced scale, can still report the quad in
    full-resolution pixels exactly (libjpeg rounds reduced sizes up).
    """
    i = 2
    n = len(buf)
    while i + 4 <= n:
        if buf[i] != 0xFF:
            return None
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", buf[i + 2 : i + 4])
        if marker in _SOF_MARKERS and i + 9 <= n:
            height, width = struct.unpack(">HH", buf[i + 5 : i + 9])
            return int(width), int(height)
        if marker == 0xDA:
            return None
        i += 2 + length
    return None


def _fill_in_a_corner(img: np.ndarray, reduce: int) -> bool:
    """True if one corner block (8 px at full scale) is exactly the decoder's fill."""
    side = max(1, 8 // reduce)
    h, w = img.shape[:2]
    if h < side or w < side:
        return False
    for ys in (slice(0, side), slice(h - side, h)):
        for xs in (slice(0, side), slice(w - side, w)):
            if np.all(img[ys, xs] == DECODER_FILL):
                return True
    return False


def jpeg_incomplete(buf: bytes) -> str | None:
    """libjpeg's own complaint about ``buf`` (premature end of data, corrupt data), or None.

    Decodes at 1/8 scale in strict mode: every entropy-coded byte is still read, so a
    missing tail is noticed, at a fraction of a full decode's cost."""
    import simplejpeg

    try:
        simplejpeg.decode_jpeg(buf, colorspace="GRAY", min_factor=8, strict=True)
    except ValueError as exc:
        return str(exc) or "corrupt JPEG data"
    return None


def decode_frame(data: bytes | Path, reduce: int = 1) -> np.ndarray:
    """Decode a frame to BGR uint8, optionally at 1/``reduce`` scale (1, 2, 4 or 8).

    Raises :class:`CorruptFrame` for empty, undecodable, truncated, tiny or oversized
    input (pixel count from the header, :mod:`drivers.camera.limits`).
    """
    if reduce not in _REDUCED_FLAGS:
        raise ValueError(f"reduce must be one of {sorted(_REDUCED_FLAGS)}, not {reduce}")
    buf = read_frame_bytes(data)
    if not buf:
        raise CorruptFrame("empty frame")
    if _is_jpeg(buf) and jpeg_truncated(buf):
        raise CorruptFrame("truncated JPEG (no end-of-image marker)")
    oversize = too_large(buf)  # from the header: a bomb is never inflated
    if oversize:
        raise CorruptFrame(oversize)
    img = cv2.imdecode(np.frombuffer(buf, np.uint8), _REDUCED_FLAGS[reduce])
    if img is None or img.size == 0:
        raise CorruptFrame("undecodable image data")
    h, w = img.shape[:2]
    if min(h * reduce, w * reduce) < MIN_FRAME_SIDE:
        raise CorruptFrame(f"frame too small ({w * reduce}x{h * reduce})")
    if _is_jpeg(buf) and _fill_in_a_corner(img, reduce):
        problem = jpeg_incomplete(buf)
        if problem:
            raise CorruptFrame(f"incomplete JPEG, the camera stream was cut ({problem})")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img


def frame_size(buf: bytes, decoded: np.ndarray, reduce: int) -> tuple[int, int]:
    """Full-resolution (w, h) of a frame decoded at 1/``reduce`` scale."""
    h, w = decoded.shape[:2]
    size = jpeg_size(buf) if _is_jpeg(buf) else None
    if size is not None:
        sw, sh = size
        if -(-sw // reduce) == w and -(-sh // reduce) == h:
            return sw, sh
        if -(-sh // reduce) == w and -(-sw // reduce) == h:  # EXIF orientation applied
            return sh, sw
    return w * reduce, h * reduce
