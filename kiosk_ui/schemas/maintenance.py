"""The maintenance screen's report (:func:`kiosk_ui.maintenance.report`)."""

from __future__ import annotations

from pydantic import Field

from kiosk_ui.schemas.base import OperatorView, Payload
from kiosk_ui.schemas.status import KioskStatus


class CheckView(Payload):
    name: str
    ok: bool
    detail: str
    fix: str = Field(description="What to do; empty when the check passed.")


class AuditLine(Payload):
    seq: int
    ts: str
    actor: str
    action: str
    action_label: str
    doc_id: str | None


class Storage(Payload):
    free: int
    total: int
    data_dir: str
    spool: int
    work: int
    sealed: int


class About(Payload):
    """:func:`kiosk_ui.maintenance.about`: for IT on the phone with the office."""

    version: str
    kiosk_id: str | None
    backlog: int | None
    waiting: int | None
    delivered: int | None
    hub: str
    enrolled: bool | None
    certificate_expires: str
    last_success: str


class MaintainedOperator(OperatorView):
    role_label: str
    disabled: bool
    locked: bool


class MaintenanceReport(Payload):
    checks: list[CheckView]
    audit: list[AuditLine]
    storage: Storage
    status: KioskStatus
    about: About
    operators: list[MaintainedOperator]
