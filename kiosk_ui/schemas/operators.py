"""The answers of the operator accounts (:mod:`kiosk_ui.routers.operators`)."""

from __future__ import annotations

from pydantic import Field

from kiosk_ui.schemas.base import OperatorView, Payload


class OperatorAccount(OperatorView):
    disabled: bool
    locked_until: float | None = Field(description="Epoch seconds; None when not locked.")


class NewOperator(OperatorView):
    """``pin`` is present only when the kiosk made it (shown once)."""

    pin: str | None = None


class Unlocked(Payload):
    unlocked: str


class Disabled(Payload):
    disabled: str


class Enabled(Payload):
    enabled: str


class NewPin(Payload):
    code: str
    pin: str = Field(description="Shown once to the maintainer; never stored in the clear.")
