"""The agent's connection to the hub: one httpx client over the kiosk's mutual-TLS identity.

Kept open between polls (the hub keeps idle connections longer than a heartbeat interval),
so an unchanged poll costs one small request instead of a TLS handshake with two
certificates. Rebuilt when the identity on disk changes (renewal, re-key, another hub URL).
Every other duty of the agent (signed configuration, command results, log bundles) uses
:meth:`HubLink.client` too, so there is one place that knows how the agent reaches the hub.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
from pydantic import ValidationError

from firmware.uplink.client import UplinkError, hub_error, transport_error
from firmware.uplink.identity import Identity
from provisioning.fleet_schemas import (
    HEARTBEAT_PATH,
    JSON_TYPE,
    Heartbeat,
    HeartbeatAnswer,
    dump_model,
)

#: How long the agent keeps an idle connection to the hub. httpx's default (5 s) closed it
#: between two heartbeats, so every heartbeat paid a full TLS handshake with two
#: certificates (~3 KB on a 256 kbit/s link, and most of the hub's CPU per heartbeat in
#: ``bench/fleet.py``). Longer than the longest interval the hub may ask for (60 s stretched
#: up to 10 times); the hub closes idle connections itself after its own keep-alive
#: (``heartbeat_s`` + 15 s), and httpx drops a connection the hub closed before reusing it.
KEEPALIVE_S = 660.0

#: The client's connection limits: httpx's defaults but for the keep-alive.
LIMITS = httpx.Limits(
    max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_S
)


class HubLink:
    def __init__(
        self,
        *,
        hub_url: str = "",
        connect_timeout_s: float = 15,
        io_timeout_s: float = 60,
        transport: httpx.BaseTransport | None = None,
    ):
        self.hub_url_override = hub_url
        self.timeout = httpx.Timeout(io_timeout_s, connect=connect_timeout_s)
        self.transport = transport
        self._client: httpx.Client | None = None
        self._key: tuple[str, int] | None = None

    def client(self, ident: Identity) -> httpx.Client:
        hub = self.hub_url_override or ident.hub_url
        key = (hub, ident.cert.serial_number)
        if self._client is None or self._key != key:
            self.close()
            kw: dict[str, Any] = {"transport": self.transport} if self.transport else {}
            self._client = httpx.Client(
                base_url=hub,
                verify=ident.ssl_context(),
                timeout=self.timeout,
                headers={"User-Agent": "sohoa-agent"},
                limits=LIMITS,
                **kw,
            )
            self._key = key
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client, self._key = None, None

    def heartbeat(self, ident: Identity, hb: Heartbeat) -> tuple[HeartbeatAnswer, float]:
        """Send one heartbeat; the answer and the kiosk's clock offset (kiosk minus hub, s),
        measured at the middle of the round trip."""
        sent = time.time()
        try:
            resp = self.client(ident).post(
                HEARTBEAT_PATH, content=dump_model(hb), headers={"Content-Type": JSON_TYPE}
            )
        except httpx.HTTPError as exc:
            self.close()
            raise transport_error(exc, "sending the heartbeat") from exc
        received = time.time()
        if resp.status_code != 200:
            raise hub_error(resp, "sending the heartbeat")
        try:
            answer = HeartbeatAnswer.model_validate_json(resp.content)
            hub_now = dt.datetime.fromisoformat(answer.now).timestamp()
        except (ValidationError, ValueError) as exc:
            raise UplinkError(
                "hub_protocol",
                f"The hub's heartbeat answer is malformed ({exc.__class__.__name__}).",
                "Trung tâm trả lời nhịp báo không đúng định dạng.",
            ) from exc
        offset = (sent + received) / 2 - hub_now
        return answer, offset
