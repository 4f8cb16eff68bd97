"""Value types of the scanner driver: device identities and scan settings.

Pages are the camera driver's ``Frame`` (``jpeg, width, height, captured_at`` and, for a
scanner, ``source="scanner"``, ``dpi``, ``side``, ``sheet``), re-exported here, so the page
pipeline treats a scanned page and a photographed page alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from drivers.camera.base import Frame

__all__ = [
    "MIN_DPI",
    "MODES",
    "PAPER_MM",
    "SOURCES",
    "Frame",
    "ScanSettings",
    "Scanner",
    "ScannerInfo",
]

SOURCES: tuple[str, ...] = ("flatbed", "adf", "adf-duplex")
MODES: tuple[str, ...] = ("color", "gray")

#: Paper sizes in millimetres (width, height). The archival rule is 100 % scale, so the
#: scan area is the paper itself, clipped to what the device can reach.
PAPER_MM: dict[str, tuple[float, float]] = {
    "A3": (297.0, 420.0),
    "A4": (210.0, 297.0),
    "A5": (148.0, 210.0),
    "B5": (176.0, 250.0),
    "Letter": (215.9, 279.4),
    "Legal": (215.9, 355.6),
}

#: Digitized copies must be at least 200 dpi (see shared/DOMAIN.md, digitization rules).
MIN_DPI = 200


@runtime_checkable
class Scanner(Protocol):
    """What the kiosk needs from a document scanner (:class:`~drivers.scanner.SaneScanner`)."""

    device: str

    def iter_scan(self) -> Iterator[Frame]:
        """Pages as the scanner delivers them; a failure raises ScannerError."""
        ...


@dataclass(frozen=True)
class ScannerInfo:
    """One device as SANE lists it (``scanimage -f`` / ``sane_get_devices``)."""

    name: str
    vendor: str
    model: str
    type: str

    @property
    def backend(self) -> str:
        """The SANE backend that drives the device: the part of the name before ``:``."""
        return self.name.split(":", 1)[0]


@dataclass(frozen=True)
class ScanSettings:
    """What the kiosk asks of a scan; validated at construction so mistakes show early."""

    source: str = "flatbed"
    dpi: int = 300
    mode: str = "color"
    paper: str = "A4"
    timeout_s: float = 60.0
    jpeg_quality: int = field(default=92, compare=False)

    def __post_init__(self) -> None:
        # Imported here to keep base.py free of a cycle with errors.py.
        from drivers.scanner.errors import ScannerError

        problems = []
        if self.source not in SOURCES:
            problems.append(f"source must be one of {', '.join(SOURCES)}, not {self.source!r}")
        if self.dpi < MIN_DPI:
            problems.append(f"dpi must be at least {MIN_DPI} for archival copies, not {self.dpi}")
        if self.mode not in MODES:
            problems.append(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.paper not in PAPER_MM:
            problems.append(f"paper must be one of {', '.join(PAPER_MM)}, not {self.paper!r}")
        if not self.timeout_s > 0:
            problems.append(f"timeout_s must be positive, not {self.timeout_s}")
        if not 1 <= self.jpeg_quality <= 100:
            problems.append(f"jpeg_quality must be within 1..100, not {self.jpeg_quality}")
        if problems:
            raise ScannerError("invalid", detail="; ".join(problems))
