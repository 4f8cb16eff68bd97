"""Serve the hub with uvicorn over mutual TLS (``sohoa hub run``, ``python -m provisioning.hub``).

Client certificates are optional at the TLS layer (enrollment must work without one) and
verified against the fleet CA when presented; the routes that need one demand it.
"""

from __future__ import annotations

import argparse
import gc
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


#: The collector's thresholds on a hub (CPython's default is 700, 10, 10); see
#: :func:`tune_collector`.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_collector() -> None:
    """Make the garbage collector's full collections rare and shorter on a busy hub.

    A full collection holds the interpreter (the event loop and every worker thread) while
    it walks every tracked object: on a hub serving 3,300 kept-alive kiosks that is some
    200,000 objects of connection state, 150 to 300 ms, and every heartbeat in flight
    waits it out (the p99 of ``bench/fleet.py``). Two changes:

    - what start-up made (modules, the app, its routes and models) lives as long as the
      process, so it is frozen out of every later collection;
    - young collections run after 50,000 allocations instead of 700, so far fewer
      requests are in flight when one runs and far fewer of their objects get promoted to
      the old generation, whose growth is what triggers a full collection. Young garbage
      waits a little longer (a few megabytes at most); it is still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serve(settings: HubSettings) -> None:
    config, hub = uvicorn_config(settings)
    config.load()  # import and build the app now, so that freezing covers it
    tune_collector()
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
