"""Signing in and out, the session's own state, and the language (vi first, en)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from firmware.errors import KioskError
from kiosk_ui.context import LANG_COOKIE, SESSION_COOKIE
from kiosk_ui.deps import Actor, UiDep, Viewer, run
from kiosk_ui.schemas.session import LanguageView, SessionView, SignedIn, SignedOut, Touched
from kiosk_ui.signin_words import explain as explain_signin

router = APIRouter(prefix="/api/v1", tags=["session"])


class LoginRequest(BaseModel):
    code: str = Field(..., max_length=32, description="Staff code (digits).")
    pin: str = Field(..., max_length=32, description="PIN (digits).")
    lang: Literal["vi", "en"] | None = None


class LogoutRequest(BaseModel):
    reason: Literal["signout", "idle"] = "signout"


class LanguageRequest(BaseModel):
    lang: Literal["vi", "en"]


@router.post("/session/login", response_model=SignedIn)
async def login(body: LoginRequest, request: Request, response: Response, ui: UiDep) -> Any:
    try:
        op = await run(ui.operators.authenticate, body.code, body.pin)
    except KioskError as exc:  # say how many tries are left, or for how long locked
        raise explain_signin(ui.operators, body.code, exc) from None
    lang = body.lang or ui.lang(request)
    token = ui.operators.open_session(op, lang)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", path="/")
    response.set_cookie(LANG_COOKIE, lang, samesite="strict", path="/")
    return {"operator": op.public(), "lang": lang}


@router.post("/session/logout", response_model=SignedOut)
async def logout(body: LogoutRequest, request: Request, response: Response, ui: UiDep) -> Any:
    token = request.cookies.get(SESSION_COOKIE)
    s = ui.session(request)
    parked = None
    if s is not None and token:
        ui.operators.end_session(token, body.reason)
        ui.streams.end_session(s.token_hash)  # a stream opened before hears nothing more
        if ui.operators.open_sessions() == 0:
            parked = ui.park(s.operator.code, body.reason)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"signed_out": s is not None, "parked": parked}


@router.get("/session", response_model=SessionView)
async def session(s: Viewer, ui: UiDep) -> Any:
    return {
        "operator": s.operator.public(),
        "lang": s.lang,
        "idle_timeout_s": ui.options.idle_timeout_s,
        "idle_warning_s": ui.options.idle_warning_s,
    }


@router.post("/session/touch", response_model=Touched)
async def touch(s: Actor) -> Any:
    return {"ok": True, "operator": s.operator.code}


@router.put("/session/language", response_model=LanguageView)
async def language(body: LanguageRequest, request: Request, response: Response, ui: UiDep) -> Any:
    token = request.cookies.get(SESSION_COOKIE)
    if token and ui.session(request) is not None:
        ui.operators.set_language(token, body.lang)
    response.set_cookie(LANG_COOKIE, body.lang, samesite="strict", path="/")
    return {"lang": body.lang}
