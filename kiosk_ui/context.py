"""What every request handler of the UI shares: the kiosk, accounts, options, live view.

Parking lives here because it is the UI's promise to the clerk: signing out (by hand or
after inactivity) never loses a page; the open document stays ``capturing`` and is listed
on the home screen for whoever resumes it.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from firmware.events import EventKind
from firmware.export.desk import ExportService
from firmware.kiosk import Kiosk
from firmware.store.operators import Operators, Session
from kiosk_ui.i18n import DEFAULT_LANG, LANGS, Translator
from kiosk_ui.live import LiveView
from kiosk_ui.streams import EventStreams

SESSION_COOKIE = "sohoa_session"
LANG_COOKIE = "sohoa_lang"


@dataclass
class UiOptions:
    """UI behaviour; :meth:`from_settings` reads it from the ``[ui]`` settings section."""

    idle_timeout_s: float = 300.0  # sign out after this long without a touch
    idle_warning_s: float = 30.0  # ...showing a warning this long before
    lockout_s: float = 300.0  # a code stays locked this long after 5 wrong PINs
    auto_capture: bool = False  # capture when a new page lies still under the camera
    live_interval_ms: int = 350  # how often the scan screen polls the live view
    status_interval_ms: int = 5000  # how often the status bar refreshes

    @classmethod
    def from_settings(cls, ui: Any) -> UiOptions:
        return cls(
            idle_timeout_s=ui.idle_timeout_s,
            idle_warning_s=ui.idle_warning_s,
            lockout_s=ui.lockout_s,
            auto_capture=ui.auto_capture,
        )


class Ui:
    def __init__(
        self,
        kiosk: Kiosk,
        options: UiOptions,
        operators: Operators | None = None,
        exports: ExportService | None = None,
    ):
        self.kiosk = kiosk
        # The service passes its running export desk (hot-plug watch, purge); without one
        # (tests, tools) the UI makes its own that reads the devices on demand.
        self.exports = exports or ExportService.for_kiosk(kiosk)
        self.options = options
        self.operators = operators or Operators(kiosk.catalog, lockout_s=options.lockout_s)
        self.live = (
            LiveView(kiosk.camera, auto_capture=options.auto_capture, busy=lambda: kiosk.capturing)
            if kiosk.camera is not None
            else None
        )
        self.thumbs: dict[tuple[str, float], bytes] = {}
        self.streams = EventStreams(kiosk.events)
        self._park_lock = threading.Lock()

    # -- sessions ---------------------------------------------------------------------------
    def session(self, request: Request, *, touch: bool = False) -> Session | None:
        self.expire_idle()  # an idle session ends here, and its open document is parked
        return self.operators.session(
            request.cookies.get(SESSION_COOKIE), self.options.idle_timeout_s, touch=touch
        )

    def lang(self, request: Request, session: Session | None = None) -> str:
        if session is None:
            with contextlib.suppress(Exception):
                session = self.session(request)
        if session is not None:
            return session.lang
        cookie = request.cookies.get(LANG_COOKIE)
        if cookie in LANGS:
            return cookie
        default = getattr(self.kiosk.settings, "language", DEFAULT_LANG)
        return default if default in LANGS else DEFAULT_LANG

    def tr(self, request: Request, session: Session | None = None) -> Translator:
        return Translator(self.lang(request, session))

    def expire_idle(self) -> None:
        """End idle sessions; when nobody is left signed in, park the open document."""
        ended = self.operators.expire_idle(self.options.idle_timeout_s)
        if ended and self.operators.open_sessions() == 0:
            self.park(ended[0], "idle")

    def park(self, actor: str, reason: str) -> str | None:
        """Leave the open document in ``capturing`` for later; never discard it."""
        with self._park_lock:
            return self.kiosk.park(actor, reason)

    def active_operator(self) -> str | None:
        """Code of the most recently active signed-in operator (the pedal acts for them)."""
        self.expire_idle()
        return self.operators.most_recent_operator()

    def on_pedal(self, event: Any) -> None:
        """Pedal handler: capture for the signed-in operator; nobody signed in -> refuse."""
        from firmware.errors import KioskError

        kind = getattr(event, "value", str(event))
        actor = self.active_operator()
        if actor is None:
            if kind == "down":  # only a notice; the press that follows is refused
                return
            if self.kiosk.leds is not None:
                with contextlib.suppress(Exception):
                    self.kiosk.leds.beep("error")
            self.kiosk.events.publish(
                EventKind.ERROR,
                code="not_signed_in",
                message_en="Sign in before capturing.",
                message_vi="Hãy đăng nhập trước khi chụp.",
            )
            return
        try:
            self.kiosk.handle_pedal(event, actor)
            if kind == "press" and self.live is not None:
                self.live.mark_captured()
        except KioskError as exc:
            self.kiosk.events.publish(EventKind.ERROR, **exc.to_dict())
