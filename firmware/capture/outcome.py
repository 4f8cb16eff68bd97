"""What one captured frame became, as the capture session and the cover-sheet actions
answer it (its own module so both can build it without importing each other)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class CaptureOutcome:
    """A frame's result: the page it became (with its quality verdict and preview), or,
    for a cover sheet or separator, ``page=None`` and what the sheet did."""

    page: dict[str, Any] | None  # None when the frame was a cover sheet or separator
    quality: dict[str, Any]
    preview_path: str | None
    timings: dict[str, float]
    sheet: dict[str, Any] | None = None  # what a sheet did (firmware.coversheet.actions)
