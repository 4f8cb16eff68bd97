"""The state machines: legal paths work, illegal ones raise before anything is written."""

import pytest

from firmware.store.catalog import Catalog
from firmware.store.states import (
    DOC_TRANSITIONS,
    PAGE_TRANSITIONS,
    DocState,
    IllegalTransition,
    PageState,
    check_document,
)


def test_every_state_has_a_row():
    assert set(DOC_TRANSITIONS) == set(DocState)
    assert set(PAGE_TRANSITIONS) == set(PageState)


def test_terminal_states_have_no_exit():
    assert DOC_TRANSITIONS[DocState.PURGED] == frozenset()
    assert DOC_TRANSITIONS[DocState.DISCARDED] == frozenset()
    assert PAGE_TRANSITIONS[PageState.DELETED] == frozenset()


def test_sealed_document_cannot_go_back_to_capturing():
    with pytest.raises(IllegalTransition):
        check_document("d", "sealed", "capturing")


def test_happy_path_through_catalog(tmp_path):
    cat = Catalog(tmp_path / "c.db")
    doc = cat.create_document("clerk")
    cat.add_page(doc["id"], "clerk", page_id="P1", frame_path="f", frame_sha256="x")
    assert cat.get_document(doc["id"])["state"] == "capturing"
    for target in ("processing", "review", "sealing", "sealed", "queued", "delivered", "purged"):
        cat.transition_document(doc["id"], target, "clerk")
    assert cat.get_document(doc["id"])["state"] == "purged"
    actions = [r["action"] for r in cat.audit_records(doc_id=doc["id"])]
    assert actions[-1] == "document.purged"
    assert "document.sealed" in actions


def test_illegal_transition_writes_nothing(tmp_path):
    cat = Catalog(tmp_path / "c.db")
    doc = cat.create_document("clerk")
    before = cat.audit_head()
    with pytest.raises(IllegalTransition):
        cat.transition_document(doc["id"], "sealed", "clerk")
    assert cat.get_document(doc["id"])["state"] == "open"
    assert cat.audit_head() == before


def test_pages_cannot_be_added_to_a_sealed_document(tmp_path):
    cat = Catalog(tmp_path / "c.db")
    doc = cat.create_document("clerk")
    cat.add_page(doc["id"], "clerk", page_id="P1", frame_path="f", frame_sha256="x")
    for target in ("processing", "review", "sealing", "sealed"):
        cat.transition_document(doc["id"], target, "clerk")
    with pytest.raises(IllegalTransition):
        cat.add_page(doc["id"], "clerk", page_id="P2", frame_path="g", frame_sha256="y")


def test_state_sets_are_named_once_in_firmware_states():
    """No module keeps its own copy of the digitized / editable / capturing sets."""
    import re

    from tests.conftest import ROOT

    copies = re.compile(
        r"\(\s*[\"']sealed[\"'],\s*[\"']queued[\"']"  # a digitized-states tuple
        r"|[\"']open[\"'],\s*[\"']capturing[\"'],\s*[\"']processing[\"']"  # editable states
        r"|\(\s*[\"']open[\"'],\s*[\"']capturing[\"']\s*\)"  # capturing states
    )
    found = []
    for folder in ("firmware", "kiosk_ui"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".html") or path.name == "states.py":
                continue
            if path.name == "schema.py":  # a migration's frozen backfill stays as written
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if copies.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, found


def test_digitized_states_include_purged_and_exclude_work_in_progress():
    from firmware.store.states import DOC_BEFORE_SEAL, DOC_DIGITIZED, DOC_EDITABLE, DocState

    assert DocState.PURGED in DOC_DIGITIZED and DocState.EXPORTED in DOC_DIGITIZED
    assert not DOC_DIGITIZED & DOC_BEFORE_SEAL
    assert DOC_EDITABLE < DOC_BEFORE_SEAL and DocState.SEALING in DOC_BEFORE_SEAL
