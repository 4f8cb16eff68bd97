"""The one rule for a hub address: ``https://`` with a host, nothing else.

Documents travel over the Party WAN, which has no network-wide encryption, so a hub URL
that is not https would send sealed PDFs (and the device certificate's requests) in clear.
Every place that takes a hub address asks :func:`https_problem`: configuration
validation (``uplink.hub_url``), the enrollment ticket (:func:`firmware.uplink.qr.check_hub_url`)
and both HTTP clients (:func:`firmware.uplink.client.require_https`, before any connection).
"""

from __future__ import annotations

from urllib.parse import urlsplit


def https_problem(url: str) -> str | None:
    """Why ``url`` cannot be a hub address, in English; None when it is acceptable."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError as exc:  # e.g. an unbalanced IPv6 bracket
        return f"the hub address {url!r} is not a URL ({exc})"
    if parts.scheme.lower() != "https":
        return f"the hub address {url!r} must start with https:// (documents never travel in clear)"
    if not host:
        return f"the hub address {url!r} has no host name"
    return None
