"""The WAN uplink: enrollment with the fleet hub, the outbox and the background uploader.

Modules: :mod:`qr` (the ``sohoa-enroll:`` token QR), :mod:`identity` (device TLS key and
certificate, enrollment and renewal), :mod:`client` (tus 1.0 client over mutual TLS),
:mod:`outbox` (the catalog-backed queue), :mod:`worker` (the background uploader),
:mod:`status` (what the status bar and ``sohoa queue`` say), :mod:`window` (upload hours).
The wire contract is ``docs/uplink-protocol.md``.
"""
