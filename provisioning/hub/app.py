"""The hub's FastAPI application: EST and tus routes, every error as the contract's JSON.

Bad input of any kind (unknown paths, wrong methods, malformed headers, garbage bodies) is a
4xx with ``{"error": {code, message, message_vi}}``; only a real fault of the hub is a 5xx,
and it is logged with its traceback.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from provisioning import schemas
from provisioning.hub import est, tus
from provisioning.hub.errors import ERRORS, HubError
from provisioning.hub.service import HubService

log = logging.getLogger("sohoa.hub")


def _json_error(code: str, detail: str = "", headers: dict[str, str] | None = None) -> JSONResponse:
    err = HubError(code, detail, headers=headers)
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


def create_app(hub: HubService) -> FastAPI:
    app = FastAPI(title="Sohoa hub", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.hub = hub
    app.state.upload_locks = {}
    app.include_router(est.router)
    app.include_router(tus.router)

    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> JSONResponse:
        headers = dict(exc.headers)
        if request.url.path.startswith(tus.BASE):
            headers.setdefault("Tus-Resumable", schemas.TUS_VERSION)
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _json_error(schemas.E_BAD_REQUEST, "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405:
            return _json_error("method_not_allowed")
        if exc.status_code == 404:
            return _json_error(schemas.E_NOT_FOUND, "no such resource")
        code = next((c for c, v in ERRORS.items() if v[0] == exc.status_code), None)
        return _json_error(code or schemas.E_BAD_REQUEST, str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _json_error("internal")

    return app
