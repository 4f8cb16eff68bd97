"""The fleet hub: enrollment of kiosks (EST-shaped) and resumable document ingest (tus 1.0).

``sohoa hub init`` creates a hub directory (fleet CA, TLS and receipt-signing certificates,
``hub.toml``); ``sohoa hub run`` serves it with uvicorn over mutual TLS. The wire contract is
``docs/uplink-protocol.md``; the only kiosk module imported here is ``provisioning.schemas``.

Modules: ``config`` (hub.toml), ``pki`` (keys and certificates), ``bootstrap`` (hub init),
``db`` (SQLAlchemy Core tables and queries), ``storage`` (object stores), ``spool`` (partial
uploads on disk), ``expiry`` (abandoned uploads expire), ``receipts`` (signing), ``tls``
(peer certificates into the ASGI scope), ``auth`` (device identity per request), ``est`` and
``tus`` (the routes), ``app`` and ``server`` (assembly and uvicorn).
"""
