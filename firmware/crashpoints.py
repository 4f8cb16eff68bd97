"""Named points where tests simulate a power cut (kill -9) in real subprocesses.

``SOHOA_CRASH_AT=seal.after_write`` makes the process group die with SIGKILL the first time
that point is reached, exactly like a power cut: no cleanup, no atexit, no flush. Unset in
production, where :func:`crashpoint` is a dictionary lookup and nothing else.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "capture.after_frame",  # frame durable in spool, not yet in the catalog
    "capture.after_row",  # page row committed, preview not yet written
    "ocr.running",  # inside a worker, before recognition finishes
    "ocr.after_write",  # page image and OCR written, result not yet committed
    "seal.write",  # while the PDF is being written (temp file exists)
    "seal.after_write",  # PDF renamed into place, catalog still says "sealing"
    "seal.before_route",  # catalog says "sealed", the routing step (uplink outbox) not run
)


def crashpoint(name: str) -> None:
    if os.environ.get("SOHOA_CRASH_AT") == name:
        try:
            os.killpg(os.getpgrp(), signal.SIGKILL)
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
