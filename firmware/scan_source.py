"""Scanner frames for the capture flow: SANE pages enter the same pipeline as camera frames.

A scanner error (feeder empty, jam, device gone) is turned into a :class:`KioskError` with
the driver's Vietnamese message; pages scanned before the error are still yielded, so a jam
in the middle of a batch never loses the pages already fed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from firmware.errors import KioskError


def scanner_frames(device: str, *, adf: bool = False, duplex: bool = False, dpi: int = 300,
                   mode: str = "color", paper: str = "A4") -> Iterator[Any]:
    from drivers.scanner import SaneScanner, ScannerError, ScanSettings

    source = "adf-duplex" if duplex else "adf" if adf else "flatbed"
    scanner = SaneScanner(device, ScanSettings(source=source, dpi=dpi, mode=mode, paper=paper))
    try:
        yield from scanner.iter_scan()
    except ScannerError as exc:
        raise KioskError(
            f"scanner_{exc.code}", str(exc), getattr(exc, "message_vi", str(exc)), status=503
        ) from exc
