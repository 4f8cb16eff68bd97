"""What every answer of the JSON API shares: the base model and the small pieces several
concerns show (an operator, an error)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """An answer's model: a field it does not declare is an error, never dropped (a
    response model keeps only the fields it names, and a missing one would vanish from
    the screen that reads it). A key that is a Python or pydantic name (``from``,
    ``register``) is declared with a trailing underscore and the key as its alias."""

    model_config = ConfigDict(extra="forbid")


class OperatorView(Payload):
    """An operator as the screens show them (:meth:`firmware.store.operators.Operator.public`)."""

    code: str
    name: str
    role: str


class ErrorView(Payload):
    """A :class:`~firmware.errors.KioskError` in both languages (its ``to_dict``)."""

    code: str
    message_en: str
    message_vi: str
