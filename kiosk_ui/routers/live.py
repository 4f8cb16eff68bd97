"""The live camera view (guidance, auto-capture) and the event stream of the screens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from firmware.errors import KioskError, no_camera
from firmware.events import EventKind
from firmware.store.catalog import NotFound
from kiosk_ui import labels
from kiosk_ui.context import SESSION_COOKIE
from kiosk_ui.deps import UiDep, Viewer, run
from kiosk_ui.i18n import Translator
from kiosk_ui.pictures import JPEG
from kiosk_ui.schemas.live import LiveView

router = APIRouter(prefix="/api/v1", tags=["live"])


def tr_live(reason: str, tr: Translator) -> str:
    """The live view's reason (a quality code, or ``camera``) as the clerk reads it."""
    msgid = labels.LIVE_REASONS.get(reason)
    return tr._(msgid) if msgid else reason


@router.get("/live", response_model=LiveView)
async def live(request: Request, s: Viewer, ui: UiDep) -> Any:
    if ui.live is None:
        raise no_camera()
    frame, fire = await run(ui.live.tick)
    out = frame.public()
    # the guidance in the clerk's language, from the catalogs (issue 16)
    out["message"] = tr_live(frame.reason, ui.tr(request, s)) if frame.reason else ""
    out["auto_capture"] = ui.live.auto_capture
    out["captured"] = None
    if fire:
        try:
            res = await run(ui.kiosk.capture, s.operator.code)
            out["captured"] = res.page["id"] if res.page is not None else None
        except KioskError as exc:
            ui.kiosk.events.publish(EventKind.ERROR, **exc.to_dict())
    return out


@router.get("/live.jpg", responses={200: JPEG})
async def live_jpeg(_: Viewer, ui: UiDep) -> Response:
    frame = ui.live.last if ui.live is not None else None
    if frame is None or not frame.jpeg:
        raise NotFound("live")
    return Response(frame.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/events", response_class=StreamingResponse)
async def events(request: Request, s: Viewer, ui: UiDep) -> StreamingResponse:
    """Server-sent events: page, document, backlog and error notices as they happen
    (at most a few per session, ended at sign-out: :mod:`kiosk_ui.streams`)."""
    token = request.cookies.get(SESSION_COOKIE)

    def alive() -> bool:
        live = ui.operators.session(token, ui.options.idle_timeout_s, touch=False)
        return live is not None and live.token_hash == s.token_hash

    body = ui.streams.open(s.token_hash, request.is_disconnected, alive)
    return StreamingResponse(body, media_type="text/event-stream")
