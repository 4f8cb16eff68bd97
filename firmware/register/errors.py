"""Errors of the register: a whole file refused, or one row rejected (both languages)."""

from __future__ import annotations

from firmware.errors import KioskError


class RegisterFileError(KioskError):
    """The file cannot be imported at all (unreadable, wrong kind, required column missing);
    nothing was written."""

    def __init__(self, code: str, message_en: str, message_vi: str, *, status: int = 422):
        super().__init__(code, message_en, message_vi, status=status)


class RowError(ValueError):
    """One row cannot be taken; the importer lists it with its line and goes on."""

    def __init__(self, message_en: str, message_vi: str):
        super().__init__(message_en)
        self.message_en, self.message_vi = message_en, message_vi
