"""The sealed PDF shown inside the kiosk's own screen, page by page, with a way back.

Chromium's PDF viewer opens in a new tab, and in kiosk mode (cage, no tabs, no address bar)
the clerk then has no way back to the app (issue 16). So the screen never links to the PDF
itself: the server renders the pages of the *sealed file* (what is archived, not the
previews) to JPEG with poppler's ``pdftoppm``, already a dependency of the kiosk, and a
plain screen shows them as images. Nothing is written to disk: a page renders in a fraction
of a second, and a sealed PDF never changes, so the browser keeps what it was sent.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pikepdf
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from firmware.errors import KioskError
from firmware.store.catalog import NotFound
from kiosk_ui.deps import UiDep, Viewer
from kiosk_ui.screens import Screen, render_screen
from kiosk_ui.views import doc_view

#: Resolution of a shown page: an A4 page is ~830 px high, the screen 600 px.
VIEW_DPI = 100
RENDER_TIMEOUT_S = 30
#: JPEG, not PNG: a rendered scan is a photo (a PNG page weighed ~500 KB, the screen's
#: budget is 300 KB for everything it loads in its first second).
VIEW_JPEG_QUALITY = 70


def sealed_pdf(ui: Any, doc_id: str) -> Path:
    """The document's sealed PDF on disk, or NotFound (not sealed yet, or purged)."""
    doc = ui.kiosk.catalog.get_document(doc_id)
    path = Path(doc.get("pdf_path") or "")
    if not doc.get("pdf_path") or not path.is_file():
        raise NotFound(doc_id)
    return path


def page_count(pdf: Path) -> int:
    with pikepdf.open(pdf) as p:
        return len(p.pages)


def render_page(pdf: Path, number: int, dpi: int = VIEW_DPI) -> bytes:
    """One page (1-based) of ``pdf`` as JPEG bytes, rendered by pdftoppm to stdout."""
    if shutil.which("pdftoppm") is None:
        raise KioskError(
            "no_pdf_renderer",
            "The PDF cannot be shown: poppler-utils (pdftoppm) is missing; call IT support.",
            "Không hiển thị được tệp PDF: thiếu poppler-utils (pdftoppm); hãy gọi bộ phận CNTT.",
            status=503,
        )
    out = subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-f",
            str(number),
            "-l",
            str(number),
            "-jpeg",
            "-jpegopt",
            f"quality={VIEW_JPEG_QUALITY}",
            str(pdf),
        ],
        capture_output=True,
        timeout=RENDER_TIMEOUT_S,
        check=False,
    )
    if out.returncode != 0 or not out.stdout:
        raise KioskError(
            "pdf_render_failed",
            "This page of the PDF cannot be shown.",
            "Không hiển thị được trang này của tệp PDF.",
            status=500,
        )
    return out.stdout


router = APIRouter()


@router.get(
    "/api/v1/documents/{doc_id}/pdf/pages/{number}.jpg",
    tags=["documents"],
    responses={200: {"content": {"image/jpeg": {}}, "description": "a rendered page"}},
)
async def pdf_page(
    doc_id: str, number: int = PathParam(ge=1, le=10000), *, _: Viewer, ui: UiDep
) -> Response:
    pdf = sealed_pdf(ui, doc_id)
    loop = asyncio.get_running_loop()
    if number > await loop.run_in_executor(None, page_count, pdf):
        raise NotFound(f"{doc_id} page {number}")
    data = await loop.run_in_executor(None, render_page, pdf, number)
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


@router.get("/documents/{doc_id}/pdf", response_class=HTMLResponse, include_in_schema=False)
async def pdf_screen(request: Request, s: Screen, doc_id: str, back: str = "") -> Response:
    ui = request.app.state.ui
    tr = ui.tr(request, s)
    try:
        pdf = sealed_pdf(ui, doc_id)
        doc = doc_view(ui.kiosk.catalog.get_document(doc_id), tr)
    except NotFound:
        return RedirectResponse("/documents", status_code=303)
    count = await asyncio.get_running_loop().run_in_executor(None, page_count, pdf)
    # Back to where the clerk came from: the review screen or the document's page.
    back_url = f"/review/{doc_id}" if back == "review" else f"/documents/{doc_id}"
    return render_screen(request, "pdf.html", s, doc=doc, count=count, back_url=back_url)
