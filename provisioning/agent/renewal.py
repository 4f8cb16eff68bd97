"""Certificate renewal and re-keying: the one place the kiosk asks for a new certificate.

EST ``simplereenroll`` over mutual TLS once ``[uplink] renew_fraction`` (two thirds) of the
certificate's lifetime has passed; a failed attempt waits ``[agent] backoff_max_s`` before
the next, and the current certificate is used until it expires. Re-keying (a remote command,
or ``sohoa agent rekey``) asks for a certificate on a key generated now; the swap of key and
certificate on disk survives a power cut (:func:`firmware.uplink.identity.renew`). The
uplink worker only reads the identity, and reconnects when the serial changed.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from firmware.uplink.client import UplinkError
from firmware.uplink.identity import Identity, renew, renewal_due

if TYPE_CHECKING:
    from collections.abc import Callable

    from firmware.config import Settings

log = logging.getLogger("sohoa.agent.renewal")


class Renewal:
    def __init__(self, settings: Settings, audit: Callable[..., object] | None = None):
        self.settings = settings
        self.audit = audit
        self.retry_at: dt.datetime | None = None

    def renew_if_due(self, ident: Identity, now: dt.datetime) -> Identity:
        """A renewed identity when due (and not waiting after a failure), else ``ident``.
        Raises :class:`UplinkError` when the renewal failed (the caller reports it)."""
        if ident.expired(now) or not renewal_due(ident, self.settings.uplink.renew_fraction, now):
            return ident
        if self.retry_at is not None and now < self.retry_at:
            return ident
        try:
            fresh = self._reenroll(ident, new_key=False)
        except UplinkError:
            self.retry_at = now + dt.timedelta(seconds=self.settings.agent.backoff_max_s)
            raise
        self.retry_at = None
        log.info("certificate renewed until %s", fresh.not_after)
        return fresh

    def rekey(self, ident: Identity) -> Identity:
        fresh = self._reenroll(ident, new_key=True)
        log.info("re-keyed; new certificate until %s", fresh.not_after)
        return fresh

    def _reenroll(self, ident: Identity, *, new_key: bool) -> Identity:
        up = self.settings.uplink
        return renew(
            ident,
            self.settings.kiosk_id,
            hub_url=up.hub_url or None,
            audit=self.audit,
            timeout=up.io_timeout_s,
            new_key=new_key,
        )
