"""The hub's database layer on SQLite (default) and on a real PostgreSQL (slow).

The PostgreSQL server is Debian's own binaries, started by the ``postgres_url`` fixture
(``tests/hub_fixtures.py``) in a temporary directory listening only on a unix socket; the
test is skipped when they are not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from provisioning.hub.db import DeviceExists, HubDB, TokenInvalid, UnknownDevice, now_utc
from provisioning.hub.tokens import hash_token


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
    db.add_token(hash_token("t1"), "xa", later)
    db.add_token(hash_token("t2"), "xa", later)
    db.add_token(hash_token("old"), "xa", now_utc() - timedelta(seconds=1))
    assert db.usable_token(hash_token("t1"))["group"] == "xa"
    assert db.usable_token(hash_token("old")) is None
    with pytest.raises(TokenInvalid):
        db.enroll(hash_token("old"), "k1", "aa01", later)

    db.enroll(hash_token("t1"), "k1", "aa01", later)
    with pytest.raises(TokenInvalid):  # one token, one device
        db.enroll(hash_token("t1"), "k2", "aa02", later)
    with pytest.raises(DeviceExists):
        db.enroll(hash_token("t2"), "k1", "aa03", later)
    assert db.usable_token(hash_token("t2")) is not None  # not consumed by the refusal

    db.reenroll("k1", "aa04", later, "aa01")
    assert db.certificate_status("aa01", "k1") == "ok"
    assert db.certificate_status("aa04", "k1") == "ok"
    assert db.certificate_status("aa04", "k9") == "unknown"
    db.revoke("k1", "stolen")
    assert db.certificate_status("aa04", "k1") == "revoked"
    with pytest.raises(UnknownDevice):
        db.revoke("nobody")
    db.enroll(hash_token("t2"), "k1", "aa05", later)  # re-enrollment after revocation
    assert db.certificate_status("aa05", "k1") == "ok"
    assert db.certificate_status("aa04", "k1") == "revoked"
    (dev,) = db.list_devices()
    assert dev["status"] == "active" and dev["cert_not_after"] == later
    kinds = [e["kind"] for e in db.events()]
    assert kinds.count("enrolled") == 2 and kinds.count("revoked") == 1


def test_uploads_receipts_and_objects(db: HubDB):
    later = now_utc() + timedelta(days=7)
    db.add_token(hash_token("t"), "g", later)
    db.enroll(hash_token("t"), "k1", "01", later)
    sha = "ab" * 32
    db.create_upload("u1", "k1", "doc-1", sha, 5_000_000_000, {"filename": "Tờ trình.pdf"})
    assert db.open_upload_bytes() == 5_000_000_000
    db.set_offset("u1", 4_000_000_000)
    up = db.upload("u1", "k1")
    assert up.offset == 4_000_000_000 and up.meta == {"filename": "Tờ trình.pdf"}
    assert db.upload("u1", "k2") is None  # another device sees nothing

    receipt = {
        "device": "k1",
        "document_id": "doc-1",
        "sha256": sha,
        "duplicate": False,
        "received_at": "2026-01-02T03:04:05Z",
        "sig": "x",
    }
    db.record_receipt(receipt, "u1", 5_000_000_000, f"sha256/ab/{sha}")
    db.record_receipt({**receipt, "duplicate": True}, None, 5_000_000_000, f"sha256/ab/{sha}")
    assert db.upload("u1", "k1").state == "complete"
    assert db.upload_receipt("u1") == receipt
    assert db.delivered_receipt("k1", "doc-1", sha) == receipt
    assert db.delivered_receipt("k1", "doc-2", sha) is None
    assert db.object(sha)["size"] == 5_000_000_000
    assert db.stored_bytes() == 5_000_000_000 and db.receipt_count(sha) == 2
    assert db.open_upload_bytes() == 0
    db.create_upload("u2", "k1", "doc-3", "cd" * 32, 10, {})
    db.end_upload("u2", "discarded", reason="hash_mismatch")
    assert db.upload("u2", "k1").state == "discarded"
    assert db.events("upload_discarded")[0]["detail"]["reason"] == "hash_mismatch"
