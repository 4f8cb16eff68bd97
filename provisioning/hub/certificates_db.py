"""A kiosk's certificates after its enrollment: renewal, the first use of a renewed one, and
the state of a presented certificate (what every mutual-TLS request is checked against).

A kiosk holds at most its live certificate and one pending renewal; the first request made
with the pending one retires every other, in one transaction, so two racing requests
cannot leave two live certificates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from provisioning.hub.db import (
    Database,
    certificates,
    devices,
    insert_certificate,
    now_utc,
    record_event,
)
from provisioning.hub.devices_db import DeviceDB


class RenewalLimited(Exception):
    """Too many certificates issued to this kiosk within the renewal window."""

    def __init__(self, retry_after: int):
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class CertState:
    """What the hub knows about one presented certificate.

    ``status``: ``ok``, ``unknown`` (never issued to this device), ``revoked`` (the device
    is revoked) or ``superseded`` (a newer certificate of the same device took over).
    ``pending``: issued by a renewal and not used until this request.
    """

    status: str
    enrollment_id: str | None = None
    pending: bool = False


#: How stale ``devices.last_seen_at`` may get before a request writes it again.
LAST_SEEN_EVERY = timedelta(minutes=1)

#: Asked on every authenticated request, so built once (see ``fleet_db``'s statements).
_STATE_OF = (
    sa.select(
        certificates.c.revoked_at,
        certificates.c.revoked_reason,
        certificates.c.activated_at,
        certificates.c.enrollment_id,
        devices.c.status,
        devices.c.last_seen_at,
    )
    .select_from(certificates.join(devices))
    .where(
        certificates.c.serial == sa.bindparam("b_serial"),
        certificates.c.kiosk_id == sa.bindparam("b_kiosk_id"),
    )
)


class CertificateDB:
    """Reads and writes of the ``certificates`` rows of enrolled kiosks (one transaction per
    method); ``device_db`` records when a kiosk was last seen."""

    def __init__(self, db: Database, device_db: DeviceDB):
        self.db = db
        self.device_db = device_db

    def reenroll(
        self,
        kiosk_id: str,
        serial: str,
        not_after: datetime,
        old_serial: str,
        *,
        max_issued: int | None = None,
        window: timedelta | None = None,
    ) -> None:
        """Record a renewed certificate, pending until the kiosk first uses it.

        The certificate that asked keeps working until then (the kiosk may never have
        received the answer); a pending certificate from an earlier renewal that was never
        used is revoked now, so a kiosk holds at most its live certificate and one pending.
        ``max_issued`` certificates per ``window`` (counting the enrollment's) are allowed;
        beyond that :class:`RenewalLimited` says when the next one may be asked for.
        """
        now = now_utc()
        with self.db.tx() as conn:
            if max_issued is not None and window is not None:
                recent = conn.execute(
                    sa.select(certificates.c.issued_at)
                    .where(
                        certificates.c.kiosk_id == kiosk_id,
                        certificates.c.issued_at > now - window,
                    )
                    .order_by(certificates.c.issued_at)
                ).all()
                if len(recent) >= max_issued:
                    oldest = recent[len(recent) - max_issued].issued_at
                    wait = (oldest + window - now).total_seconds()
                    raise RenewalLimited(max(1, int(wait) + 1))
            row = conn.execute(
                sa.select(certificates.c.enrollment_id).where(
                    certificates.c.serial == old_serial, certificates.c.kiosk_id == kiosk_id
                )
            ).one_or_none()
            if row is None:  # not issued through a request (tests, imports): the newest
                row = conn.execute(
                    sa.select(certificates.c.enrollment_id)
                    .where(certificates.c.kiosk_id == kiosk_id)
                    .order_by(certificates.c.issued_at.desc())
                    .limit(1)
                ).one_or_none()
            enrollment_id = row.enrollment_id if row is not None else None
            unused = conn.execute(
                certificates.update()
                .where(
                    certificates.c.kiosk_id == kiosk_id,
                    certificates.c.activated_at.is_(None),
                    certificates.c.revoked_at.is_(None),
                )
                .values(revoked_at=now, revoked_reason="superseded_unused")
                .returning(certificates.c.serial)
            ).all()
            insert_certificate(
                conn,
                serial=serial,
                kiosk_id=kiosk_id,
                now=now,
                not_after=not_after,
                enrollment_id=enrollment_id,
                active=False,
            )
            record_event(
                conn,
                "reenrolled",
                kiosk_id,
                serial=serial,
                old_serial=old_serial,
                not_after=not_after,
                revoked_unused=[r.serial for r in unused],
            )

    def certificate(self, serial: str, kiosk_id: str, *, touch: bool = True) -> CertState:
        """The state of a presented certificate; the first use of a pending one makes it
        the kiosk's only live certificate (:meth:`_activate`).

        Also records when the device was last seen (at most once a minute, so a busy upload
        does not turn every request into a write), unless ``touch`` is False: the heartbeat
        writes ``last_seen_at`` in its own transaction (``FleetDB.record_heartbeat``), so
        its hot path commits once instead of twice.
        """
        with self.db.reads.connect() as conn:
            row = conn.execute(
                _STATE_OF, {"b_serial": serial, "b_kiosk_id": kiosk_id}
            ).one_or_none()
        if row is None:
            return CertState("unknown")
        if row.status != "active":
            return CertState("revoked", row.enrollment_id)
        if row.revoked_at is not None:
            superseded = (row.revoked_reason or "").startswith("superseded")
            return CertState("superseded" if superseded else "revoked", row.enrollment_id)
        pending = row.activated_at is None
        if pending and not self._activate(serial, kiosk_id):
            return self.certificate(serial, kiosk_id, touch=touch)  # lost a race: read what won
        if touch and (row.last_seen_at is None or now_utc() - row.last_seen_at > LAST_SEEN_EVERY):
            self.device_db.touch_device(kiosk_id)
        return CertState("ok", row.enrollment_id, pending)

    def _activate(self, serial: str, kiosk_id: str) -> bool:
        """Make ``serial`` the kiosk's live certificate and revoke every other one, in one
        transaction; False if it was revoked meanwhile (a parallel renewal or revocation).
        """
        now = now_utc()
        with self.db.tx() as conn:
            done = conn.execute(
                certificates.update()
                .where(
                    certificates.c.serial == serial,
                    certificates.c.kiosk_id == kiosk_id,
                    certificates.c.revoked_at.is_(None),
                    certificates.c.activated_at.is_(None),
                )
                .values(activated_at=now)
            )
            if done.rowcount != 1:  # a parallel request activated it, or it was revoked
                revoked = conn.execute(
                    sa.select(certificates.c.revoked_at).where(certificates.c.serial == serial)
                ).scalar_one_or_none()
                return revoked is None
            retired = conn.execute(
                certificates.update()
                .where(
                    certificates.c.kiosk_id == kiosk_id,
                    certificates.c.serial != serial,
                    certificates.c.revoked_at.is_(None),
                )
                .values(revoked_at=now, revoked_reason="superseded")
                .returning(certificates.c.serial)
            ).all()
            record_event(
                conn,
                "certificate_activated",
                kiosk_id,
                serial=serial,
                superseded=[r.serial for r in retired],
            )
        return True

    def certificate_status(self, serial: str, kiosk_id: str) -> str:
        """``ok``, ``unknown``, ``revoked`` or ``superseded`` (see :meth:`certificate`)."""
        return self.certificate(serial, kiosk_id).status

    def live_certificates(self, kiosk_id: str) -> list[str]:
        """Serials of the kiosk's certificates that are neither revoked nor expired."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(certificates.c.serial)
                .where(
                    certificates.c.kiosk_id == kiosk_id,
                    certificates.c.revoked_at.is_(None),
                    certificates.c.not_after > now_utc(),
                )
                .order_by(certificates.c.issued_at)
            ).all()
        return [r.serial for r in rows]
