"""Enrollment routes in the shape of EST (RFC 7030): cacerts, simpleenroll, simplereenroll.

Bodies are base64 of DER (PKCS#7 certs-only out, PKCS#10 in), as EST specifies, so standard
EST clients and ``openssl`` can talk to the hub as well as the kiosk.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from provisioning import schemas
from provisioning.hub.auth import authenticate
from provisioning.hub.errors import HubError
from provisioning.hub.service import HubService
from provisioning.hub.tls import peer_certificate

MAX_CSR_BODY = 16 * 1024

router = APIRouter()


def _pkcs7_response(body: bytes) -> Response:
    return Response(
        body,
        media_type=schemas.PKCS7_CONTENT_TYPE,
        headers={"Content-Transfer-Encoding": "base64"},
    )


async def _read_csr(request: Request):  # type: ignore[no-untyped-def]
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != schemas.PKCS10_CONTENT_TYPE:
        raise HubError(schemas.E_UNSUPPORTED_MEDIA, f"expected {schemas.PKCS10_CONTENT_TYPE}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_CSR_BODY:
            raise HubError(schemas.E_CSR_INVALID, "request too large")
    try:
        return schemas.load_csr_body(body)
    except ValueError as exc:
        raise HubError(schemas.E_CSR_INVALID, str(exc)) from None


@router.get(schemas.EST_CACERTS)
def cacerts(request: Request) -> Response:
    hub: HubService = request.app.state.hub
    return _pkcs7_response(schemas.pkcs7_certs_body([hub.ca_cert]))


@router.post(schemas.EST_SIMPLEENROLL)
async def simpleenroll(request: Request) -> Response:
    hub: HubService = request.app.state.hub
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HubError(schemas.E_TOKEN_INVALID, "Authorization: Bearer <token> required")
    csr = await _read_csr(request)
    cert = await run_in_threadpool(hub.enroll, token.strip(), csr)
    return _pkcs7_response(schemas.pkcs7_certs_body([cert]))


@router.post(schemas.EST_SIMPLEREENROLL)
async def simplereenroll(request: Request) -> Response:
    hub: HubService = request.app.state.hub
    device = await run_in_threadpool(
        authenticate, peer_certificate(request.scope), hub.ca_cert, hub.db
    )
    csr = await _read_csr(request)
    cert = await run_in_threadpool(hub.reenroll, device.kiosk_id, device.serial, csr)
    return _pkcs7_response(schemas.pkcs7_certs_body([cert]))
