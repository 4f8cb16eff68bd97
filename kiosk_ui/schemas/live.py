"""The live camera view's answer (:mod:`kiosk_ui.routers.live`)."""

from __future__ import annotations

from pydantic import Field

from kiosk_ui.schemas.base import Payload


class LiveView(Payload):
    """:meth:`kiosk_ui.live.LiveFrame.public` and what the route adds."""

    seq: int
    width: int
    height: int
    ready: bool
    reason: str | None = Field(description="Why not ready: a quality code, or camera.")
    quad: list[list[float]] | None = Field(description="Page corners, fractions of the frame.")
    message: str = Field(description="The guidance in the session's language.")
    auto_capture: bool
    captured: str | None = Field(description="The page auto-capture took on this tick.")
