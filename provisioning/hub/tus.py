"""tus 1.0.0 ingest: core + creation + termination + checksum + expiration, as in
docs/uplink-protocol.md.

Written here rather than taken from a library: the FastAPI tus servers on PyPI
(``tuspyserver``, ``fastapi-tusd``) have no checksum extension, answer errors in their own
shape, do not scope uploads to a client-certificate identity, and cannot attach a receipt to
the final PATCH; the server side of tus core is small. Interoperability with the reference
client is proved by ``tests/hub/test_hub_tus.py`` (tuspy).

Durability: received bytes are appended to the upload's part file and fsynced every
``uploads.sync_every`` bytes and at the end of each request, and only then is the offset
acknowledged (in the database and in ``Upload-Offset``). The offset that completes an
upload is acknowledged only together with its receipt, so a hub killed anywhere resumes from
``HEAD`` without losing or doubling a byte.

Expiration: ``POST``, ``HEAD`` and every ``PATCH`` answer that leaves the upload open carry
``Upload-Expires``; an upload swept by :mod:`provisioning.hub.expiry` answers ``410
upload_expired``. A ``PATCH`` first claims its upload in the database
(:meth:`UploadDB.touch_upload`), so it never writes into a partial file a sweep is deleting.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from provisioning import schemas
from provisioning.hub import audit_anchor
from provisioning.hub.auth import Device, authenticate
from provisioning.hub.errors import E_UPLOAD_EXPIRED, HubError
from provisioning.hub.expiry import TUS_EXTENSION, expires_header
from provisioning.hub.service import HubService
from provisioning.hub.storage import StorageFull
from provisioning.hub.tls import peer_certificate
from provisioning.hub.uploads_db import Upload

log = logging.getLogger("sohoa.hub.tus")

LOCK_WAIT = 5.0
"""Seconds a PATCH waits for another request on the same upload (a cut connection the
server has not noticed yet) before answering 423."""
LOCK_POLL = 0.1
WRITER_LEASE_S = 4.0
"""How long a writer's claim on an upload lasts without renewal (renewed every quarter of
that while the request lives): shorter than LOCK_WAIT, so a kiosk resuming after its hub
was killed and restarted waits for the dead claim at most this long."""

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
        authenticate, peer_certificate(request.scope), hub.ca_cert, hub.db.certificates
    )


#: A numeric header: ASCII digits only, at most 19 (fits a signed 64-bit integer).
#: ``str.isdigit`` is not enough: it accepts superscripts such as "²", which ``int`` refuses
#: (a 500), and ``int`` alone accepts other scripts' digits, signs, "_" and spaces.
_ASCII_INT = re.compile(r"[0-9]{1,19}")


def _int_header(request: Request, name: str, *, required: bool = True) -> int | None:
    """Upload-Length, Upload-Offset, Content-Length: a plain non-negative integer or 400."""
    raw = request.headers.get(name)
    if raw is None:
        if required:
            raise HubError(schemas.E_BAD_REQUEST, f"{name} header required")
        return None
    raw = raw.strip(" \t")
    if not _ASCII_INT.fullmatch(raw):
        raise HubError(schemas.E_BAD_REQUEST, f"{name} must be a non-negative integer")
    return int(raw)


async def _own_upload(request: Request, upload_id: str, device: Device) -> Upload:
    upload = await run_in_threadpool(
        partial(_hub(request).db.uploads.upload, enrollment_id=device.enrollment_id),
        upload_id,
        device.kiosk_id,
    )
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
    report = audit_anchor.parse_report(meta)
    if report is not None:  # before anything else: a refused upload still anchors the head
        await run_in_threadpool(
            audit_anchor.record_report, hub, device.kiosk_id, device.enrollment_id, report
        )
    await run_in_threadpool(hub.refuse_classified, device.kiosk_id, meta)
    receipt = await run_in_threadpool(hub.duplicate_receipt, device, meta)
    if receipt is not None:
        return JSONResponse(
            receipt, status_code=200, headers={"Tus-Resumable": schemas.TUS_VERSION}
        )
    await run_in_threadpool(hub.check_room, length)
    upload_id, expires = await run_in_threadpool(hub.create_upload, device, length, meta)
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
    body = await run_in_threadpool(hub.db.receipts.upload_receipt, upload.id)
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
    """One writer per upload, across hub replicas (:meth:`UploadWriterDB.claim_writer`, a lease in
    the database): a second request waits briefly, then gets 423 upload_busy. While the
    request lives a task renews the lease every quarter of it, so a hub that was killed
    leaves no claim behind for longer than :data:`WRITER_LEASE_S` (its kiosk resumes after a
    restart); a request that lost its lease stops writing (423)."""

    def __init__(self, request: Request, upload_id: str):
        self.hub = _hub(request)
        self.upload_id = upload_id
        self.token: str | None = None
        self.lost = False
        self._keeper: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _locked:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            self.token = await run_in_threadpool(
                self.hub.db.writers.claim_writer, self.upload_id, WRITER_LEASE_S
            )
            if self.token is not None:
                self._keeper = asyncio.create_task(self._keep())
                return self
            if time.monotonic() >= deadline:
                raise HubError(schemas.E_UPLOAD_BUSY)
            await asyncio.sleep(LOCK_POLL)

    async def _renew(self) -> bool:
        assert self.token is not None
        return await run_in_threadpool(
            self.hub.db.writers.renew_writer, self.upload_id, self.token, WRITER_LEASE_S
        )

    async def _keep(self) -> None:
        while not self.lost:
            await asyncio.sleep(WRITER_LEASE_S / 4)
            try:
                self.lost = not await self._renew()
            except Exception:  # the database is away: the next renewal may still make it
                log.exception("renewing the writer lease of %s failed", self.upload_id)

    def check(self) -> None:
        """423 once another request took the upload over."""
        if self.lost:
            raise HubError(schemas.E_UPLOAD_BUSY, "another request took this upload over")

    async def confirm(self) -> None:
        """Still the one writer, checked in the database (before acknowledging bytes)."""
        self.lost = self.lost or not await self._renew()
        self.check()

    async def __aexit__(self, *exc: object) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
        if self.token is not None and not self.lost:
            await run_in_threadpool(self.hub.db.writers.release_writer, self.upload_id, self.token)


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
    async with _locked(request, upload_id) as lease:
        upload = await _own_upload(request, upload_id, device)
        if upload.state == "complete":
            if offset != upload.length:
                raise HubError(
                    schemas.E_OFFSET_MISMATCH, headers={"Upload-Offset": str(upload.length)}
                )
            body = await run_in_threadpool(hub.db.receipts.upload_receipt, upload.id)
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
        active_at = await run_in_threadpool(hub.db.uploads.touch_upload, upload.id)
        if active_at is None:  # expired (or ended) since it was read: answer as such
            await _own_upload(request, upload_id, device)
            raise HubError(schemas.E_NOT_FOUND)
        return await _receive(request, hub, upload, checksum, active_at, lease)


async def _receive(
    request: Request,
    hub: HubService,
    upload: Upload,
    checksum: tuple[str, bytes] | None,
    active_at: datetime,
    lease: _locked,
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
        await lease.confirm()  # still the one writer before acknowledging
        if synced < upload.length:
            active_at = await run_in_threadpool(hub.db.uploads.set_offset, upload.id, synced)
            committed = synced

    try:
        try:
            async for chunk in request.stream():
                if not chunk:
                    continue
                if writer.offset + len(chunk) > upload.length:
                    writer.rewind(committed if digest is None else start)
                    await run_in_threadpool(hub.db.uploads.set_offset, upload.id, writer.offset)
                    raise HubError(schemas.E_BAD_REQUEST, "body exceeds Upload-Length")
                lease.check()
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
    hub.db.uploads.set_offset(upload.id, committed)
