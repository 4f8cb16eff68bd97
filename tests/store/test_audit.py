"""The hash-chained audit log: append-only, and any edit is found by `sohoa audit verify`."""

import sqlite3

import pytest

from firmware.cli.main import main
from firmware.store.catalog import Catalog


@pytest.fixture
def data_dir(tmp_path):
    cat = Catalog(tmp_path / "catalog.db")
    doc = cat.create_document("clerk")
    cat.add_page(doc["id"], "clerk", page_id="P1", frame_path="f", frame_sha256="x")
    cat.audit("clerk", "signin", role="operator")
    cat.close()
    return tmp_path


def test_chain_verifies(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "audit", "verify"]) == 0
    assert "OK: 4 records" in capsys.readouterr().out


def test_updates_and_deletes_are_refused(data_dir):
    conn = sqlite3.connect(data_dir / "catalog.db")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("DELETE FROM audit WHERE seq = 2")


def _tamper(path, sql):
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    conn.execute(sql)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("UPDATE audit SET actor = 'mallory' WHERE seq = 2", "record 2 was altered"),
        ("DELETE FROM audit WHERE seq = 2", "gap before record 3"),
        ("UPDATE audit SET details = '{}' WHERE seq = 4", "record 4 was altered"),
    ],
)
def test_tampering_is_detected(data_dir, capsys, sql, problem):
    _tamper(data_dir / "catalog.db", sql)
    assert main(["--data-dir", str(data_dir), "audit", "verify"]) == 1
    assert problem in capsys.readouterr().err


def test_rewritten_chain_from_the_middle_is_detected(data_dir):
    """Recomputing one record's hash is not enough: its successor no longer follows."""
    from firmware.store.catalog import audit_hash

    conn = sqlite3.connect(data_dir / "catalog.db")
    conn.row_factory = sqlite3.Row
    rows = conn.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    r = rows[1]
    record = {
        "seq": r["seq"],
        "ts": r["ts"],
        "actor": "mallory",
        "action": r["action"],
        "doc_id": r["doc_id"],
        "page_id": r["page_id"],
        "details": {},
    }
    new_hash = audit_hash(r["prev_hash"], record)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET actor='mallory', details='{}', hash=? WHERE seq=2", [new_hash])
    conn.commit()
    v = Catalog(data_dir / "catalog.db").verify_audit()
    assert not v.ok and v.bad_seq == 3
