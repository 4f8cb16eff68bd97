"""The answers of signing in and out, the session and the language
(:mod:`kiosk_ui.routers.session`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kiosk_ui.schemas.base import OperatorView, Payload

Lang = Literal["vi", "en"]


class SignedIn(Payload):
    operator: OperatorView
    lang: Lang


class SignedOut(Payload):
    signed_out: bool
    parked: str | None = Field(description="The document parked as the last session ended.")


class SessionView(Payload):
    operator: OperatorView
    lang: Lang
    idle_timeout_s: int | float
    idle_warning_s: int | float


class Touched(Payload):
    ok: bool
    operator: str


class LanguageView(Payload):
    lang: Lang
