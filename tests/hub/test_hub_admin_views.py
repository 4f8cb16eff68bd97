"""The admin page's filters: an event's details are read by IT staff, not by Python."""

from __future__ import annotations

from provisioning.hub.admin.views import disk_gb, event_detail


def test_event_details_leave_out_empty_values_and_python_words():
    text = event_detail(
        {
            "code": None,
            "reason": "",
            "duplicate": False,
            "changes": [{"key": "metadata.document_types", "old": None, "new": "ĐA=Đề án"}],
            "version": 12,
        }
    )
    assert text == (
        'changes: [{"key": "metadata.document_types", "old": null, "new": "ĐA=Đề án"}]; '
        "duplicate: không / no; version: 12"
    )
    assert event_detail(None) == "" and event_detail({}) == ""
    assert disk_gb(81_300_000_000) == "81,3 GB" and disk_gb(None) == "—"
