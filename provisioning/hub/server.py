"""Serve the hub with uvicorn over mutual TLS (``sohoa hub run``, ``python -m provisioning.hub``).

Client certificates are optional at the TLS layer (enrollment must work without one) and
verified against the fleet CA when presented; the routes that need one demand it.
"""

from __future__ import annotations

import argparse
import logging
import ssl
import sys
from pathlib import Path
from typing import Any

import uvicorn

from provisioning.hub.app import create_app
from provisioning.hub.config import HubConfigError, HubSettings, load_hub_settings
from provisioning.hub.enroll_limit import DbEnrollLimiter, EnrollLimiter
from provisioning.hub.service import HubService
from provisioning.hub.storage import ObjectStore
from provisioning.hub.tls import mtls_protocol, ssl_context_factory


def uvicorn_config(
    settings: HubSettings,
    store: ObjectStore | None = None,
    *,
    enroll_limiter: EnrollLimiter | DbEnrollLimiter | None = None,
    **kw: Any,
) -> tuple[uvicorn.Config, HubService]:
    """The uvicorn configuration of a hub (and the service it serves).

    ``X-Forwarded-For`` is believed only from ``trusted_proxies`` (hub.toml; none by
    default, so the TCP peer is the client). uvicorn's own default would believe it from
    127.0.0.1 and ::1 (or whatever ``FORWARDED_ALLOW_IPS`` says), which let any local
    process, or a proxy that passes the header through, claim any address and step out of
    the enrollment limit. Connections whose headers do not complete within
    ``header_timeout_s`` are closed (:func:`~provisioning.hub.tls.mtls_protocol`).
    """
    hub = HubService(settings, store=store)
    kw.setdefault("log_level", "info")
    config = uvicorn.Config(
        create_app(hub, enroll_limiter=enroll_limiter),
        host=settings.host,
        port=settings.port,
        http=mtls_protocol(settings.header_timeout_s),
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        ws="none",
        lifespan="on",  # the app's lifespan runs the periodic upload-expiry sweep
        ssl_certfile=str(settings.server_cert_path),
        ssl_keyfile=str(settings.server_key_path),
        ssl_ca_certs=str(settings.ca_cert_path),
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        ssl_context_factory=ssl_context_factory,
        # Longer than a heartbeat interval: an unchanged poll then reuses its connection
        # instead of paying a TLS handshake (~3 KB) every minute on a 256 kbit/s link.
        timeout_keep_alive=int(max(30, settings.fleet.heartbeat_s + 15)),
        **kw,
    )
    return config, hub


def serve(settings: HubSettings) -> None:
    config, hub = uvicorn_config(settings)
    try:
        uvicorn.Server(config).run()
    finally:
        hub.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning.hub", description=__doc__)
    parser.add_argument("--dir", required=True, type=Path, help="hub directory (hub init)")
    parser.add_argument("--host", help="listen address (default from hub.toml)")
    parser.add_argument("--port", type=int, help="HTTPS port (default from hub.toml)")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        settings = load_hub_settings(args.dir, **overrides)
    except HubConfigError as exc:
        print(f"Cấu hình máy chủ sai / hub configuration error: {exc}", file=sys.stderr)
        return 2
    serve(settings)
    return 0
