"""The answers of the register routes (:mod:`kiosk_ui.routers.register`): sources, imports,
registers, progress, custody of originals, and a document's register entry."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from firmware.register.importer import ImportReport
from kiosk_ui.schemas.base import ErrorView, Payload
from kiosk_ui.schemas.documents import RegisterCandidate

#: A row of the catalog as stored (a register entry, a custody record): its columns.
Row = dict[str, Any]


class SourceView(Payload):
    """:class:`firmware.register.sources.Source`."""

    id: str
    name: str
    where: str = Field(description='"import" | "usb"')
    label: str
    size: int


class ImportRecord(Payload):
    """One import that wrote rows (:func:`firmware.register.history.imports`)."""

    seq: int
    at: str
    by: str
    register_: str = Field(alias="register")
    file: str
    sha256: str
    imported: int
    undone: bool
    undoable: bool


class Rejection(Payload):
    line: int
    reason: str = Field(description="In the session's language.")


class ImportJob(Payload):
    """:func:`kiosk_ui.routers.register.job_view`: ``message`` once it ended (or failed),
    ``rejected`` once it is done."""

    id: str
    state: str = Field(description="running | done | failed")
    phase: str
    done: int
    total: int | None
    report: ImportReport | None = Field(
        description="What the import did (the firmware's own dataclass, field for field)."
    )
    error: ErrorView | None
    message: str | None = None
    rejected: list[Rejection] | None = None


class ImportPreview(Payload):
    """:func:`kiosk_ui.routers.register.preview_view`: ``previous_message`` only when the
    same file was imported before."""

    register_: str = Field(alias="register")
    file: str
    sha256: str
    rows: int
    imported: int
    already_present: int
    rejected: int
    date_from: str | None
    date_to: str | None
    period: str
    previous: ImportRecord | None
    message: str
    previous_message: str | None = None


class ImportUndone(Payload):
    import_seq: int
    removed: int
    register_: str = Field(alias="register")


class RegisterRow(Payload):
    """:func:`firmware.register.history.registers` (without the file's hash)."""

    id: int
    name: str
    direction: str
    imported_at: str | None
    source_name: str | None
    entries: int
    matched: int


class Totals(Payload):
    total: int
    digitized: int


class YearRow(Totals):
    year: int | None
    remaining: int


class TypeRow(Totals):
    doc_type: str
    remaining: int


class RegisterTotals(Totals):
    id: int
    name: str
    direction: str
    selected: int
    selected_remaining: int
    remaining: int
    years: list[YearRow]
    types: list[TypeRow]


class CustodyItem(Payload):
    """An original not returned (:func:`firmware.register.custody.not_returned`)."""

    id: int
    document_id: str | None
    entry_id: int | None
    out_at: str
    out_by: str
    out_by_name: str | None
    title: str | None
    state: str | None
    number_symbol: str | None
    date: str | None
    subject: str | None
    register_: str | None = Field(alias="register")
    number_shown: str
    date_shown: str
    subject_shown: str


class RuleView(Payload):
    """:meth:`firmware.register.selection.Rule.to_dict`."""

    id: int | None = Field(description="None for a rule from the configuration.")
    source: str = Field(description='"config" | "catalog"')
    date_from: str | None
    date_to: str | None
    doc_types: list[str]
    direction: str | None
    text_vi: str
    text_en: str


class RegisterProgress(Payload):
    """:func:`kiosk_ui.views.progress_data`."""

    registers: list[RegisterTotals]
    directions: dict[str, Totals]
    years: list[int] | None = Field(description="First and last year, None without entries.")
    summary_vi: str
    summary_en: str
    top_secret_not_digitized: int
    sealed_not_in_register: int
    custody: list[CustodyItem]
    rules: list[RuleView]


class Returned(Payload):
    id: int
    returned: bool


class SelectionVerdict(Payload):
    inside: bool | None = Field(description="None: cannot tell yet (no date).")
    message: str


class DocumentRegister(Payload):
    """:func:`firmware.register.hooks.review_info`, its verdict in the session's language."""

    linked: Row | None
    chosen: Row | None
    candidates: list[RegisterCandidate]
    selection: SelectionVerdict
    custody: list[Row]
    none_chosen: bool


class EntryChosen(Payload):
    document: str
    entry_id: int | None
