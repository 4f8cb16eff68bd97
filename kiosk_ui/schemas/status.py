"""The status bar and the digitization progress (:mod:`kiosk_ui.routers.status`), and the
kiosk's own status (:meth:`firmware.kiosk.Kiosk.status`) the maintenance screen shows."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from kiosk_ui.export_views import UsbView
from kiosk_ui.schemas.base import ErrorView, Payload
from kiosk_ui.schemas.register import RegisterProgress


class DeviceState(Payload):
    backend: str
    available: bool


class ScannerState(Payload):
    available: bool


class OcrState(Payload):
    available: bool
    backlog: int = Field(description="Pages waiting for OCR.")


class UplinkStatus(Payload):
    """:func:`firmware.uplink.status.uplink_status`."""

    enabled: bool
    enrolled: bool
    hub: str | None
    certificate_expires: str | None
    state: str
    sending: str | None
    waiting: int
    failing: int
    delivered: int
    last_success: str | None
    last_error: dict[str, Any] | None = Field(description="code, messages and when.")
    summary_vi: str
    summary_en: str


class KioskStatus(Payload):
    """:meth:`firmware.kiosk.Kiosk.status`."""

    kiosk_id: str
    camera: DeviceState
    pedal: DeviceState
    scanner: ScannerState
    capture_source: str
    ocr: OcrState
    current_document: str | None
    last_error: ErrorView | None
    audit_head: str
    uplink: UplinkStatus


class NetworkState(Payload):
    """:func:`kiosk_ui.routers.status.network_state`."""

    state: str = Field(description="ok | failing | paused | off")
    uplink: str
    last_success: str | None
    summary_vi: str
    summary_en: str


class DiskUsage(Payload):
    free: int
    total: int


class Explanation(Payload):
    state: str
    todo: str


class StatusBar(Payload):
    """``GET /status``: the status bar."""

    camera: DeviceState
    pedal: DeviceState
    scanner: ScannerState
    capture_source: str
    ocr: OcrState
    usb: UsbView
    network: NetworkState
    upload_queue: int
    disk: DiskUsage
    time: str
    current_document: str | None
    backlog: int
    documents: dict[str, int] = Field(description="Documents per state.")
    last_error: ErrorView | None
    explain: dict[str, Explanation] = Field(
        description="What a tap on each status item says, by the item's id (st-camera...)."
    )


class StateRow(Payload):
    """:func:`kiosk_ui.views.state_rows`."""

    state: str
    label: str
    tone: str
    count: int


class Progress(Payload):
    """``GET /progress``: the Progress screen."""

    states: list[StateRow]
    digitized_documents: int
    digitized_pages: int
    total_documents: int
    register_: RegisterProgress = Field(alias="register")


class UpdateState(Payload):
    """:func:`firmware.fleet.link.read_update_state`: the public part of the agent's update
    journal (absent keys stay absent: nothing published is no update)."""

    switching: bool = Field(description="The screen says the software is being updated.")
    step: str | None = None
    version: str | None = None
    previous: str | None = None
    outcome: str | None = None
    reason: str | None = None
    attempts: int | None = None
    written_at: str | None = None
