"""Catalog on a real SQLite file: WAL, migrations, pages, FTS with and without diacritics."""

import sqlite3

import pytest

from firmware.store.catalog import Catalog, NotFound


@pytest.fixture
def cat(tmp_path):
    c = Catalog(tmp_path / "catalog.db")
    yield c
    c.close()


def test_wal_mode_and_schema_version(cat, tmp_path):
    mode = cat.db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    from firmware.store.catalog import MIGRATIONS

    assert cat.schema_version == MIGRATIONS[-1][0]
    # reopening applies nothing new
    again = Catalog(tmp_path / "catalog.db")
    assert again.migrate() == []
    again.close()


def test_page_order_retake_and_delete(cat):
    doc = cat.create_document("clerk")
    for i in range(3):
        cat.add_page(doc["id"], "clerk", page_id=f"P{i}", frame_path=f"f{i}", frame_sha256="x")
    cat.add_page(
        doc["id"], "clerk", page_id="P1b", frame_path="f1b", frame_sha256="y", replaces="P1"
    )
    pages = cat.pages(doc["id"])
    assert [p["id"] for p in pages] == ["P0", "P1b", "P2"]
    assert [p["seq"] for p in pages] == [1, 2, 3]
    assert cat.get_document(doc["id"])["page_count"] == 3
    cat.transition_page("P0", "deleted", "clerk")
    assert cat.get_document(doc["id"])["page_count"] == 2
    # the replaced page is still there for the record, just not live
    assert len(cat.pages(doc["id"], include_deleted=True)) == 5 - 1


def test_reorder_requires_every_page(cat):
    doc = cat.create_document("clerk")
    for i in range(3):
        cat.add_page(doc["id"], "clerk", page_id=f"P{i}", frame_path=f"f{i}", frame_sha256="x")
    with pytest.raises(ValueError):
        cat.reorder_pages(doc["id"], ["P0", "P1"], "clerk")
    cat.reorder_pages(doc["id"], ["P2", "P0", "P1"], "clerk")
    assert [p["id"] for p in cat.pages(doc["id"])] == ["P2", "P0", "P1"]


@pytest.mark.parametrize(
    "query",
    ["ha noi", "Hà Nội", "HA NOI", "dang cong san", "ĐẢNG", "so hoa tai lieu", "64-CV"],
)
def test_search_with_and_without_diacritics(cat, query):
    doc = cat.create_document("clerk", title="Công văn")
    cat.add_page(doc["id"], "clerk", page_id="P1", frame_path="f", frame_sha256="x")
    cat.set_page_text(
        doc["id"],
        "P1",
        "ĐẢNG CỘNG SẢN VIỆT NAM\nHà Nội, ngày 10 tháng 4 năm 2025\nSố 64-CV/TW\n"
        "V/v số hóa tài liệu lưu trữ",
    )
    hits = cat.search(query)
    assert [h["doc_id"] for h in hits] == [doc["id"]]


def test_search_misses_and_deleted_pages(cat):
    doc = cat.create_document("clerk")
    cat.add_page(doc["id"], "clerk", page_id="P1", frame_path="f", frame_sha256="x")
    cat.set_page_text(doc["id"], "P1", "Hà Nội")
    assert cat.search("Huế") == []
    assert cat.search('"; DROP TABLE pages; --') == []
    cat.transition_page("P1", "deleted", "clerk")
    assert cat.search("ha noi") == []


def test_unknown_ids(cat):
    with pytest.raises(NotFound):
        cat.get_document("nope")
    with pytest.raises(NotFound):
        cat.transition_page("nope", "done", "x")


def test_committed_transition_survives_a_new_connection(cat, tmp_path):
    doc = cat.create_document("clerk")
    conn = sqlite3.connect(tmp_path / "catalog.db")
    state = conn.execute("SELECT state FROM documents WHERE id = ?", [doc["id"]]).fetchone()
    assert state == ("open",)


def test_connections_of_finished_threads_are_closed(cat):
    """The pedal's release timer and request workers are short-lived threads: each gets
    its own connection, and the connections of finished threads must not pile up."""
    import threading

    doc = cat.create_document("clerk")

    def read() -> None:
        assert cat.get_document(doc["id"])["id"] == doc["id"]

    for _ in range(25):
        t = threading.Thread(target=read)
        t.start()
        t.join()
    assert len(cat._conns) <= 2  # this thread's and the newest one's
    with pytest.raises(NotFound):
        cat.get_page("P-missing")
    with pytest.raises(NotFound):
        cat.get_document("D-missing")
