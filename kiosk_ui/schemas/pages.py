"""The answers of the page routes (:mod:`kiosk_ui.routers.pages`): capture, scan, retake."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kiosk_ui.schemas.base import Payload
from kiosk_ui.schemas.documents import PageView

#: What a cover sheet or separator did (:mod:`firmware.coversheet.actions`), by its kind.
SheetAction = dict[str, Any]


class SimPedal(Payload):
    pressed: bool


class Captured(Payload):
    page: PageView | None = Field(description="None when a sheet was read instead.")
    sheet: SheetAction | None = Field(description="A cover sheet or separator was read.")
    timings: dict[str, float] = Field(description="Seconds per pipeline stage.")


class Scanned(Payload):
    pages: list[PageView]
    sheets: list[SheetAction]


class CaptureSource(Payload):
    source: Literal["camera", "scanner"]


class Retaken(Payload):
    """``sheet`` is present only when the retaken frame was a cover sheet."""

    page: PageView | None
    sheet: SheetAction | None = None


class PageDeleted(Payload):
    deleted: str
