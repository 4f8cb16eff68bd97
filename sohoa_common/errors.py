"""The one bilingual error type: a stable code, English, Vietnamese, HTTP status.

It lives in the neutral layer so drivers (camera, scanner), the firmware and the hub's
services (a refused rollout or command, ``provisioning.hub.refusals``) raise the same type: the touchscreen API converts it to ``{"code", "message"}`` in one handler, the CLI
prints it in one place, the audit log records the code. ``firmware.errors.KioskError`` is
this type; subclasses add what their layer knows (a scanner's partial pages, a camera's
device code) but never their own message fields.
"""

from __future__ import annotations

from typing import TypedDict


class ErrorFields(TypedDict):
    """An error as data (``to_dict``): what the event bus and the status carry."""

    code: str
    message_en: str
    message_vi: str


class BilingualError(Exception):
    def __init__(self, code: str, message_en: str, message_vi: str, *, status: int = 409):
        super().__init__(message_en)
        self.code = code
        self.message_en = message_en
        self.message_vi = message_vi
        self.status = status

    def text(self, lang: str = "vi") -> str:
        """The message in ``lang`` (Vietnamese unless English is asked for)."""
        return self.message_en if lang == "en" else self.message_vi

    def to_dict(self) -> ErrorFields:
        return {"code": self.code, "message_en": self.message_en, "message_vi": self.message_vi}
