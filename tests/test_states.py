"""The state machines: legal paths work, illegal ones raise before anything is written."""

import pytest

from firmware.catalog import Catalog
from firmware.states import (
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
