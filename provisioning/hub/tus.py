"""tus 1.0.0 ingest: core + creation + termination + checksum + expiration, as in
docs/uplink-protocol.md.

Written here rather than taken from a library: the FastAPI tus servers on PyPI
(``tuspyserver``, ``fastapi-tusd``) have no checksum extension, answer errors in their own
shape, do not scope uploads to a client-certificate identity, and cannot attach a receipt to
the final PATCH; the server side of tus core is small. Interoperability with the reference
client is proved by ``tests/test_hub_tus.py`` (tuspy).

Durability: received bytes are appended to the upload's part file and fsynced every
``uploads.sync_every`` bytes and at the end of each request, and only then is the offset
acknowledged (in the database and in ``Upload-Offset``). The offset that completes an
upload is acknowledged only together with its receipt, so a hub killed anywhere resumes from
``HEAD`` without losing or doubling a byte.

Expiration: ``POST``, ``HEAD`` and every ``PATCH`` answer that leaves the upload open carry
``Upload-Expires``; an upload swept by :mod:`provisioning.hub.expiry` answers ``410
upload_expired``. A ``PATCH`` first claims its upload in the database
(:meth:`HubDB.touch_upload`), so it never writes into a partial file a sweep is deleting.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from provisioning import schemas
from provisioning.hub.auth import Device, authenticate
from provisioning.hub.db import Upload
from provisioning.hub.errors import E_UPLOAD_EXPIRED, HubError
from provisioning.hub.expiry import TUS_EXTENSION, expires_header
from provisioning.hub.service import HubService
from provisioning.hub.storage import StorageFull
from provisioning.hub.tls import peer_certificate

log = logging.getLogger("sohoa.hub.tus")

LOCK_WAIT = 5.0
"""Seconds a PATCH waits for another request on the same upload (a cut connection the
server has not noticed yet) before answering 423."""

router = APIRouter()
BASE = schemas.FILES_PATH.rstrip("/")
#: The shared contract's extensions plus expiration (served here, nothing to do on a client).
TUS_EXTENSIONS = tuple(dict.fromkeys((*schemas.TUS_EXTENSIONS, TUS_EXTENSION)))


def _hub(request: Request) -> HubService:
    return request.app.state.hub


def _tus_version(request: Request) -> None:
    if request.headers.get("tus-resumable") != schemas.TUS_VERSION:
        raise HubError(schemas.E_TUS_VERSION, headers={"Tus-Version": schemas.TUS_VERSION})


async def current_device(request: Request) -> Device:
    hub = _hub(request)
    return await run_in_threadpool(
        authenticate, peer_certificate(request.scope), hub.ca_cert, hub.db
    )


def _int_header(request: Request, name: str, *, required: bool = True) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        if required:
            raise HubError(schemas.E_BAD_REQUEST, f"{name} header required")
        return None
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 19:
        raise HubError(schemas.E_BAD_REQUEST, f"{name} must be a non-negative integer")
    return int(raw)


async def _own_upload(request: Request, upload_id: str, device: Device) -> Upload:
    upload = await run_in_threadpool(_hub(request).db.upload, upload_id, device.kiosk_id)
    if upload is None or upload.state in ("discarded", "terminated"):
        raise HubError(schemas.E_NOT_FOUND)
    if upload.state == "expired":
        raise HubError(E_UPLOAD_EXPIRED)
    return upload


DeviceDep = Annotated[Device, Depends(current_device)]


def _receipt_headers(receipt: dict[str, Any], length: int) -> dict[str, str]:
    return {
        "Upload-Offset": str(length),
        schemas.RECEIPT_HEADER: schemas.encode_receipt_header(receipt),
        "Tus-Resumable": schemas.TUS_VERSION,
    }


@router.options(BASE + "/")
@router.options(BASE)
async def options(request: Request, device: DeviceDep) -> Response:
    hub = _hub(request)
    return Response(
        status_code=204,
        headers={
            "Tus-Version": schemas.TUS_VERSION,
            "Tus-Extension": ",".join(TUS_EXTENSIONS),
            "Tus-Checksum-Algorithm": ",".join(schemas.TUS_CHECKSUM_ALGORITHMS),
            "Tus-Max-Size": str(hub.settings.uploads.max_size),
        },
    )


@router.post(BASE + "/")
@router.post(BASE)
async def create(request: Request, device: DeviceDep) -> Response:
    _tus_version(request)
    hub = _hub(request)
    if request.headers.get("upload-defer-length") is not None:
        raise HubError(schemas.E_BAD_REQUEST, "Upload-Defer-Length is not supported")
    length = _int_header(request, "Upload-Length")
    assert length is not None
    if length > hub.settings.uploads.max_size:
        raise HubError(schemas.E_TOO_LARGE, f"max {hub.settings.uploads.max_size} bytes")
    if length == 0:
        raise HubError(schemas.E_BAD_REQUEST, "Upload-Length must be positive")
    try:
        meta = schemas.decode_tus_metadata(request.headers.get("upload-metadata", ""))
    except ValueError as exc:
        raise HubError(schemas.E_BAD_REQUEST, str(exc)) from None
    meta = hub.check_metadata(meta)
    receipt = await run_in_threadpool(hub.duplicate_receipt, device.kiosk_id, meta)
    if receipt is not None:
        return JSONResponse(
            receipt, status_code=200, headers={"Tus-Resumable": schemas.TUS_VERSION}
        )
    await run_in_threadpool(hub.check_room, length)
    upload_id, expires = await run_in_threadpool(hub.create_upload, device.kiosk_id, length, meta)
    return Response(
        status_code=201,
        headers={
            "Location": f"{BASE}/{upload_id}",
            "Tus-Resumable": schemas.TUS_VERSION,
            **expires_header(expires),
        },
    )


@router.head(BASE + "/{upload_id}")
async def head(upload_id: str, request: Request, device: DeviceDep) -> Response:
    _tus_version(request)
    upload = await _own_upload(request, upload_id, device)
    offset = upload.length if upload.state == "complete" else upload.offset
    headers = {
        "Upload-Offset": str(offset),
        "Upload-Length": str(upload.length),
        "Upload-Metadata": schemas.encode_tus_metadata(upload.meta),
        "Cache-Control": "no-store",
        "Tus-Resumable": schemas.TUS_VERSION,
    }
    if upload.state == "open" and upload.active_at is not None:
        headers.update(expires_header(upload.active_at + _hub(request).expire_after))
    return Response(status_code=200, headers=headers)


@router.get(BASE + "/{upload_id}/receipt")
async def receipt(upload_id: str, request: Request, device: DeviceDep) -> Response:
    hub = _hub(request)
    upload = await _own_upload(request, upload_id, device)
    body = await run_in_threadpool(hub.db.upload_receipt, upload.id)
    if body is None:
        raise HubError(schemas.E_NOT_FOUND, "upload not complete yet")
    return JSONResponse(body)


@router.delete(BASE + "/{upload_id}")
async def terminate(upload_id: str, request: Request, device: DeviceDep) -> Response:
    _tus_version(request)
    hub = _hub(request)
    async with _locked(request, upload_id):
        upload = await _own_upload(request, upload_id, device)
        if upload.state == "open":
            await run_in_threadpool(hub.terminate, upload)
    return Response(status_code=204, headers={"Tus-Resumable": schemas.TUS_VERSION})


class _locked:
    """One writer per upload; a second one waits briefly, then gets 423 upload_busy."""

    def __init__(self, request: Request, upload_id: str):
        locks: dict[str, asyncio.Lock] = request.app.state.upload_locks
        self.locks = locks
        self.upload_id = upload_id
        self.lock = locks.setdefault(upload_id, asyncio.Lock())

    async def __aenter__(self) -> None:
        try:
            await asyncio.wait_for(self.lock.acquire(), LOCK_WAIT)
        except TimeoutError:
            raise HubError(schemas.E_UPLOAD_BUSY) from None

    async def __aexit__(self, *exc: object) -> None:
        self.lock.release()
        if not self.lock.locked() and self.locks.get(self.upload_id) is self.lock:
            del self.locks[self.upload_id]


@router.patch(BASE + "/{upload_id}")
async def patch(upload_id: str, request: Request, device: DeviceDep) -> Response:
    _tus_version(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != schemas.TUS_CONTENT_TYPE:
        raise HubError(schemas.E_UNSUPPORTED_MEDIA, f"expected {schemas.TUS_CONTENT_TYPE}")
    offset = _int_header(request, "Upload-Offset")
    assert offset is not None
    checksum: tuple[str, bytes] | None = None
    if "upload-checksum" in request.headers:
        try:
            checksum = schemas.parse_upload_checksum(request.headers["upload-checksum"])
        except ValueError as exc:
            raise HubError(schemas.E_BAD_REQUEST, str(exc)) from None
    hub = _hub(request)
    async with _locked(request, upload_id):
        upload = await _own_upload(request, upload_id, device)
        if upload.state == "complete":
            if offset != upload.length:
                raise HubError(
                    schemas.E_OFFSET_MISMATCH, headers={"Upload-Offset": str(upload.length)}
                )
            body = await run_in_threadpool(hub.db.upload_receipt, upload.id)
            return Response(status_code=204, headers=_receipt_headers(body or {}, upload.length))
        if offset != upload.offset:
            raise HubError(
                schemas.E_OFFSET_MISMATCH,
                f"hub holds {upload.offset}",
                headers={"Upload-Offset": str(upload.offset)},
            )
        declared = _int_header(request, "Content-Length", required=False)
        if declared is not None and offset + declared > upload.length:
            raise HubError(schemas.E_BAD_REQUEST, "body would exceed Upload-Length")
        active_at = await run_in_threadpool(hub.db.touch_upload, upload.id)
        if active_at is None:  # expired (or ended) since it was read: answer as such
            await _own_upload(request, upload_id, device)
            raise HubError(schemas.E_NOT_FOUND)
        return await _receive(request, hub, upload, checksum, active_at)


async def _receive(
    request: Request,
    hub: HubService,
    upload: Upload,
    checksum: tuple[str, bytes] | None,
    active_at: datetime,
) -> Response:
    start = upload.offset
    committed = start
    sync_every = hub.settings.uploads.sync_every
    writer = hub.spool.open_at(upload.id, start)
    digest = hashlib.new(checksum[0]) if checksum else None
    disconnected = False

    async def commit() -> None:
        """fsync, then acknowledge (never the final byte: that comes with the receipt)."""
        nonlocal committed, active_at
        if writer.offset == committed:
            return
        synced = await run_in_threadpool(writer.sync)
        if synced < upload.length:
            active_at = await run_in_threadpool(hub.db.set_offset, upload.id, synced)
            committed = synced

    try:
        try:
            async for chunk in request.stream():
                if not chunk:
                    continue
                if writer.offset + len(chunk) > upload.length:
                    writer.rewind(committed if digest is None else start)
                    await run_in_threadpool(hub.db.set_offset, upload.id, writer.offset)
                    raise HubError(schemas.E_BAD_REQUEST, "body exceeds Upload-Length")
                writer.write(chunk)
                if digest is not None:
                    digest.update(chunk)
                elif writer.offset - committed >= sync_every:
                    await commit()
        except ClientDisconnect:
            disconnected = True
        if (
            digest is not None
            and checksum is not None
            and (disconnected or digest.digest() != checksum[1])
        ):
            # A chunk that cannot be verified is not kept (tus checksum extension).
            writer.rewind(start)
            if disconnected:
                return Response(status_code=400)
            raise HubError(schemas.E_CHECKSUM_MISMATCH, headers={"Upload-Offset": str(start)})
        await commit()
        if writer.offset < upload.length:
            return Response(
                status_code=204,
                headers={
                    "Upload-Offset": str(committed),
                    "Tus-Resumable": schemas.TUS_VERSION,
                    **expires_header(active_at + hub.expire_after),
                },
            )
        await run_in_threadpool(writer.sync)
        writer.close()
        try:
            receipt = await run_in_threadpool(hub.finalize, upload)
        except HubError as exc:
            if exc.code == schemas.E_STORAGE_FULL:
                # The last request's bytes are not acknowledged: the client sends them again.
                await run_in_threadpool(_forget_tail, hub, upload, committed)
                exc.headers["Upload-Offset"] = str(committed)
            raise
        return Response(status_code=204, headers=_receipt_headers(receipt, upload.length))
    except StorageFull:
        writer.rewind(committed)
        raise HubError(schemas.E_STORAGE_FULL, headers={"Upload-Offset": str(committed)}) from None
    finally:
        writer.close()


def _forget_tail(hub: HubService, upload: Upload, committed: int) -> None:
    writer = hub.spool.open_at(upload.id, committed)
    try:
        writer.sync()
    finally:
        writer.close()
    hub.db.set_offset(upload.id, committed)
