"""Is the clerk in the middle of a document or an export? Updates never start then.

Both come from the kiosk's status file (:mod:`firmware.fleet.link`, rewritten every
``STATUS_EVERY_S``): the agent runs as its own user and cannot read the catalog, so the kiosk
publishes ``document_in_progress`` (a document being captured, processed or sealed that
changed lately, :func:`firmware.fleet.link.document_in_progress`) and ``exporting``. What
started less than a status round ago may not be seen yet. No (fresh) status file means the
kiosk service is not running, so nobody is in the middle of anything.
"""

from __future__ import annotations

from firmware.fleet.link import read_kiosk_status
from firmware.store.paths import DataPaths


def document_in_progress(paths: DataPaths) -> str | None:
    """The id of a document the clerk is working on right now, else None."""
    status = read_kiosk_status(paths)
    busy = status.get("document_in_progress") if status else None
    return str(busy) if busy else None


def export_in_progress(paths: DataPaths) -> bool:
    """The running kiosk says an export to a USB stick is writing or verifying."""
    status = read_kiosk_status(paths)
    return bool(status and status.get("exporting"))
