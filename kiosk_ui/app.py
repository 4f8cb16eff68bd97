"""FastAPI application over a running :class:`firmware.kiosk.Kiosk`.

Every action the touchscreen offers is a JSON call under ``/api/v1`` (so the UI, tests and
maintenance tools use one surface). Errors are JSON ``{"code", "message"}`` in the
user's language, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import queue
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from firmware.catalog import NotFound
from firmware.errors import KioskError
from firmware.kiosk import Kiosk

STATIC = Path(__file__).parent / "static"


class SealRequest(BaseModel):
    title: str | None = Field(None, max_length=500)


class RotateRequest(BaseModel):
    quarter_turns: int = Field(1, ge=-3, le=3)


def create_app(kiosk: Kiosk) -> FastAPI:
    app = FastAPI(
        title="Sohoa kiosk",
        version="0.1.0",
        docs_url="/api/docs",
        openapi_url="/api/v1/openapi.json",
    )
    lang = kiosk.settings.language

    @app.exception_handler(KioskError)
    async def kiosk_error(_: Request, exc: KioskError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status, content={"code": exc.code, "message": exc.message(lang)}
        )

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(
            status_code=404,
            content={
                "code": "not_found",
                "message": "Không tìm thấy" if lang == "vi" else "Not found",
            },
        )

    def run(fn: Any, *a: Any, **kw: Any) -> Any:
        return asyncio.get_running_loop().run_in_executor(None, lambda: fn(*a, **kw))

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return (STATIC / "index.html").read_text(encoding="utf-8")

    @app.get("/static/{name}")
    async def static(name: str) -> FileResponse:
        p = (STATIC / name).resolve()
        if p.parent != STATIC.resolve() or not p.is_file():
            raise HTTPException(404)
        return FileResponse(p)

    @app.get("/api/v1/status")
    async def status() -> dict[str, Any]:
        return kiosk.status()

    @app.get("/api/v1/documents")
    async def documents(limit: int = 50) -> list[dict[str, Any]]:
        return kiosk.catalog.list_documents(limit=max(1, min(limit, 500)))

    @app.get("/api/v1/documents/{doc_id}")
    async def document(doc_id: str) -> dict[str, Any]:
        doc = kiosk.catalog.get_document(doc_id)
        doc["pages"] = kiosk.catalog.pages(doc_id)
        return doc

    @app.post("/api/v1/documents")
    async def new_document() -> dict[str, Any]:
        return await run(kiosk.new_document, "ui")

    @app.post("/api/v1/capture")
    async def capture(doc_id: str | None = None) -> dict[str, Any]:
        out = await run(kiosk.capture, "ui", doc_id)
        return {"page": out.page, "quality": out.quality, "timings": out.timings}

    @app.post("/api/v1/pages/{page_id}/retake")
    async def retake(page_id: str) -> dict[str, Any]:
        out = await run(kiosk.retake, page_id, "ui")
        return {"page": out.page, "quality": out.quality}

    @app.post("/api/v1/pages/{page_id}/accept")
    async def accept(page_id: str) -> dict[str, Any]:
        return await run(kiosk.accept_page, page_id, "ui")

    @app.post("/api/v1/pages/{page_id}/rotate")
    async def rotate(page_id: str, body: RotateRequest) -> dict[str, Any]:
        return await run(kiosk.rotate_page, page_id, body.quarter_turns, "ui")

    @app.delete("/api/v1/pages/{page_id}")
    async def delete(page_id: str) -> dict[str, str]:
        await run(kiosk.delete_page, page_id, "ui")
        return {"deleted": page_id}

    @app.get("/api/v1/pages/{page_id}/preview.jpg")
    async def preview(page_id: str) -> FileResponse:
        page = kiosk.catalog.get_page(page_id)
        if not page.get("preview_path") or not Path(page["preview_path"]).exists():
            raise NotFound(page_id)
        return FileResponse(page["preview_path"], media_type="image/jpeg")

    @app.post("/api/v1/documents/{doc_id}/finish")
    async def finish(doc_id: str) -> dict[str, Any]:
        return await run(kiosk.finish, doc_id, "ui")

    @app.post("/api/v1/documents/{doc_id}/seal")
    async def seal(doc_id: str, body: SealRequest) -> dict[str, Any]:
        return await run(kiosk.seal, doc_id, "ui", title=body.title)

    @app.get("/api/v1/documents/{doc_id}/pdf")
    async def pdf(doc_id: str) -> FileResponse:
        doc = kiosk.catalog.get_document(doc_id)
        if not doc.get("pdf_path") or not Path(doc["pdf_path"]).exists():
            raise NotFound(doc_id)
        return FileResponse(doc["pdf_path"], media_type="application/pdf", filename=f"{doc_id}.pdf")

    @app.get("/api/v1/search")
    async def search(q: str = "", limit: int = 50) -> list[dict[str, Any]]:
        return kiosk.catalog.search(q[:200], limit=max(1, min(limit, 200)))

    @app.get("/api/v1/events")
    async def events(request: Request) -> StreamingResponse:
        q = kiosk.events.subscribe()

        async def stream():
            try:
                yield "retry: 2000\n\n"
                while not await request.is_disconnected():
                    try:
                        ev = await asyncio.get_running_loop().run_in_executor(
                            None, lambda: q.get(timeout=1.0)
                        )
                    except queue.Empty:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"data: {json.dumps(ev, ensure_ascii=False)}\n\n"
            finally:
                kiosk.events.unsubscribe(q)

        return StreamingResponse(stream(), media_type="text/event-stream")

    return app
