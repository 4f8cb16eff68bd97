"""Mutual TLS under uvicorn: the client certificate of each connection in the ASGI scope.

Uvicorn verifies a client certificate against the fleet CA (``ssl_cert_reqs=CERT_OPTIONAL``,
``ssl_ca_certs``) but does not hand it to the application (the ASGI TLS extension is not in
its releases yet: Kludex/uvicorn PRs #1119, #3043, #3132). :class:`MTLSH11Protocol` is
uvicorn's own h11 protocol with one addition: once the handshake is done it reads the peer
certificate from the connection's ``ssl_object`` and puts it, for every request on that
connection, into ``scope["extensions"]["tls"]`` in the shape of the ASGI TLS extension
(``client_cert_chain`` as PEM, leaf first). The application only reads that standard key,
so a server that implements the extension natively (hypercorn variants, a future uvicorn)
needs no change in the app.

Expiry is deliberately not checked during the handshake (``X509_V_FLAG_NO_CHECK_TIME``): an
expired kiosk certificate must get a readable 401 ``cert_invalid`` from the app, which checks
the validity period on every request, instead of an opaque TLS alert. The chain itself must
still lead to the fleet CA, or the handshake fails.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any

from cryptography import x509
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("sohoa.hub")

X509_V_FLAG_NO_CHECK_TIME = 0x200000  # OpenSSL x509_vfy.h; not exported by Python's ssl


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """The ASGI TLS extension entry for a connection, or None when it is not TLS."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
        "tls_version_name": ssl_object.version(),
    }


class MTLSH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, exposing the client certificate as the ASGI TLS extension,
    and closing connections whose request headers never complete.

    uvicorn times out idle keep-alive connections, but not a connection that opened (or
    began a request) and then sends its request line and headers slowly or never: such
    connections pile up until the hub runs out of file descriptors (slowloris). The header
    timer starts when the connection is made and when the first byte of a later request
    arrives; it is not restarted by further bytes, so trickling one byte at a time does
    not keep a connection alive; it stops once the headers are complete (a request cycle
    exists). Slow bodies are not cut here: tus uploads on weak links are slow by nature
    and resume anyway.
    """

    #: Seconds for a request's line and headers; set per server by :func:`mtls_protocol`.
    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()
        tls = tls_extension(transport)
        if tls is None:
            return
        inner = self.app

        async def app_with_tls(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})["tls"] = tls
            await inner(scope, keep_body_on_disconnect(receive), send)

        self.app = app_with_tls

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_headers():
            self._arm_header_timer()  # a new request began: its headers have the bound
        super().data_received(data)
        if not self._waiting_for_headers():
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Between requests uvicorn's keep-alive timeout applies; the header timer starts
        # again with the next request's first byte (data_received) or a pipelined one.
        if self._waiting_for_headers():
            self._disarm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            log.info(
                "closing connection from %s: request headers not complete within %g s",
                self.client[0] if self.client else "?",
                self.header_timeout,
            )
            self.transport.close()


def mtls_protocol(header_timeout: float) -> type[MTLSH11Protocol]:
    """The protocol class for one server, with its header timeout (uvicorn instantiates
    ``http=`` itself, so the setting travels as a class attribute)."""
    return type("MTLSH11Protocol", (MTLSH11Protocol,), {"header_timeout": float(header_timeout)})


def keep_body_on_disconnect(receive: Any) -> Any:
    """Hand the app body bytes that arrived before a disconnect instead of dropping them.

    uvicorn's h11 cycle answers ``http.disconnect`` as soon as the connection is lost, even
    when body bytes it already received are still buffered; tus promises that a cut upload
    keeps whatever arrived, so those bytes are delivered first. Relies on the cycle's
    ``body``/``disconnected`` attributes and falls back to plain ``receive`` without them.
    """
    cycle = getattr(receive, "__self__", None)
    if cycle is None or not hasattr(cycle, "body") or not hasattr(cycle, "disconnected"):
        return receive

    def take_buffered() -> dict[str, Any] | None:
        if not cycle.body:
            return None
        body, cycle.body = cycle.body, b""
        return {"type": "http.request", "body": body, "more_body": True}

    async def receive_keeping_body() -> Any:
        if cycle.disconnected and (buffered := take_buffered()) is not None:
            return buffered
        message = await receive()
        if message["type"] == "http.disconnect" and (buffered := take_buffered()) is not None:
            return buffered
        return message

    return receive_keeping_body


def ssl_context_factory(
    config: Config, default_factory: Callable[[], ssl.SSLContext]
) -> ssl.SSLContext:
    """uvicorn's context (cert, key, CA, CERT_OPTIONAL) without the handshake's time check."""
    ctx = default_factory()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_flags = ctx.verify_flags | X509_V_FLAG_NO_CHECK_TIME
    return ctx


def peer_certificate(scope: Any) -> x509.Certificate | None:
    """The verified client certificate of a request, from the ASGI TLS extension."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    return x509.load_pem_x509_certificate(chain[0].encode("ascii"))
