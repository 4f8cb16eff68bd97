"""Fleet routes: the kiosk heartbeat (mutual TLS) and the unauthenticated ``/healthz``.

Thin: authenticate, read and validate the body, hand it to
:class:`~provisioning.hub.fleet.FleetService`, answer compact JSON. ``/healthz`` answers
without a client certificate (the province's monitoring has none) and says only whether
the database and the object store answer, and the version: nothing about kiosks.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from provisioning import schemas
from provisioning.fleet_schemas import (
    COMMAND_RESULT_PATH,
    HEALTHZ_PATH,
    HEARTBEAT_PATH,
    JSON_TYPE,
    MAX_HEARTBEAT_BODY,
    MAX_RESULT_BODY,
    CommandResult,
    Heartbeat,
    compact_json,
    dump_model,
)
from provisioning.hub.auth import Device, authenticate
from provisioning.hub.commands import CommandError
from provisioning.hub.errors import HubError
from provisioning.hub.fleet import FleetService
from provisioning.hub.tls import peer_certificate

router = APIRouter()


async def device_of(request: Request) -> Device:
    """The calling kiosk (mutual TLS), or 401/403 as for every device route."""
    hub = request.app.state.hub
    return await run_in_threadpool(
        authenticate, peer_certificate(request.scope), hub.ca_cert, hub.db.certificates
    )


async def read_json_body(request: Request, limit: int) -> bytes:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != JSON_TYPE:
        raise HubError(schemas.E_UNSUPPORTED_MEDIA, f"expected {JSON_TYPE}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HubError(schemas.E_BAD_REQUEST, f"body over {limit} bytes")
    return body


@router.post(HEARTBEAT_PATH)
async def heartbeat(request: Request) -> Response:
    hub = request.app.state.hub
    fleet: FleetService = request.app.state.fleet
    cert = peer_certificate(request.scope)
    if cert is None:  # refuse before reading a body from a caller without a certificate
        raise HubError(schemas.E_CERT_REQUIRED)
    body = await read_json_body(request, MAX_HEARTBEAT_BODY)

    def authenticate_and_record() -> bytes:
        # One worker-thread hop per heartbeat (the hot path of 3,300 kiosks): who is
        # calling, then validate and record; last_seen_at is written with the heartbeat
        # (one commit, not two).
        device = authenticate(cert, hub.ca_cert, hub.db.certificates, touch=False)
        try:
            hb = Heartbeat.model_validate_json(body)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err.get("loc", ()))
            raise HubError(schemas.E_BAD_REQUEST, f"heartbeat {where}: {err.get('msg')}") from None
        return dump_model(fleet.heartbeat(device.kiosk_id, hb))

    return Response(await run_in_threadpool(authenticate_and_record), media_type=JSON_TYPE)


@router.post(COMMAND_RESULT_PATH)
async def command_result(request: Request) -> Response:
    device = await device_of(request)
    command_id = request.path_params["id"]
    body = await read_json_body(request, MAX_RESULT_BODY)
    try:
        result = CommandResult.model_validate_json(body)
    except ValidationError:
        raise HubError(schemas.E_BAD_REQUEST, "command result") from None
    fleet: FleetService = request.app.state.fleet
    try:
        known = await run_in_threadpool(
            fleet.commands.record_result, device.kiosk_id, command_id, result
        )
    except CommandError as exc:
        raise HubError(schemas.E_BAD_REQUEST, exc.message_en) from None
    if not known:
        raise HubError(schemas.E_NOT_FOUND, "no such command for this kiosk")
    return Response(status_code=204)


@router.get(HEALTHZ_PATH)
async def healthz(request: Request) -> Response:
    fleet: FleetService = request.app.state.fleet
    ok, report = await run_in_threadpool(fleet.healthz)
    return Response(
        compact_json(report),
        status_code=200 if ok else 503,
        media_type=JSON_TYPE,
        headers={"Cache-Control": "no-store"},
    )
