"""The JSON API under ``/api/v1``, one module-level router per concern.

Every call needs a signed-in session (cookie from ``POST /api/v1/session/login``) except
signing in and choosing the language; who may call what is :mod:`kiosk_ui.deps`.
``ROUTERS`` is the order the app includes them in (a fixed path such as
``/documents/parked`` is declared before ``/documents/{doc_id}`` inside its router).
"""

from __future__ import annotations

from fastapi import APIRouter

from kiosk_ui.routers import (
    documents,
    export,
    live,
    maintenance,
    operators,
    pages,
    register,
    search,
    session,
    status,
)

ROUTERS: tuple[APIRouter, ...] = (
    session.router,
    status.router,
    documents.router,
    pages.router,
    search.router,
    live.router,
    maintenance.router,
    operators.router,
    export.router,
    register.router,
)
