"""Named points where tests simulate a power cut (kill -9) in real subprocesses.

``SOHOA_CRASH_AT=seal.after_write`` makes the process group die with SIGKILL the first time
that point is reached, exactly like a power cut: no cleanup, no atexit, no flush. Unset in
production, where :func:`crashpoint` is a dictionary lookup and nothing else.
"""

from __future__ import annotations

import os
import signal

#: Where a kiosk capturing and sealing may lose power (tests/store/test_power_cut.py cuts
#: a real ``sohoa scan`` at each one).
KIOSK_POINTS = (
    "capture.after_frame",  # frame durable in spool, not yet in the catalog
    "capture.after_row",  # page row committed, preview not yet written
    "ocr.running",  # inside a worker, before recognition finishes
    "ocr.after_write",  # page image and OCR written, result not yet committed
    "seal.write",  # while the PDF is being written (temp file exists)
    "seal.after_write",  # PDF renamed into place, catalog still says "sealing"
    "seal.before_route",  # catalog says "sealed", the routing step (uplink outbox) not run
)
#: The agent's software update (provisioning/agent/updates/updater.py): each point is
#: reached when that step's work is done and the next step is not yet journalled
#: (tests/agent/test_update_releases.py cuts a real update at each one).
UPDATE_POINTS = (
    "update.download",
    "update.verify",
    "update.unpack",
    "update.install",
    "update.switch",
    "update.trial",  # the new release passed its self-test, the trial is running
    "update.commit",
    "update.rollback",
    "update.report",
)
POINTS = KIOSK_POINTS + UPDATE_POINTS


def crashpoint(name: str) -> None:
    if os.environ.get("SOHOA_CRASH_AT") == name:
        try:
            os.killpg(os.getpgrp(), signal.SIGKILL)
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
