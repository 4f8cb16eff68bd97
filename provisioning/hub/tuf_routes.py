"""Serve the TUF repository to kiosks over mutual TLS: ``/tuf/metadata/…``, ``/tuf/targets/…``.

Only enrolled, unrevoked kiosks may read (the configuration names offices, recipients and
USB sticks). Files are answered gzip-compressed when the client accepts it: signed JSON
compresses to about a third, and the TUF client verifies the decoded bytes, so compression
changes nothing about trust. Release artifacts (``releases/<sha256>.<name>.tar``, signed by
the offline release role) are served as they are, with HTTP Range, so a kiosk on a cut
link resumes where it stopped instead of starting again.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from provisioning import schemas
from provisioning.fleet_schemas import RELEASE_PREFIX, TUF_METADATA_PATH, TUF_TARGETS_PATH
from provisioning.hub.errors import HubError
from provisioning.hub.fleet_routes import device_of
from provisioning.hub.tuf_repo import ConfigRepository

METADATA_PREFIX = TUF_METADATA_PATH
TARGETS_PREFIX = TUF_TARGETS_PATH
_METADATA_NAME = re.compile(r"^(\d+\.)?[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.json$")
_TARGET_PATH = re.compile(
    r"^config/(groups/|kiosks/)?[0-9a-f]{64}\.[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.json$"
)
_RELEASE_PATH = re.compile(
    r"^releases/[0-9a-f]{64}\.[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.(tar|raucb)$"
)

router = APIRouter()


def _file_response(request: Request, path: Path) -> Response:
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise HubError(schemas.E_NOT_FOUND, "no such metadata or target") from None
    headers = {"Cache-Control": "no-store"}
    if "gzip" in request.headers.get("accept-encoding", "") and len(data) > 256:
        data = gzip.compress(data, compresslevel=6, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(data, media_type="application/json", headers=headers)


@router.get(METADATA_PREFIX + "{name}")
async def metadata(name: str, request: Request) -> Response:
    await device_of(request)
    if not _METADATA_NAME.match(name):
        raise HubError(schemas.E_NOT_FOUND, "no such metadata")
    repo: ConfigRepository = request.app.state.config_repo
    return await run_in_threadpool(_file_response, request, repo.metadata_dir / name)


@router.get(TARGETS_PREFIX + "{path:path}")
async def target(path: str, request: Request) -> Response:
    await device_of(request)
    repo: ConfigRepository = request.app.state.config_repo
    if path.startswith(RELEASE_PREFIX) and _RELEASE_PATH.match(path):
        file = repo.targets_dir / path
        if not file.is_file():
            raise HubError(schemas.E_NOT_FOUND, "no such release")
        # Starlette answers Range with 206 + Content-Range (and 416 past the end).
        kind = "application/x-tar" if file.suffix == ".tar" else "application/octet-stream"
        return FileResponse(file, media_type=kind, headers={"Cache-Control": "no-store"})
    if not _TARGET_PATH.match(path):
        raise HubError(schemas.E_NOT_FOUND, "no such target")
    return await run_in_threadpool(_file_response, request, repo.targets_dir / path)
