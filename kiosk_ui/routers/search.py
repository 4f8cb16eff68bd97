"""Search over the documents an operator may see (full text, with or without diacritics)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from kiosk_ui.deps import UiDep, Viewer
from kiosk_ui.schemas.documents import SearchHit
from kiosk_ui.views import search_documents

router = APIRouter(prefix="/api/v1", tags=["documents"])


@router.get("/search", response_model=list[SearchHit])
async def search(
    request: Request,
    s: Viewer,
    ui: UiDep,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    return search_documents(ui, ui.tr(request, s), q, s, limit)
