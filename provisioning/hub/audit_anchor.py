"""The kiosks' audit-chain anchors at the hub: what each delivery reports, and the read-back.

Every delivery's ``POST /files/`` carries the kiosk's signed audit head in
``Upload-Metadata`` (:data:`provisioning.schemas.AUDIT_METADATA`). The hub cannot verify the
signature (the key is the kiosk's document-signing key, not its TLS key), but it keeps the
head: the newest one per enrollment of a kiosk is its anchor, and a later report with a
lower ``seq`` (records removed) or a different head for a record it knows (rewritten and
re-hashed) is an ``audit_head_backwards`` / ``audit_fork`` event for IT
(:meth:`provisioning.hub.audit_anchors_db.AuditAnchorDB.record_audit_anchor`). The delivery
itself goes on: documents are never held back because the kiosk's log looks wrong; the
event is the alarm.

``GET /audit/anchor`` (mutual TLS) gives a kiosk its own anchor back, so ``sohoa audit
verify --hub`` can check its chain against a copy it cannot edit.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from provisioning import schemas
from provisioning.hub.auth import authenticate
from provisioning.hub.errors import HubError
from provisioning.hub.service import HubService
from provisioning.hub.tls import peer_certificate

log = logging.getLogger("sohoa.hub")

router = APIRouter()

_SEQ = re.compile(r"[0-9]{1,18}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_AT = re.compile(r"[0-9T:.+\-Z]{10,40}")
MAX_SIG = 200  # base64 of a DER ECDSA P-256 signature is at most 96 characters


def parse_report(meta: dict[str, str]) -> dict[str, Any] | None:
    """The audit anchor in a delivery's metadata, checked; None when it carries none (a
    kiosk from before the anchor). A malformed one is ``400 bad_request`` naming the key."""
    if not any(k in meta for k in schemas.AUDIT_METADATA):
        return None

    def bad(key: str) -> HubError:
        return HubError(schemas.E_BAD_REQUEST, f"Upload-Metadata {key} is malformed or missing")

    seq, head, at = meta.get("audit_seq", ""), meta.get("audit_head", ""), meta.get("audit_at", "")
    sig, signer = meta.get("audit_sig", ""), meta.get("audit_signer", "")
    if not _SEQ.fullmatch(seq) or int(seq) < 1:
        raise bad("audit_seq")
    if not _HEX64.fullmatch(head):
        raise bad("audit_head")
    if not _AT.fullmatch(at):
        raise bad("audit_at")
    try:
        if not sig or len(sig) > MAX_SIG:
            raise ValueError
        base64.b64decode(sig, validate=True)
    except (ValueError, binascii.Error):
        raise bad("audit_sig") from None
    if not _HEX64.fullmatch(signer):
        raise bad("audit_signer")
    report: dict[str, Any] = {"seq": int(seq), "head": head, "at": at, "sig": sig, "signer": signer}
    prev_seq, prev_head = meta.get("audit_prev_seq"), meta.get("audit_prev_head")
    if prev_seq is not None or prev_head is not None:
        if prev_seq is None or not _SEQ.fullmatch(prev_seq):
            raise bad("audit_prev_seq")
        if prev_head is None or not _HEX64.fullmatch(prev_head):
            raise bad("audit_prev_head")
        report.update(prev_seq=int(prev_seq), prev_head=prev_head)
    return report


def record_report(hub: HubService, kiosk_id: str, enrollment_id: str | None, report: dict) -> str:
    """Store/compare one report (blocking: called from a worker thread); log the alarms."""
    verdict = hub.db.audit_anchors.record_audit_anchor(kiosk_id, enrollment_id, report)
    if verdict in ("backwards", "fork"):
        log.warning(
            "audit chain of %s reported %s at record %d (head %s)",
            kiosk_id,
            "going backwards" if verdict == "backwards" else "a fork",
            report["seq"],
            report["head"],
        )
    return verdict


@router.get(schemas.AUDIT_ANCHOR_PATH)
async def anchor(request: Request) -> JSONResponse:
    hub: HubService = request.app.state.hub
    device = await run_in_threadpool(
        authenticate, peer_certificate(request.scope), hub.ca_cert, hub.db.certificates
    )
    row = await run_in_threadpool(
        hub.db.audit_anchors.audit_anchor, device.kiosk_id, device.enrollment_id
    )
    if row is None:
        raise HubError(schemas.E_NOT_FOUND, "no audit anchor for this kiosk yet")
    return JSONResponse(
        {
            "seq": int(row["seq"]),
            "head": row["head"],
            "at": row["at"],
            "sig": row["sig"],
            "signer": row["signer"],
            "received_at": row["received_at"].isoformat(),
        }
    )
