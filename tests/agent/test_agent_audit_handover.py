"""The agent's audit records reach the kiosk's hash-chained log exactly once, in order, with
the chain intact; a damaged record is recorded as such instead of stopping the take-over; a
restarted kiosk resumes where its catalog says; and nothing the agent leaves (or fails to
leave) in its directory can stop the kiosk's status round."""

from __future__ import annotations

import json

from firmware.fleet.agent_audit import TAKEN_KEY, AgentAuditLog, AuditTakeOver, audit_dir
from firmware.fleet.link import read_status_file
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from tests.support.fleet import publisher


def _agent_actions(catalog: Catalog) -> list[tuple[str, int]]:
    return [
        (r["action"], r["details"]["agent_seq"])
        for r in catalog.audit_records()
        if "agent_seq" in (r["details"] or {})
    ]


def test_records_are_taken_once_in_order_across_kiosk_restarts(make_settings, tmp_path):
    settings = make_settings()
    paths = DataPaths(settings.data_dir).ensure()
    state = tmp_path / "var-agent"
    log = AgentAuditLog(state)
    log.audit("agent", "command.started", id="c1", kind="doctor")
    log.audit("agent", "command.done", id="c1", kind="doctor")
    catalog = Catalog(paths.catalog)
    assert AuditTakeOver(catalog, state)() == {TAKEN_KEY: 2}
    log.audit("agent", "config.applied", version=3)
    catalog.close()

    catalog = Catalog(paths.catalog)  # the kiosk restarted: it resumes from its catalog
    take = AuditTakeOver(catalog, state)
    assert take() == {TAKEN_KEY: 3}
    assert take() == {TAKEN_KEY: 3}  # nothing new, nothing doubled
    assert _agent_actions(catalog) == [
        ("command.started", 1),
        ("command.done", 2),
        ("config.applied", 3),
    ]
    done = [r for r in catalog.audit_records() if r["action"] == "command.done"][0]
    assert done["actor"] == "agent" and done["details"]["id"] == "c1"
    assert catalog.verify_audit().ok

    # the agent drops what was taken; a fresh agent (state lost) does not reuse numbers
    assert log.prune(3) == 3 and list(audit_dir(state).iterdir()) == []
    again = AgentAuditLog(state, floor=3)
    assert again.audit("agent", "update.committed", version="1.1")["seq"] == 4
    catalog.close()


def test_a_damaged_record_is_noted_and_the_next_ones_still_taken(make_settings, tmp_path):
    settings = make_settings()
    paths = DataPaths(settings.data_dir).ensure()
    state = tmp_path / "var-agent"
    log = AgentAuditLog(state)
    log.audit("agent", "command.started", id="c2", kind="reboot")
    (audit_dir(state) / "000000000002.json").write_text("{not json")
    # details named like the audit call's own keywords, which the agent's ``audit()`` cannot
    # write (the take-over used to stop at such a file with a TypeError, every round)
    for seq, details in ((3, {"doc_id": "d1"}), (4, {"agent_at": "then"})):
        record = {"seq": seq, "at": "now", "actor": "agent", "action": "command.done"}
        record |= {"doc_id": None, "page_id": None, "details": details}
        (audit_dir(state) / f"{seq:012d}.json").write_text(json.dumps(record))
    log = AgentAuditLog(state)  # numbering continues after the damaged files
    log.audit("agent", "command.done", id="c2", kind="reboot")
    catalog = Catalog(paths.catalog)
    try:
        assert AuditTakeOver(catalog, state)() == {TAKEN_KEY: 5}
        assert _agent_actions(catalog) == [
            ("command.started", 1),
            ("agent.audit_malformed", 2),
            ("agent.audit_malformed", 3),
            ("agent.audit_malformed", 4),
            ("command.done", 5),
        ]
        assert catalog.verify_audit().ok
    finally:
        catalog.close()


def test_the_status_round_survives_whatever_the_agent_left(make_settings, tmp_path):
    """No agent at all, or an agent directory the kiosk cannot use: the kiosk still
    publishes its status (and keeps scanning: nothing here waits for the agent)."""
    settings = make_settings()
    paths = DataPaths(settings.data_dir).ensure()
    catalog = Catalog(paths.catalog)
    try:
        pub = publisher(settings, catalog, devices={"camera": True})
        pub.publish()  # no agent has ever run: no state dir at all
        status = read_status_file(paths)
        assert status is not None and status[TAKEN_KEY] == 0
        assert status["devices"] == {"camera": True} and status["document_in_progress"] is None
        # a file where the agent's audit directory should be
        state = paths.root.with_name("var-agent")
        state.mkdir()
        (state / "audit").write_text("not a directory")
        (state / "requests").mkdir()
        (state / "requests" / "doctor.json").write_text(json.dumps({"id": "r1"}))
        pub.publish()
        pub.answer_requests()
        assert read_status_file(paths)[TAKEN_KEY] == 0
        answer = json.loads((paths.root / "run" / "doctor.json").read_text())
        assert answer["id"] == "r1" and {c["name"] for c in answer["result"]} >= {"disk"}
    finally:
        catalog.close()
