"""Enrolled kiosks: enrollment (a token's one use), revocation, IT's reinstatement, the list.

Each is one transaction over the device and every certificate it holds, so two requests
racing cannot both win: a token enrolls exactly one device, and a revoked device loses
all its certificates at once. What happens to a certificate after enrollment (renewal,
first use, its state when presented) is :mod:`provisioning.hub.certificates_db`.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from provisioning.hub.db import (
    Database,
    certificates,
    devices,
    insert_certificate,
    now_utc,
    record_event,
    tokens,
)
from provisioning.hub.tokens_db import TokenInvalid


class DeviceExists(Exception):
    """The kiosk id is enrolled and not revoked."""


class UnknownDevice(Exception):
    """No device with that id."""


class DeviceRevoked(Exception):
    """The kiosk id was revoked and IT has not reinstated it for a new enrollment."""


class NotRevoked(Exception):
    """Reinstating a device that is not revoked."""


class DeviceDB:
    """The lifecycle of the ``devices`` rows (one transaction per method)."""

    def __init__(self, db: Database):
        self.db = db

    def enroll(
        self, token_hash: str, kiosk_id: str, serial: str, not_after: datetime
    ) -> dict[str, Any]:
        """Consume the token and record the device with its first certificate, atomically.

        A kiosk id that is enrolled (``DeviceExists``) or revoked (``DeviceRevoked``) is
        refused and the token stays usable: a revoked id comes back only after IT
        reinstated it (:meth:`reinstate`), and then as a new enrollment that inherits
        nothing (uploads and receipts are bound to ``enrollment_id``).
        """
        now = now_utc()
        enrollment_id = secrets.token_hex(8)
        with self.db.tx() as conn:
            token = conn.execute(
                sa.select(tokens).where(tokens.c.token_hash == token_hash)
            ).one_or_none()
            if token is None or token.used_at is not None or token.expires_at <= now:
                raise TokenInvalid
            device = conn.execute(
                sa.select(devices).where(devices.c.kiosk_id == kiosk_id)
            ).one_or_none()
            if device is not None and device.status == "active":
                raise DeviceExists
            if device is not None and device.status == "revoked":
                raise DeviceRevoked
            used = conn.execute(
                tokens.update()
                .where(tokens.c.token_hash == token_hash, tokens.c.used_at.is_(None))
                .values(used_at=now, used_by=kiosk_id)
            )
            if used.rowcount != 1:
                raise TokenInvalid
            values = dict(
                group=token.group,
                status="active",
                enrolled_at=now,
                revoked_at=None,
                revoked_reason=None,
                last_seen_at=now,
            )
            if device is None:
                conn.execute(devices.insert().values(kiosk_id=kiosk_id, **values))
            else:  # reinstated by IT: a new enrollment under the old id
                done = conn.execute(
                    devices.update()
                    .where(devices.c.kiosk_id == kiosk_id, devices.c.status == "reinstated")
                    .values(**values)
                )
                if done.rowcount != 1:  # another enrollment took it at the same moment
                    raise DeviceExists
            insert_certificate(
                conn,
                serial=serial,
                kiosk_id=kiosk_id,
                now=now,
                not_after=not_after,
                enrollment_id=enrollment_id,
                active=True,
            )
            record_event(
                conn,
                "enrolled",
                kiosk_id,
                group=token.group,
                serial=serial,
                not_after=not_after,
                enrollment=enrollment_id,
                reenrolled_after_revocation=device is not None,
            )
            return {"kiosk_id": kiosk_id, "group": token.group, "enrollment_id": enrollment_id}

    def touch_device(self, kiosk_id: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                devices.update()
                .where(devices.c.kiosk_id == kiosk_id)
                .values(last_seen_at=now_utc())
            )

    def revoke(self, kiosk_id: str, reason: str = "") -> None:
        """Refuse the device and every certificate it holds from the next request on."""
        now = now_utc()
        with self.db.tx() as conn:
            found = conn.execute(
                devices.update()
                .where(devices.c.kiosk_id == kiosk_id)
                .values(status="revoked", revoked_at=now, revoked_reason=reason)
            )
            if found.rowcount != 1:
                raise UnknownDevice(kiosk_id)
            conn.execute(
                certificates.update()
                .where(certificates.c.kiosk_id == kiosk_id, certificates.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason="device_revoked")
            )
            record_event(conn, "revoked", kiosk_id, reason=reason)

    def reinstate(self, kiosk_id: str, reason: str, by: str) -> None:
        """IT's explicit permission for one new enrollment of a revoked kiosk id.

        Nothing of the old identity comes back: its certificates stay revoked, and the
        next enrollment (with a fresh token) gets a new ``enrollment_id``, so the old
        uploads and receipts stay out of its reach. Recorded as a ``reinstated`` event.
        """
        with self.db.tx() as conn:
            row = conn.execute(
                sa.select(devices.c.status).where(devices.c.kiosk_id == kiosk_id)
            ).one_or_none()
            if row is None:
                raise UnknownDevice(kiosk_id)
            done = conn.execute(
                devices.update()
                .where(devices.c.kiosk_id == kiosk_id, devices.c.status == "revoked")
                .values(status="reinstated")
            )
            if done.rowcount != 1:
                raise NotRevoked(kiosk_id)
            record_event(conn, "reinstated", kiosk_id, reason=reason, by=by)

    def list_devices(self) -> list[dict[str, Any]]:
        """Every device with its newest certificate's end and how many certificates are
        live (neither revoked nor expired: 1, or 2 while a renewed one is pending)."""
        now = now_utc()
        live = sa.and_(certificates.c.revoked_at.is_(None), certificates.c.not_after > now)
        newest = (
            sa.select(
                certificates.c.kiosk_id,
                sa.func.max(certificates.c.not_after).label("cert_not_after"),
                sa.func.sum(sa.case((live, 1), else_=0)).label("live_certs"),
            )
            .group_by(certificates.c.kiosk_id)
            .subquery()
        )
        q = (
            sa.select(devices, newest.c.cert_not_after, newest.c.live_certs)
            .select_from(devices.outerjoin(newest, newest.c.kiosk_id == devices.c.kiosk_id))
            .order_by(devices.c.kiosk_id)
        )
        with self.db.engine.connect() as conn:
            return [row._asdict() for row in conn.execute(q)]
