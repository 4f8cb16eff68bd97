"""A request the hub's services refuse, said in Vietnamese and English.

The services (rollouts, remote commands, group names) are called by the admin page, the
CLI and the device routes alike. A refusal is the project's one bilingual error type
(:class:`sohoa_common.errors.BilingualError`, the kiosk's ``KioskError`` too), so the CLI
prints it as it prints every error, and the admin page renders it as an error page.
"""

from __future__ import annotations

from sohoa_common.errors import BilingualError


class Refusal(BilingualError):
    """``code`` is stable for tests and scripts; ``status`` is the HTTP status it answers
    (400 unless said: a refusal is about the request)."""

    def __init__(self, code: str, message_en: str, message_vi: str, status: int = 400):
        super().__init__(code, message_en, message_vi, status=status)
