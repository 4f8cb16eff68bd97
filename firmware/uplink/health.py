"""Is the uplink really working? One cheap, authenticated call to the hub (issue 16: after
the kiosk was revoked on the hub, ``sohoa doctor`` and the maintenance checks still showed
everything ✓, because nothing asked the hub).

``OPTIONS <hub>/files/`` is the tus discovery request: over mutual TLS it passes the hub's
device check (certificate issued by the fleet CA, not expired, not revoked) and changes
nothing, so asking it costs one round trip and no state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import httpx

from firmware.uplink.client import hub_error, transport_error
from firmware.uplink.identity import Identity
from provisioning.schemas import FILES_PATH, TUS_VERSION

PROBE_TIMEOUT_S = 10


@dataclass(frozen=True)
class UplinkHealth:
    ok: bool
    code: str  # ok, not_enrolled, certificate_expired, device_revoked, hub_unreachable, ...
    message_en: str
    message_vi: str


def probe_hub(
    ident: Identity, hub_url: str | None = None, timeout: float = PROBE_TIMEOUT_S
) -> UplinkHealth:
    """Ask the hub whether it accepts this kiosk now."""
    if ident.not_after < dt.datetime.now(dt.UTC):
        return UplinkHealth(
            False,
            "certificate_expired",
            f"the kiosk's certificate expired on {ident.not_after:%d/%m/%Y}; enroll it again",
            f"Chứng thư của máy đã hết hạn ngày {ident.not_after:%d/%m/%Y}; cần đăng ký lại.",
        )
    url = (hub_url or ident.hub_url).rstrip("/")
    try:
        with httpx.Client(verify=ident.ssl_context(), timeout=timeout) as http:
            resp = http.options(url + FILES_PATH, headers={"Tus-Resumable": TUS_VERSION})
    except httpx.HTTPError as exc:
        err = transport_error(exc, "checking the hub")
        return UplinkHealth(False, "hub_unreachable", err.message_en, err.message_vi)
    if resp.status_code in (200, 204):
        return UplinkHealth(
            True, "ok", f"the hub {url} accepts this kiosk", f"Trung tâm {url} chấp nhận máy này"
        )
    err = hub_error(resp, "checking the hub")
    return UplinkHealth(False, err.code, err.message_en, err.message_vi)
