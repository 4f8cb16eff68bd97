"""Remote commands on the hub: created by IT (CLI or admin page), handed to the kiosk in its
heartbeat answer, signed with the hub's signing key, their results recorded.

A command is pending until its kiosk reports a result or it expires; it is offered in every
heartbeat answer meanwhile (the agent ignores ids it already ran, so a lost answer or a lost
result report never runs a command twice). Every creation and result is a hub event
(``command_created``, ``command_result``) for the kiosk's timeline.

Signature: ECDSA P-256 over the canonical JSON of every field but ``sig``
(:func:`provisioning.fleet_schemas.signed_bytes`), with the key whose certificate the fleet CA
issued for receipts; ``type: sohoa-command`` keeps a command from ever reading as a receipt.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from provisioning.fleet_schemas import (
    COMMAND_KINDS,
    COMMAND_TYPE,
    RESULT_STATES,
    CommandResult,
    signed_bytes,
)
from provisioning.hub.db import TZDateTime, now_utc
from provisioning.hub.fleet_db import metadata
from provisioning.hub.hub_db import HubDB
from provisioning.hub.refusals import Refusal
from provisioning.hub.table_setup import create_tables

DEFAULT_EXPIRY = timedelta(hours=24)

commands = sa.Table(
    "commands",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kiosk_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("args", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created_at", TZDateTime, nullable=False),
    sa.Column("expires_at", TZDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | done | failed | refused
    sa.Column("finished_at", TZDateTime),
    sa.Column("result", sa.Text),
    sa.Index("commands_by_kiosk", "kiosk_id", "state"),
)

#: Asked on every heartbeat, so built once (see ``fleet_db``'s statements).
_PENDING_FOR = (
    sa.select(commands)
    .where(
        commands.c.kiosk_id == sa.bindparam("b_kiosk_id"),
        commands.c.state == "pending",
        commands.c.expires_at > sa.bindparam("b_now"),
    )
    .order_by(commands.c.created_at)
    .limit(10)
)


class CommandError(Refusal):
    """A refused command: unknown kind, no such kiosk, a malformed result."""


class CommandService:
    def __init__(
        self,
        hub_db: HubDB,
        key: ec.EllipticCurvePrivateKey | None = None,
        cert: Any = None,
    ):
        self.engine = hub_db.engine
        self.hub_db = hub_db
        self.key = key
        self.signer_b64 = (
            base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
            if cert is not None
            else None
        )
        create_tables(metadata, self.engine)

    def create(
        self,
        kiosk_id: str,
        kind: str,
        *,
        by: str,
        args: dict[str, Any] | None = None,
        expires_in: timedelta = DEFAULT_EXPIRY,
    ) -> dict[str, Any]:
        if kind not in COMMAND_KINDS:
            known = ", ".join(sorted(COMMAND_KINDS))
            raise CommandError(
                "command_unknown",
                f"Unknown command {kind!r}; the kiosk agent runs: {known}.",
                f"Không có lệnh {kind!r}; máy chỉ nhận các lệnh: {known}.",
            )
        if not any(d["kiosk_id"] == kiosk_id for d in self.hub_db.devices.list_devices()):
            raise CommandError(
                "command_no_kiosk",
                f"No enrolled kiosk {kiosk_id!r}; check the id in the fleet table.",
                f"Không có máy {kiosk_id!r} đã đăng ký; hãy xem lại mã máy trong danh sách.",
                status=404,
            )
        now = now_utc()
        row = {
            "id": secrets.token_hex(8),
            "kiosk_id": kiosk_id,
            "kind": kind,
            "args": json.dumps(args or {}, ensure_ascii=False, sort_keys=True),
            "created_by": by,
            "created_at": now,
            "expires_at": now + expires_in,
            "state": "pending",
        }
        with self.engine.begin() as conn:
            conn.execute(commands.insert().values(**row))
        self.hub_db.events.event(
            "command_created", kiosk_id, id=row["id"], command=kind, by=by, args=args or {}
        )
        return self._public(row)

    @staticmethod
    def _public(row: Any) -> dict[str, Any]:
        r = (
            dict(row)
            if isinstance(row, dict)
            else {c.name: getattr(row, c.name) for c in commands.columns}
        )
        r["args"] = json.loads(r["args"])
        if r.get("result"):
            r["result"] = json.loads(r["result"])
        return r

    def sign(self, row: dict[str, Any]) -> dict[str, Any]:
        if self.key is None or self.signer_b64 is None:
            raise CommandError(
                "command_no_signer",
                "This hub process has no key to sign commands; start it with its receipt key.",
                "Máy chủ này không có khóa để ký lệnh; hãy khởi động với khóa ký biên nhận.",
                status=500,
            )
        cmd = {
            "type": COMMAND_TYPE,
            "id": row["id"],
            "kiosk": row["kiosk_id"],
            "kind": row["kind"],
            "args": row["args"],
            "issued_at": row["created_at"].isoformat(timespec="seconds"),
            "expires_at": row["expires_at"].isoformat(timespec="seconds"),
            "signer": self.signer_b64,
        }
        sig = self.key.sign(signed_bytes(cmd), ec.ECDSA(hashes.SHA256()))
        cmd["sig"] = base64.b64encode(sig).decode("ascii")
        return cmd

    def pending_for(self, kiosk_id: str, now: datetime | None = None) -> list[dict[str, Any]]:
        """Signed commands to hand to ``kiosk_id`` now (pending, not expired)."""
        now = now or now_utc()
        with self.hub_db.reads.connect() as conn:
            rows = [
                self._public(r)
                for r in conn.execute(_PENDING_FOR, {"b_kiosk_id": kiosk_id, "b_now": now})
            ]
        return [self.sign(r) for r in rows]

    def record_result(self, kiosk_id: str, command_id: str, result: CommandResult) -> bool:
        """Store the kiosk's report; False when there is no such command of this kiosk. A
        second report of a finished command changes nothing (the first one counts)."""
        if result.status not in RESULT_STATES:
            states = ", ".join(sorted(RESULT_STATES))
            raise CommandError(
                "command_bad_result",
                f"A command's status must be one of {states}.",
                f"Trạng thái của lệnh phải là một trong: {states}.",
            )
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(commands.c.state, commands.c.kind).where(
                    commands.c.id == command_id, commands.c.kiosk_id == kiosk_id
                )
            ).one_or_none()
            if row is None:
                return False
            if row.state != "pending":
                return True
            conn.execute(
                commands.update()
                .where(commands.c.id == command_id)
                .values(
                    state=result.status,
                    finished_at=now_utc(),
                    result=json.dumps(
                        result.model_dump(mode="json", exclude_none=True), ensure_ascii=False
                    ),
                )
            )
        self.hub_db.events.event(
            "command_result",
            kiosk_id,
            id=command_id,
            command=row.kind,
            status=result.status,
            code=result.code,
            reason=result.reason,
        )
        return True

    def list(self, kiosk_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = sa.select(commands).order_by(commands.c.created_at.desc()).limit(limit)
        if kiosk_id is not None:
            q = q.where(commands.c.kiosk_id == kiosk_id)
        with self.engine.connect() as conn:
            return [self._public(r) for r in conn.execute(q)]

    def get(self, command_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(commands).where(commands.c.id == command_id)).one_or_none()
        return self._public(row) if row is not None else None
