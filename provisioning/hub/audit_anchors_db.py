"""The audit heads each kiosk enrollment reported: its anchor and the evidence of a fork.

:mod:`provisioning.hub.audit_anchor` receives the reports with deliveries; here each one is
held against what the same enrollment reported before, in one transaction.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from provisioning.hub.db import Database, audit_anchors, now_utc, record_event, same_enrollment


class AuditAnchorDB:
    """Reads and writes of the ``audit_anchors`` table (one transaction per method)."""

    def __init__(self, db: Database):
        self.db = db

    def audit_anchor(self, kiosk_id: str, enrollment_id: str | None) -> dict[str, Any] | None:
        """The newest head this enrollment of the kiosk reported (its anchor), or None."""
        with self.db.engine.connect() as conn:
            row = conn.execute(
                sa.select(audit_anchors)
                .where(
                    audit_anchors.c.kiosk_id == kiosk_id,
                    same_enrollment(audit_anchors.c.enrollment_id, enrollment_id),
                )
                .order_by(audit_anchors.c.seq.desc())
                .limit(1)
            ).one_or_none()
        return row._asdict() if row is not None else None

    def record_audit_anchor(
        self, kiosk_id: str, enrollment_id: str | None, report: dict[str, Any]
    ) -> str:
        """Hold a reported head against what this enrollment reported before; one of

        ``new`` (first anchor), ``advanced``, ``same``, ``backwards`` (a lower ``seq`` than
        the anchor: records were removed), ``fork`` (a different head at a ``seq`` the hub
        knows, or a ``prev`` head that differs from the one reported for that record).
        ``backwards`` and ``fork`` are ``audit_head_backwards`` / ``audit_fork`` events and
        leave the anchor as it was (the evidence stays); only growth moves it.
        """
        now = now_utc()
        seq, head = int(report["seq"]), report["head"]
        mine = sa.and_(
            audit_anchors.c.kiosk_id == kiosk_id,
            same_enrollment(audit_anchors.c.enrollment_id, enrollment_id),
        )
        with self.db.tx() as conn:
            latest = conn.execute(
                sa.select(audit_anchors).where(mine).order_by(audit_anchors.c.seq.desc()).limit(1)
            ).one_or_none()

            def known_head(at_seq: int) -> str | None:
                row = conn.execute(
                    sa.select(audit_anchors.c.head)
                    .where(mine, audit_anchors.c.seq == at_seq)
                    .limit(1)
                ).one_or_none()
                return row.head if row is not None else None

            detail = {"reported_seq": seq, "reported_head": head, "signed_at": report["at"]}
            if latest is not None:
                detail.update(anchor_seq=int(latest.seq), anchor_head=latest.head)
            verdict = "new" if latest is None else "advanced"
            if latest is not None and seq < latest.seq:
                verdict = "backwards"
            elif (known := known_head(seq)) is not None:
                verdict = "same" if known == head else "fork"
            elif report.get("prev_seq") is not None:
                prev_seq = int(report["prev_seq"])
                known_prev = known_head(prev_seq)
                if known_prev is not None and known_prev != report.get("prev_head"):
                    verdict = "fork"
                    detail.update(prev_seq=prev_seq, prev_head=report.get("prev_head"))
                    detail["known_prev_head"] = known_prev
            if verdict in ("new", "advanced"):
                conn.execute(
                    audit_anchors.insert().values(
                        kiosk_id=kiosk_id,
                        enrollment_id=enrollment_id,
                        seq=seq,
                        head=head,
                        at=report["at"],
                        sig=report["sig"],
                        signer=report["signer"],
                        received_at=now,
                    )
                )
            elif verdict == "backwards":
                record_event(conn, "audit_head_backwards", kiosk_id, **detail)
            elif verdict == "fork":
                record_event(conn, "audit_fork", kiosk_id, **detail)
        return verdict
