"""The hub's database layer on SQLite (default) and on a real PostgreSQL (slow).

The PostgreSQL server is Debian's own binaries, started by the ``postgres_url`` fixture
(``tests/support/hub.py``) in a temporary directory listening only on a unix socket; the
test is skipped when they are not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from provisioning.hub.db import now_utc
from provisioning.hub.devices_db import DeviceExists, DeviceRevoked, NotRevoked, UnknownDevice
from provisioning.hub.hub_db import HubDB
from provisioning.hub.tokens import hash_token
from provisioning.hub.tokens_db import TokenInvalid


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def db(request, tmp_path) -> Iterator[HubDB]:
    url = (
        f"sqlite:///{tmp_path / 'hub.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    d = HubDB(url)
    d.create_schema()
    d.create_schema()  # idempotent: every start runs it
    yield d
    d.close()


def test_enrollment_rules(db: HubDB):
    later = now_utc() + timedelta(days=7)
    db.tokens.add_token(hash_token("t1"), "xa", later)
    db.tokens.add_token(hash_token("t2"), "xa", later)
    db.tokens.add_token(hash_token("old"), "xa", now_utc() - timedelta(seconds=1))
    assert db.tokens.usable_token(hash_token("t1"))["group"] == "xa"
    assert db.tokens.usable_token(hash_token("old")) is None
    with pytest.raises(TokenInvalid):
        db.devices.enroll(hash_token("old"), "k1", "aa01", later)

    db.devices.enroll(hash_token("t1"), "k1", "aa01", later)
    with pytest.raises(TokenInvalid):  # one token, one device
        db.devices.enroll(hash_token("t1"), "k2", "aa02", later)
    with pytest.raises(DeviceExists):
        db.devices.enroll(hash_token("t2"), "k1", "aa03", later)
    assert db.tokens.usable_token(hash_token("t2")) is not None  # not consumed by the refusal

    db.certificates.reenroll("k1", "aa04", later, "aa01")
    assert db.certificates.certificate_status("aa01", "k1") == "ok"  # the renewed one is pending
    assert db.certificates.live_certificates("k1") == ["aa01", "aa04"]
    assert db.certificates.certificate_status("aa04", "k1") == "ok"  # first use: it takes over
    assert db.certificates.certificate_status("aa01", "k1") == "superseded"
    assert db.certificates.live_certificates("k1") == ["aa04"]
    assert db.certificates.certificate_status("aa04", "k9") == "unknown"
    db.devices.revoke("k1", "stolen")
    assert db.certificates.certificate_status("aa04", "k1") == "revoked"
    with pytest.raises(UnknownDevice):
        db.devices.revoke("nobody")
    with pytest.raises(DeviceRevoked):  # a revoked id needs IT's reinstatement first
        db.devices.enroll(hash_token("t2"), "k1", "aa05", later)
    assert db.tokens.usable_token(hash_token("t2")) is not None
    with pytest.raises(UnknownDevice):
        db.devices.reinstate("nobody", "", by="it")
    db.devices.reinstate("k1", "board replaced", by="it-admin")
    with pytest.raises(NotRevoked):
        db.devices.reinstate("k1", "twice", by="it-admin")
    db.devices.enroll(hash_token("t2"), "k1", "aa05", later)  # re-enrollment after reinstatement
    assert db.certificates.certificate_status("aa05", "k1") == "ok"
    assert db.certificates.certificate_status("aa04", "k1") == "revoked"
    (dev,) = db.devices.list_devices()
    assert dev["status"] == "active" and dev["cert_not_after"] == later
    kinds = [e["kind"] for e in db.events.events()]
    assert kinds.count("enrolled") == 2 and kinds.count("revoked") == 1
    (ev,) = db.events.events("reinstated")
    assert ev["detail"] == {"reason": "board replaced", "by": "it-admin"}


def test_uploads_receipts_and_objects(db: HubDB):
    later = now_utc() + timedelta(days=7)
    db.tokens.add_token(hash_token("t"), "g", later)
    enr = db.devices.enroll(hash_token("t"), "k1", "01", later)["enrollment_id"]
    sha = "ab" * 32
    db.uploads.create_upload(
        "u1", "k1", "doc-1", sha, 5_000_000_000, {"filename": "Tờ trình.pdf"}, enrollment_id=enr
    )
    assert db.uploads.open_upload_bytes() == 5_000_000_000
    db.uploads.set_offset("u1", 4_000_000_000)
    up = db.uploads.upload("u1", "k1", enrollment_id=enr)
    assert up.offset == 4_000_000_000 and up.meta == {"filename": "Tờ trình.pdf"}
    assert db.uploads.upload("u1", "k2", enrollment_id=enr) is None  # another device sees nothing
    assert db.uploads.upload("u1", "k1", enrollment_id="other") is None  # nor another enrollment

    receipt = {
        "device": "k1",
        "document_id": "doc-1",
        "sha256": sha,
        "duplicate": False,
        "received_at": "2026-01-02T03:04:05Z",
        "sig": "x",
    }
    db.receipts.record_receipt(receipt, "u1", 5_000_000_000, f"sha256/ab/{sha}", enrollment_id=enr)
    db.receipts.record_receipt(
        {**receipt, "duplicate": True}, None, 5_000_000_000, f"sha256/ab/{sha}", enrollment_id=enr
    )
    assert db.uploads.upload("u1", "k1", enrollment_id=enr).state == "complete"
    assert db.receipts.upload_receipt("u1") == receipt
    assert db.receipts.delivered_receipt("k1", "doc-1", sha, enrollment_id=enr) == receipt
    assert db.receipts.delivered_receipt("k1", "doc-1", sha, enrollment_id="other") is None
    assert db.receipts.delivered_receipt("k1", "doc-2", sha, enrollment_id=enr) is None
    assert db.receipts.object(sha)["size"] == 5_000_000_000
    assert db.receipts.stored_bytes() == 5_000_000_000 and db.receipts.receipt_count(sha) == 2
    assert db.uploads.open_upload_bytes() == 0
    db.uploads.create_upload("u2", "k1", "doc-3", "cd" * 32, 10, {}, enrollment_id=enr)
    db.uploads.end_upload("u2", "discarded", reason="hash_mismatch")
    assert db.uploads.upload("u2", "k1", enrollment_id=enr).state == "discarded"
    assert db.events.events("upload_discarded")[0]["detail"]["reason"] == "hash_mismatch"


def test_database_from_before_enrollments_gains_the_columns(db: HubDB):
    """A hub.db from before the certificate life cycle: its certificates count as in use
    (not pending) and each kiosk's certificates, uploads and receipts form one enrollment."""
    import sqlalchemy as sa

    later = now_utc() + timedelta(days=7)
    db.tokens.add_token(hash_token("t"), "g", later)
    db.devices.enroll(hash_token("t"), "k1", "01", later)
    db.uploads.create_upload("u1", "k1", "doc-1", "ab" * 32, 10, {}, enrollment_id=None)
    with db.database.tx() as conn:
        for table, col in (
            ("certificates", "revoked_reason"),
            ("certificates", "activated_at"),
            ("certificates", "enrollment_id"),
            ("uploads", "enrollment_id"),
            ("receipts", "enrollment_id"),
        ):
            conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {col}"))
    db.create_schema()
    db.create_schema()
    added = {e["detail"]["added"] for e in db.events.events("schema_migrated")}
    assert {"certificates.activated_at", "uploads.enrollment_id"} <= added
    state = db.certificates.certificate("01", "k1")
    assert (state.status, state.enrollment_id, state.pending) == ("ok", "legacy:k1", False)
    assert db.uploads.upload("u1", "k1", enrollment_id="legacy:k1") is not None


def test_audit_anchor_verdicts(db: HubDB):
    def report(seq: int, head: str, prev: tuple[int, str] | None = None) -> dict:
        r = {"seq": seq, "head": head * 64, "at": "2026-12-01T22:00:00Z", "sig": "c2ln"}
        r["signer"] = "f" * 64
        if prev:
            r.update(prev_seq=prev[0], prev_head=prev[1] * 64)
        return r

    assert db.audit_anchors.audit_anchor("k1", "e1") is None
    assert db.audit_anchors.record_audit_anchor("k1", "e1", report(10, "a")) == "new"
    assert db.audit_anchors.record_audit_anchor("k1", "e1", report(10, "a")) == "same"
    assert (
        db.audit_anchors.record_audit_anchor("k1", "e1", report(20, "b", (10, "a"))) == "advanced"
    )
    assert db.audit_anchors.record_audit_anchor("k1", "e1", report(15, "c")) == "backwards"
    assert (
        db.audit_anchors.record_audit_anchor("k1", "e1", report(20, "d")) == "fork"
    )  # same seq, other head
    assert (
        db.audit_anchors.record_audit_anchor("k1", "e1", report(30, "e", (10, "x"))) == "fork"
    )  # rewritten
    assert (
        db.audit_anchors.record_audit_anchor("k1", "e1", report(30, "e", (20, "b"))) == "advanced"
    )
    assert (
        db.audit_anchors.record_audit_anchor("k1", "e2", report(3, "f")) == "new"
    )  # a new enrollment
    assert (
        db.audit_anchors.audit_anchor("k1", "e1")["seq"] == 30
        and db.audit_anchors.audit_anchor("k1", "e2")["seq"] == 3
    )
    assert (
        len(db.events.events("audit_head_backwards")) == 1
        and len(db.events.events("audit_fork")) == 2
    )


def test_one_writer_per_upload_across_replicas(db: HubDB):
    """The lock is in the database: a second hub process on the same database (another
    replica) is refused while the first holds the upload, and takes over an expired lease."""
    other = HubDB(str(db.engine.url.render_as_string(hide_password=False)))
    try:
        first = db.writers.claim_writer("up-1", lease_s=60)
        assert first is not None
        assert other.writers.claim_writer("up-1", lease_s=60) is None  # held, on the other replica
        assert other.writers.claim_writer("up-2", lease_s=60) is not None  # another upload is free
        assert db.writers.renew_writer("up-1", first, lease_s=60)
        db.writers.release_writer("up-1", first)
        second = other.writers.claim_writer(
            "up-1", lease_s=-1
        )  # released: free; lease already over
        assert second is not None
        third = db.writers.claim_writer("up-1", lease_s=60)  # an expired lease is taken over
        assert third is not None and third != second
        assert not other.writers.renew_writer("up-1", second, lease_s=60)  # the loser knows it lost
        other.writers.release_writer("up-1", second)  # and cannot release the new holder's claim
        assert other.writers.claim_writer("up-1", lease_s=60) is None
    finally:
        other.close()
