"""FastAPI application over a running :class:`firmware.kiosk.Kiosk`: screens and JSON API.

The touchscreen screens are server-rendered (Jinja2, Vietnamese first) with one small
build-free script; every action they take is a call of the JSON API under ``/api/v1``
(OpenAPI at ``/api/v1/openapi.json``), so the screens, the tests and maintenance scripts
share one surface. Errors are JSON ``{"code", "message"}`` in the user's language and
never a traceback; every call except signing in needs a session.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from firmware.errors import KioskError
from firmware.export.desk import ExportService
from firmware.kiosk import Kiosk
from firmware.store.catalog import NotFound
from firmware.store.operators import Operators
from firmware.store.states import IllegalTransition
from kiosk_ui import pdf_view, screens
from kiosk_ui.context import Ui, UiOptions
from kiosk_ui.guard import FrontDoor, RejectionLog
from kiosk_ui.routers import ROUTERS
from kiosk_ui.screens import SignInFirst

log = logging.getLogger("sohoa.ui")
STATIC = Path(__file__).parent / "static"

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)

_HTTP_CODES = {
    404: ("not_found", "Not found.", "Không tìm thấy."),
    405: ("method_not_allowed", "This action is not allowed here.", "Không được phép."),
}


def _error(request: Request, status: int, code: str, en: str, vi: str) -> JSONResponse:
    ui: Ui = request.app.state.ui
    lang = "vi"
    with contextlib.suppress(Exception):
        lang = ui.lang(request)
    return JSONResponse(
        status_code=status, content={"code": code, "message": vi if lang == "vi" else en}
    )


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(KioskError)
    async def kiosk_error(request: Request, exc: KioskError) -> JSONResponse:
        return _error(request, exc.status, exc.code, exc.message_en, exc.message_vi)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return _error(request, 404, "not_found", "Not found.", "Không tìm thấy.")

    @app.exception_handler(IllegalTransition)
    async def illegal(request: Request, exc: IllegalTransition) -> JSONResponse:
        return _error(
            request,
            409,
            "illegal_state",
            f"Not possible now: the {exc.kind} is {exc.current}.",
            "Không thực hiện được ở trạng thái hiện tại của tài liệu.",
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        resp = _error(
            request, 422, "invalid_input", "Some input is not valid.", "Dữ liệu nhập không hợp lệ."
        )
        return resp

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, en, vi = _HTTP_CODES.get(
            exc.status_code, ("http_error", str(exc.detail), str(exc.detail))
        )
        return _error(request, exc.status_code, code, en, vi)

    @app.exception_handler(SignInFirst)
    async def sign_in_first(request: Request, exc: SignInFirst) -> Response:
        return exc.response  # a screen's redirect to sign in (or home), not an error

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return _error(
            request,
            500,
            "internal_error",
            "Something went wrong; captured pages are safe. Try again.",
            "Có lỗi xảy ra; các trang đã chụp vẫn an toàn. Hãy thử lại.",
        )


def _reaper(ui: Ui, stop: threading.Event) -> None:
    """End idle sessions (and park the open document) even when no screen is polling."""
    interval = max(0.5, min(5.0, ui.options.idle_timeout_s / 10))
    while not stop.wait(interval):
        try:
            ui.expire_idle()
        except Exception:  # the catalog may be closing at shutdown
            log.debug("idle reaper", exc_info=True)


def create_app(
    kiosk: Kiosk,
    options: UiOptions | None = None,
    *,
    operators: Operators | None = None,
    exports: ExportService | None = None,
) -> FastAPI:
    """The kiosk UI for ``kiosk``; ``options`` tune idle time-out, lockout, auto-capture;
    ``exports`` is the service's running export desk (else the UI makes an idle one)."""
    ui = Ui(kiosk, options or UiOptions.from_settings(kiosk.settings.ui), operators, exports)
    stop = threading.Event()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        thread = threading.Thread(target=_reaper, args=(ui, stop), daemon=True, name="ui-idle")
        thread.start()
        try:
            yield
        finally:
            stop.set()

    app = FastAPI(
        title="Sohoa kiosk",
        version="1.0.0",
        description="Touchscreen actions of the Sohoa scanner kiosk. Sign in with "
        "POST /api/v1/session/login; the session cookie authenticates every other call.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        lifespan=lifespan,
    )
    app.state.ui = ui
    _install_errors(app)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # noqa: ANN001, ANN202
        response = await call_next(request)
        if not request.url.path.startswith("/api/docs"):
            response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    if kiosk.pedal is not None and hasattr(kiosk.pedal, "set_handler"):
        # Captures by pedal are made for the signed-in operator, and refused when nobody
        # is signed in (the kiosk core alone would capture for anyone).
        kiosk.pedal.set_handler(ui.on_pedal)

    # Outermost: Host, Origin and body size are judged before anything else runs.
    ui_cfg = kiosk.settings.ui
    app.add_middleware(
        FrontDoor,
        extra_hosts=(ui_cfg.host,) if ui_cfg.allow_remote else (),
        rejections=RejectionLog(kiosk.catalog.audit),
    )
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(pdf_view.router)
    app.include_router(screens.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
