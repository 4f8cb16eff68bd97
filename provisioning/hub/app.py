"""The hub's FastAPI application: EST and tus routes, every error as the contract's JSON.

Bad input of any kind (unknown paths, wrong methods, malformed headers, garbage bodies) is a
4xx with ``{"error": {code, message, message_vi}}``; only a real fault of the hub is a 5xx,
and it is logged with its traceback.

While the app runs (its lifespan), unfinished uploads idle for ``[uploads]
expire_after_hours`` are expired every :func:`~provisioning.hub.expiry.sweep_interval`
(the service already swept once at start-up); the sweep's database work and file deletions
run in the worker threads, like every other blocking call of the routes. A SQLite hub's
write-ahead log is checkpointed every second from a task of its own, not inside a request
(:mod:`provisioning.hub.sqlite_writes`).

``app.state.enroll_limiter`` holds the limit on failed enrollment attempts per client
address (``[enroll]``; its state in the hub database, shared by every replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from provisioning import schemas
from provisioning.hub import audit_anchor, est, fleet_routes, rollout_routes, tuf_routes, tus
from provisioning.hub.admin import rollouts_page
from provisioning.hub.admin import routes as admin_routes
from provisioning.hub.enroll_limit import DbEnrollLimiter, EnrollLimiter
from provisioning.hub.errors import E_DB_UNAVAILABLE, ERRORS, HubError
from provisioning.hub.expiry import sweep_interval
from provisioning.hub.fleet import RESIGN_EVERY_S, FleetService
from provisioning.hub.periodic import run_periodically
from provisioning.hub.rollouts import EVALUATE_EVERY_S
from provisioning.hub.service import HubService
from provisioning.hub.sqlite_writes import BackgroundCheckpoints
from provisioning.hub.tuf_repo import ConfigRepository

log = logging.getLogger("sohoa.hub")

#: Seconds a client waits after a 503 for a database that did not answer (a restart).
DB_RETRY_AFTER_S = 5


def _json_error(code: str, detail: str = "", headers: dict[str, str] | None = None) -> JSONResponse:
    err = HubError(code, detail, headers=headers)
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


#: Seconds between the write-ahead log's checkpoints of a SQLite hub (see ``sqlite_writes``).
CHECKPOINT_EVERY_S = 1.0


def background_duties(hub: HubService, fleet: FleetService) -> list[asyncio.Task[None]]:
    """The lifespan's tasks (:func:`~provisioning.hub.periodic.run_periodically`): upload
    expiry, re-signing the fleet's online metadata (hourly, first at start), rollout
    evaluation and, for SQLite, the log's checkpoints."""
    duties: list[tuple[Callable[[], object], float, str, bool]] = [
        (hub.expire_uploads, sweep_interval(hub.expire_after), "upload expiry sweep", False),
        (fleet.refresh_metadata, RESIGN_EVERY_S, "re-signing fleet metadata", True),
        (fleet.rollouts.evaluate_all, EVALUATE_EVERY_S, "rollout evaluation", False),
    ]
    if hub.db.engine.dialect.name == "sqlite":
        checkpoints = BackgroundCheckpoints(hub.db.engine)
        checkpoints.start()
        duties.append(
            (checkpoints.run_once, CHECKPOINT_EVERY_S, "checkpoint of the hub database", False)
        )
    return [
        asyncio.create_task(run_periodically(work, every, what, first_at_start=first), name=what)
        for work, every, what, first in duties
    ]


def create_app(
    hub: HubService, *, enroll_limiter: EnrollLimiter | DbEnrollLimiter | None = None
) -> FastAPI:
    """The hub's app; ``enroll_limiter`` defaults to one built from ``[enroll]`` on the hub
    database, shared by replicas (tests pass an in-memory one to control its clock)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = background_duties(hub, app.state.fleet)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="Sohoa hub", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.hub = hub
    if enroll_limiter is None:  # not ``or``: an empty limiter is falsy (it has __len__)
        enroll_limiter = DbEnrollLimiter.from_config(hub.settings.enroll, hub.db.enroll_limits)
    app.state.enroll_limiter = enroll_limiter
    app.include_router(est.router)
    app.include_router(tus.router)
    app.include_router(audit_anchor.router)
    app.state.config_repo = ConfigRepository(hub.settings.dir / "tuf")
    app.state.fleet = FleetService(
        hub.settings.fleet,
        hub.db,
        hub.store,
        config_repo=app.state.config_repo,
        signer=hub.signer,
    )
    app.include_router(fleet_routes.router)
    app.include_router(rollout_routes.router)
    app.include_router(tuf_routes.router)
    app.include_router(admin_routes.router)
    app.include_router(rollouts_page.router)

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

    @app.exception_handler(sa.exc.DBAPIError)
    async def _database(request: Request, exc: sa.exc.DBAPIError) -> JSONResponse:
        if not (exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError)):
            return await _crash(request, exc)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return _json_error(E_DB_UNAVAILABLE, headers={"Retry-After": str(DB_RETRY_AFTER_S)})

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _json_error("internal")

    return app
