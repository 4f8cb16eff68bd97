"""Enrollment routes in the shape of EST (RFC 7030): cacerts, simpleenroll, simplereenroll.

Bodies are base64 of DER (PKCS#7 certs-only out, PKCS#10 in), as EST specifies, so standard
EST clients and ``openssl`` can talk to the hub as well as the kiosk.

``simpleenroll``, the one route open to callers without a device certificate, is guarded by
the limit on failed attempts per client address (:mod:`provisioning.hub.enroll_limit`,
``[enroll]`` in hub.toml). What counts as a failure: every refusal before the token was
found usable (no bearer token, wrong Content-Type, oversized body, unknown/used/expired
token). A refusal of a request that carried a usable token (``csr_invalid``,
``device_exists``, ``device_revoked_enroll``) does not count: its sender holds a secret IT handed out, its mistakes are
an installer's, and that token can enroll one device at most. Successes never count.
"""

from __future__ import annotations

import logging
from typing import NoReturn

from cryptography import x509
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from provisioning import schemas
from provisioning.hub.auth import authenticate
from provisioning.hub.enroll_limit import UNKNOWN_CLIENT, DbEnrollLimiter, EnrollLimiter, Verdict
from provisioning.hub.errors import E_TOO_MANY_ATTEMPTS, HubError
from provisioning.hub.service import HubService
from provisioning.hub.tls import peer_certificate

MAX_CSR_BODY = 16 * 1024

#: events.kind recorded once per block of an address (see ``enroll_limit``).
EVENT_ENROLL_BLOCKED = "enroll_blocked"

log = logging.getLogger("sohoa.hub")

router = APIRouter()


def _pkcs7_response(body: bytes) -> Response:
    return Response(
        body,
        media_type=schemas.PKCS7_CONTENT_TYPE,
        headers={"Content-Transfer-Encoding": "base64"},
    )


async def _read_csr_body(request: Request) -> bytes:
    """The raw (base64 DER) body of a CSR request, checked for type and size, not parsed."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != schemas.PKCS10_CONTENT_TYPE:
        raise HubError(schemas.E_UNSUPPORTED_MEDIA, f"expected {schemas.PKCS10_CONTENT_TYPE}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_CSR_BODY:
            raise HubError(schemas.E_CSR_INVALID, "request too large")
    return body


async def _read_csr(request: Request) -> x509.CertificateSigningRequest:
    body = await _read_csr_body(request)
    try:
        return schemas.load_csr_body(body)
    except ValueError as exc:
        raise HubError(schemas.E_CSR_INVALID, str(exc)) from None


def client_address(request: Request) -> str:
    """The address the enrollment limit counts against: the ASGI ``client`` host.

    Behind a load balancer this is the balancer unless it is listed in ``trusted_proxies``
    (then uvicorn takes the address from its ``X-Forwarded-For``; from anyone else that
    header is ignored). A TLS-passthrough balancer (what mutual TLS needs) cannot add that
    header at all.
    """
    client = request.scope.get("client")
    return str(client[0]) if client and client[0] else UNKNOWN_CLIENT


async def _refuse(request: Request, hub: HubService, address: str, verdict: Verdict) -> NoReturn:
    """Answer 429; on the first refusal of a block, tell IT (event + warning) first."""
    if verdict.new_block:
        limiter: EnrollLimiter | DbEnrollLimiter = request.app.state.enroll_limiter
        log.warning(
            "enrollment from %s blocked for %d s after %d failed attempts within %g s",
            address,
            verdict.retry_after,
            verdict.failures,
            limiter.window_s,
        )
        try:
            await run_in_threadpool(
                hub.db.events.event,
                EVENT_ENROLL_BLOCKED,
                None,
                address=address,
                failures=verdict.failures,
                window_s=limiter.window_s,
                blocked_s=verdict.retry_after,
            )
        except Exception:  # the refusal must not depend on the audit write
            log.exception("could not record %s for %s", EVENT_ENROLL_BLOCKED, address)
    minutes = max(1, -(-verdict.retry_after // 60))
    raise HubError(
        E_TOO_MANY_ATTEMPTS,
        f"retry after {verdict.retry_after} s",
        detail_vi=f"thử lại sau khoảng {minutes} phút",
        headers={"Retry-After": str(verdict.retry_after)},
    )


@router.get(schemas.EST_CACERTS)
def cacerts(request: Request) -> Response:
    hub: HubService = request.app.state.hub
    return _pkcs7_response(schemas.pkcs7_certs_body([hub.ca_cert]))


@router.post(schemas.EST_SIMPLEENROLL)
async def simpleenroll(request: Request) -> Response:
    hub: HubService = request.app.state.hub
    limiter: EnrollLimiter | DbEnrollLimiter = request.app.state.enroll_limiter
    address = client_address(request)
    # Before any work on the request: no body read, no CSR parsed, no token looked up.
    verdict = await run_in_threadpool(limiter.check, address)
    if not verdict.allowed:
        await _refuse(request, hub, address, verdict)
    try:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HubError(schemas.E_TOKEN_INVALID, "Authorization: Bearer <token> required")
        body = await _read_csr_body(request)
    except HubError:
        await run_in_threadpool(limiter.record_failure, address)
        raise
    try:
        # The service checks the token before it parses the CSR (see HubService.enroll).
        cert = await run_in_threadpool(hub.enroll, token.strip(), body)
    except HubError as exc:
        if exc.code == schemas.E_TOKEN_INVALID:
            await run_in_threadpool(limiter.record_failure, address)
        raise
    return _pkcs7_response(schemas.pkcs7_certs_body([cert]))


@router.post(schemas.EST_SIMPLEREENROLL)
async def simplereenroll(request: Request) -> Response:
    hub: HubService = request.app.state.hub
    device = await run_in_threadpool(
        authenticate, peer_certificate(request.scope), hub.ca_cert, hub.db.certificates
    )
    csr = await _read_csr(request)
    cert = await run_in_threadpool(hub.reenroll, device, csr)
    return _pkcs7_response(schemas.pkcs7_certs_body([cert]))
