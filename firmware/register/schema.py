"""Catalog tables of the register (migration 6 of :mod:`firmware.store.catalog`).

``registers``         one per register book (sổ đăng ký văn bản đến / đi) and its last file
``register_entries``  one per line of a register; ``document_id`` is the scanned document
                      it was matched to (NULL until then), ``match_score`` how sure
``selection_rules``   periods, types and directions chosen for digitization (from the CLI;
                      ``[selection]`` in the configuration adds to them)
``custody``           where each original is: checked out to the kiosk (``out_at``) until
                      returned (``returned_at``)

Custody follows the document's own audited transitions through triggers on the audit log:
the ``document.create`` record checks the original out (scanning starts), the
``document.sealed`` or ``document.discarded`` record returns it. So the custody change is
in the same transaction as the transition and its audit record, whatever path (screen,
pedal, CLI, recovery) made it, and no caller can forget it.
"""

from __future__ import annotations

from typing import Any

#: Document states in which the original is still at the kiosk (for the backfill).
_AT_KIOSK = ("open", "capturing", "processing", "review", "sealing", "failed")


def create_register_tables(db: Any) -> None:
    db.execute(
        """
        CREATE TABLE registers (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            created_at TEXT NOT NULL,
            imported_at TEXT NOT NULL,
            source_name TEXT NOT NULL,
            source_sha256 TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE register_entries (
            id INTEGER PRIMARY KEY,
            register_id INTEGER NOT NULL REFERENCES registers(id),
            line INTEGER NOT NULL,
            entry_no TEXT NOT NULL DEFAULT '',
            number TEXT NOT NULL DEFAULT '',
            symbol TEXT NOT NULL DEFAULT '',
            number_symbol TEXT NOT NULL DEFAULT '',
            ns_key TEXT NOT NULL DEFAULT '',
            dup_key TEXT NOT NULL,
            date TEXT NOT NULL,
            year INTEGER NOT NULL,
            received_date TEXT,
            doc_type TEXT NOT NULL DEFAULT '',
            issuer TEXT NOT NULL DEFAULT '',
            subject TEXT NOT NULL DEFAULT '',
            confidentiality TEXT NOT NULL DEFAULT 'thuong',
            party_org_code TEXT NOT NULL DEFAULT '',
            party_member_code TEXT NOT NULL DEFAULT '',
            notes TEXT NOT NULL DEFAULT '',
            document_id TEXT REFERENCES documents(id),
            match_score REAL,
            matched_at TEXT,
            matched_by TEXT,
            UNIQUE (register_id, dup_key)
        )"""
    )
    db.execute("CREATE INDEX register_entries_key ON register_entries(ns_key)")
    db.execute("CREATE INDEX register_entries_date ON register_entries(date)")
    db.execute("CREATE INDEX register_entries_doc ON register_entries(document_id)")
    db.execute(
        "CREATE INDEX register_entries_progress ON register_entries(register_id, year, doc_type)"
    )
    db.execute(
        """
        CREATE TABLE selection_rules (
            id INTEGER PRIMARY KEY,
            date_from TEXT,
            date_to TEXT,
            doc_types TEXT NOT NULL DEFAULT '',
            direction TEXT CHECK (direction IN ('in', 'out')),
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE custody (
            id INTEGER PRIMARY KEY,
            document_id TEXT REFERENCES documents(id),
            entry_id INTEGER REFERENCES register_entries(id),
            out_at TEXT NOT NULL,
            out_by TEXT NOT NULL,
            returned_at TEXT,
            returned_by TEXT,
            return_reason TEXT,
            CHECK (document_id IS NOT NULL OR entry_id IS NOT NULL)
        )"""
    )
    db.execute("CREATE INDEX custody_open ON custody(returned_at, out_at)")
    db.execute("CREATE INDEX custody_doc ON custody(document_id)")
    db.execute("CREATE INDEX custody_entry ON custody(entry_id)")
    db.execute(
        """
        CREATE TRIGGER custody_check_out AFTER INSERT ON audit
        WHEN NEW.action = 'document.create' AND NEW.doc_id IS NOT NULL
        BEGIN
            INSERT INTO custody (document_id, out_at, out_by) VALUES (NEW.doc_id, NEW.ts, NEW.actor);
        END"""
    )
    db.execute(
        """
        CREATE TRIGGER custody_return AFTER INSERT ON audit
        WHEN NEW.action IN ('document.sealed', 'document.discarded') AND NEW.doc_id IS NOT NULL
        BEGIN
            UPDATE custody SET returned_at = NEW.ts, returned_by = NEW.actor,
                return_reason = substr(NEW.action, 10)
            WHERE document_id = NEW.doc_id AND returned_at IS NULL;
        END"""
    )
    marks = ",".join("?" * len(_AT_KIOSK))
    db.execute(
        "INSERT INTO custody (document_id, out_at, out_by) "
        "SELECT d.id, d.created_at, COALESCE((SELECT a.actor FROM audit a WHERE a.doc_id = d.id "
        "AND a.action = 'document.create' LIMIT 1), 'system') "
        f"FROM documents d WHERE d.state IN ({marks})",
        list(_AT_KIOSK),
    )
