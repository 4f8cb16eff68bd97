"""Every message the core can produce reaches the screen from the catalogs, in Vietnamese
and in English (issue 16: the live view's "No page found" stayed English on the Vietnamese
screen because the script kept its own table of strings the catalog never saw)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from firmware.pipeline.messages import MESSAGES as PIPELINE_MESSAGES
from kiosk_ui import labels
from kiosk_ui.i18n import JS_MESSAGES, Translator, catalog
from kiosk_ui.routers.live import tr_live

ROOT = Path(__file__).resolve().parents[2]
VI, EN = Translator("vi"), Translator("en")


SCRIPTS = ROOT / "kiosk_ui" / "static" / "js"


def vietnamese(text: str) -> bool:
    return "đ" in text.lower() or any(
        unicodedata.combining(c) for c in unicodedata.normalize("NFD", text)
    )


def test_the_script_only_shows_strings_it_was_given_translated():
    """A literal T("...") in the screens' modules that is not in JS_MESSAGES is shown in
    English."""
    script = "\n".join(p.read_text() for p in sorted(SCRIPTS.rglob("*.js")))
    used = set(re.findall(r'\bT\("((?:[^"\\]|\\.)*)"\)', script))
    assert used, "no T() calls found: the pattern no longer matches the script"
    assert sorted(used - set(JS_MESSAGES)) == []


@pytest.mark.parametrize("code", sorted(PIPELINE_MESSAGES))
def test_every_quality_code_of_the_pipeline_in_both_languages(code):
    assert code in labels.QUALITY, f"{code}: the screen has no wording for it"
    vi, en = VI._(labels.QUALITY[code]), EN._(labels.QUALITY[code])
    assert vietnamese(vi) and vi != en, (code, vi)
    assert vietnamese(PIPELINE_MESSAGES[code][0])


@pytest.mark.parametrize("reason", ["no_page", "cut_off", "too_dark", "camera"])
def test_every_live_view_reason_in_both_languages(reason):
    """The reasons kiosk_ui.live produces, as the /live call sends them."""
    vi, en = tr_live(reason, VI), tr_live(reason, EN)
    assert vietnamese(vi) and vi != en and en != reason


def test_the_other_code_tables_are_translated():
    from firmware.export.exporter import MESSAGES as EXPORT_MESSAGES

    vi = catalog("vi")
    tables = {
        "states": [m for m, _ in labels.DOC_STATES.values()],
        "levels": [m for _, m in labels.CONFIDENTIALITY],
        "preflight": list(labels.PREFLIGHT.values()),
        "live": list(labels.LIVE_REASONS.values()),
        "script": list(JS_MESSAGES),
    }
    missing = {k: [m for m in ids if not vi.get(m)] for k, ids in tables.items()}
    assert not any(missing.values()), missing
    # Document types are named by their registry (firmware.metadata.types), in both languages.
    from firmware.config import MetadataConfig
    from firmware.metadata.types import registry

    for t in registry(MetadataConfig().document_types).types:
        assert vietnamese(t.name) and t.name_en, t
    for code, (msg_en, msg_vi) in EXPORT_MESSAGES.items():  # (en, vi) in this table
        assert vietnamese(msg_vi) and msg_en and msg_vi != msg_en, code


AUDIT_CALL = re.compile(
    r'\b(?:audit|update_page|update_document|_append_audit)\(\s*[^,()"]+,\s*"([a-z_]+\.[a-z_]+)"'
)


def test_every_audit_action_and_role_reads_as_words_in_both_languages():
    """The maintenance screen's audit log and operator list (they showed English codes)."""
    from firmware.store.states import DocState, PageState
    from kiosk_ui.audit_words import ACTIONS, ROLES, action_label, role_label

    found = set()
    for folder in ("firmware", "kiosk_ui", "drivers"):
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(AUDIT_CALL.findall(path.read_text()))
    assert len(found) > 20, found
    found |= {f"document.{s.value}" for s in DocState} | {f"page.{s.value}" for s in PageState}
    unlabelled = sorted(a for a in found if action_label(a, EN) == a)
    assert unlabelled == []
    for action in found:
        assert vietnamese(action_label(action, VI)), action
    vi = catalog("vi")
    assert [m for m in [*ACTIONS.values(), *ROLES.values()] if not vi.get(m)] == []
    for role in ("operator", "archivist", "maintainer"):
        assert vietnamese(role_label(role, VI)) and role_label(role, EN) != role


@pytest.mark.parametrize("code", ["blurred", "glare", "cut_off", "too_dark", "no_page", "corrupt"])
def test_a_page_sent_back_says_what_to_do_and_to_retake(code):
    """Issue 16: "Ảnh quá tối" or "Không tìm thấy trang tài liệu" alone left the clerk
    guessing what to do; each reason a page is sent back for says how to fix the shot and
    to retake it, on the screen (catalog) and in the pipeline's own report."""
    vi = VI._(labels.QUALITY[code])
    assert "chụp lại" in vi and vi != VI._(labels.QUALITY["blank"]), vi
    assert "retake" in EN._(labels.QUALITY[code])
    assert "chụp lại" in PIPELINE_MESSAGES[code][0]
