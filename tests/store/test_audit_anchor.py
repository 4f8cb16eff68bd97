"""Anchored audit chain (issue 14): signed checkpoints of the head, kept on the kiosk and
reported to the hub with every delivery, so that deleting the newest records or rewriting
one and re-hashing forward no longer passes ``sohoa audit verify``.

Before the anchors both attacks verified: the chain's hash is unkeyed and its head was
written down nowhere else.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from firmware.cli.main import main
from firmware.store.audit_anchor import AuditAnchors, verify_anchored
from firmware.store.catalog import Catalog, audit_hash
from firmware.store.paths import DataPaths
from firmware.uplink.identity import enroll
from firmware.uplink.outbox import Outbox, route_sealed
from firmware.uplink.qr import parse_enroll_uri
from firmware.uplink.worker import UplinkWorker
from tests.conftest import run_sohoa
from tests.support import uplink as fakes
from tests.support.wait import wait_for

KIOSK = "kiosk-audit-01"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    cat = Catalog(DataPaths(tmp_path).ensure().catalog)
    doc = cat.create_document("clerk")
    for i in range(10):
        cat.audit("clerk", "signin", doc["id"], attempt=i)
    cat.close()
    return tmp_path  # 11 records


def _conn(data_dir: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(data_dir / "catalog.db")
    conn.row_factory = sqlite3.Row
    conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    return conn


def delete_newest(data_dir: Path, n: int) -> None:
    conn = _conn(data_dir)
    conn.execute("DELETE FROM audit WHERE seq > (SELECT MAX(seq) FROM audit) - ?", [n])
    conn.commit()
    conn.close()


def rewrite_and_rehash(data_dir: Path, seq: int, actor: str) -> str:
    """Change one record's actor and recompute every hash after it (a chain that verifies
    on its own); return the new head."""
    conn = _conn(data_dir)
    rows = conn.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    prev = rows[seq - 2]["hash"] if seq > 1 else "0" * 64
    for r in rows[seq - 1 :]:
        record = {
            "seq": r["seq"],
            "ts": r["ts"],
            "actor": actor if r["seq"] == seq else r["actor"],
            "action": r["action"],
            "doc_id": r["doc_id"],
            "page_id": r["page_id"],
            "details": json.loads(r["details"]),
        }
        new = audit_hash(prev, record)
        conn.execute(
            "UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            [record["actor"], prev, new, r["seq"]],
        )
        prev = new
    conn.commit()
    conn.close()
    return prev


def _verify(data_dir: Path, capsys: Any) -> tuple[int, str, str]:
    rc = main(["--data-dir", str(data_dir), "audit", "verify"])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_checkpoint_then_truncation_is_named(data_dir: Path, capsys: Any):
    r = run_sohoa(["--data-dir", str(data_dir), "audit", "checkpoint"])  # the real CLI
    assert r.returncode == 0 and "record 11" in r.stdout, r.stderr
    rc, out, _ = _verify(data_dir, capsys)
    assert rc == 0 and "signed checkpoint: record 11" in out

    delete_newest(data_dir, 5)
    r = run_sohoa(["--data-dir", str(data_dir), "audit", "verify"])
    assert r.returncode == 1
    assert "truncated: the chain ends at record 6" in r.stderr
    assert "covers record 11 (5 records missing)" in r.stderr


def test_rewritten_and_rehashed_chain_fails_against_the_checkpoint(data_dir: Path, capsys):
    assert main(["--data-dir", str(data_dir), "audit", "checkpoint"]) == 0
    capsys.readouterr()
    rewrite_and_rehash(data_dir, 2, "mallory")
    cat = Catalog(data_dir / "catalog.db")
    try:
        assert cat.verify_audit().ok  # the chain alone cannot tell
    finally:
        cat.close()
    rc, _, err = _verify(data_dir, capsys)
    assert rc == 1 and "record 11 no longer matches the checkpoint" in err
    assert "rewritten" in err


def test_editing_the_checkpoint_to_match_breaks_its_signature(data_dir: Path, capsys):
    assert main(["--data-dir", str(data_dir), "audit", "checkpoint"]) == 0
    capsys.readouterr()
    new_head = rewrite_and_rehash(data_dir, 2, "mallory")
    conn = _conn(data_dir)
    conn.execute("UPDATE audit_checkpoints SET head = ? WHERE seq = 11", [new_head])
    conn.commit()
    conn.close()
    rc, _, err = _verify(data_dir, capsys)
    assert rc == 1 and "checkpoint signature no longer matches" in err


def test_appending_after_a_checkpoint_is_fine_and_signing_twice_is_one_checkpoint(data_dir):
    paths = DataPaths(data_dir)
    cat = Catalog(paths.catalog)
    try:
        anchors = AuditAnchors(cat, paths, KIOSK)
        first = anchors.sign_head()
        assert anchors.sign_head() == first  # same head: same checkpoint
        cat.audit("clerk", "signout")
        second = anchors.sign_head()
        assert (first.seq, second.seq) == (11, 12)
        v = verify_anchored(cat, paths)
        assert v.ok and v.checkpoint == second and len(anchors.all()) == 2
    finally:
        cat.close()


# -- the hub's anchor -----------------------------------------------------------------------


def _deliver_one(paths: DataPaths, make_settings: Any, seed: int) -> None:
    cat = Catalog(paths.catalog)
    try:
        route_sealed(cat, fakes.sealed_document(cat, paths, size=20_000, seed=seed), "clerk")
        settings = make_settings(
            data_dir=str(paths.root),
            kiosk_id=KIOSK,
            uplink={"backoff_base_s": 0.05, "backoff_max_s": 0.5, "retention_days": 0},
        )
        worker = UplinkWorker(cat, paths, settings)
        for _ in range(50):
            worker.step()
            if Outbox(cat).counts()["waiting"] == 0:
                break
        assert Outbox(cat).counts()["waiting"] == 0, worker.last_error
    finally:
        cat.close()


def _hub_events(hub: Any, kind: str) -> list[dict[str, Any]]:
    db = hub.db()
    try:
        return db.events.events(kind, kiosk_id=KIOSK)
    finally:
        db.close()


@pytest.mark.integration
def test_each_delivery_anchors_the_head_at_the_hub(hub, tmp_path: Path, make_settings: Any):
    paths = DataPaths(tmp_path / "kiosk").ensure()
    cat = Catalog(paths.catalog)
    enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token().uri), catalog=cat)
    for i in range(6):
        cat.audit("clerk", "signin", attempt=i)
    cat.close()
    _deliver_one(paths, make_settings, seed=1)

    cat = Catalog(paths.catalog)
    try:
        reported = AuditAnchors(cat, paths, KIOSK).last_reported()
        assert reported is not None
    finally:
        cat.close()
    db = hub.db()
    try:
        anchor = db.audit_anchors.audit_anchor(KIOSK, _enrollment(db))
    finally:
        db.close()
    assert (anchor["seq"], anchor["head"], anchor["sig"]) == (
        reported.seq,
        reported.head,
        reported.sig,
    )
    conf = tmp_path / "sohoa.toml"
    conf.write_text(f'data_dir = "{paths.root}"\nkiosk_id = "{KIOSK}"\n')
    r = run_sohoa(["--config", str(conf), "audit", "verify", "--hub"])
    assert r.returncode == 0 and f"hub anchor: record {reported.seq}" in r.stdout, r.stderr

    # Someone removes the newest records (and the local checkpoints with them).
    conn = _conn(paths.root)
    conn.execute("DELETE FROM audit_checkpoints")
    conn.commit()
    conn.close()
    delete_newest(paths.root, 8)
    r = run_sohoa(["--config", str(conf), "audit", "verify"])
    assert r.returncode == 0  # locally nothing is left to tell ...
    r = run_sohoa(["--config", str(conf), "audit", "verify", "--hub"])
    assert r.returncode == 1 and "truncated" in r.stderr and "hub's anchor" in r.stderr
    # ... and the next delivery reports a head behind the hub's anchor: an event for IT.
    _deliver_one(paths, make_settings, seed=2)
    (ev,) = _hub_events(hub, "audit_head_backwards")
    assert ev["detail"]["anchor_seq"] == reported.seq
    assert ev["detail"]["reported_seq"] < reported.seq


@pytest.mark.integration
def test_a_rewritten_chain_is_a_fork_at_the_hub(hub, tmp_path: Path, make_settings: Any):
    paths = DataPaths(tmp_path / "kiosk").ensure()
    cat = Catalog(paths.catalog)
    enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token().uri), catalog=cat)
    cat.close()
    _deliver_one(paths, make_settings, seed=1)
    rewrite_and_rehash(paths.root, 2, "mallory")
    _deliver_one(paths, make_settings, seed=2)  # the chain grew: prev head now differs
    (ev,) = _hub_events(hub, "audit_fork")
    assert ev["detail"]["prev_head"] != ev["detail"]["known_prev_head"]
    assert not _hub_events(hub, "audit_head_backwards")
    assert wait_for(lambda: "a fork" in hub.log_path.read_text(), 5)


def _enrollment(db: Any) -> str:
    import sqlalchemy as sa

    from provisioning.hub.db import certificates

    with db.engine.connect() as conn:
        return conn.execute(
            sa.select(certificates.c.enrollment_id).where(certificates.c.kiosk_id == KIOSK)
        ).scalar_one()
