"""A request the hub's services refuse, said in Vietnamese and English.

The services (rollouts, remote commands) are called by the admin page, the CLI and the
device routes alike; each caller shows both messages its own way (an error page, a
``KioskError`` on the terminal, an API error). Not the kiosk's ``KioskError``: the hub
imports nothing of the kiosk.
"""

from __future__ import annotations


class Refusal(Exception):
    """``code`` is stable for tests and scripts; ``status`` is the HTTP status it answers."""

    def __init__(self, code: str, message_en: str, message_vi: str, status: int = 400):
        super().__init__(message_en)
        self.code, self.message_en, self.message_vi, self.status = (
            code,
            message_en,
            message_vi,
            status,
        )
