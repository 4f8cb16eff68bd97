"""Run ``scanimage`` in its own process group so that every wait is bounded.

Why a subprocess at all (rather than python-sane in our process): a SANE backend talks to
USB from inside ``sane_read``/``sane_start``; when a scanner wedges, that call never
returns, and a thread stuck in C code cannot be interrupted or killed. A child process can:
SIGTERM first (scanimage's handler calls ``sane_cancel`` so the device can eject the sheet
and park), then SIGKILL of the whole group (some backends fork reader processes). If even
SIGKILL does not reap it (a process blocked in the kernel on a dead USB device), we stop
waiting and let a daemon thread reap it later: the kiosk moves on either way.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

TERM_GRACE_S = 1.0
KILL_GRACE_S = 2.0
#: How long scanimage may tidy up (sane_cancel, sane_close) after reporting the end of the
#: batch. SANE's own test backend deadlocks there now and then (its reader thread dies
#: holding a malloc lock, sane_cancel joins it forever); real backends can too.
CLEANUP_GRACE_S = 2.0
#: How often an idle wait looks at stderr for the end-of-batch line.
POLL_S = 0.2
BATCH_END = "Batch terminated"


def scanimage_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for scanimage: ours, with messages forced to untranslated English.

    errors.classify() matches sane_strstatus() texts; a Vietnamese or German locale would
    translate them. SANE_CONFIG_DIR and friends pass through unchanged.
    """
    env = dict(os.environ)
    env.update({"LC_ALL": "C", "LANG": "C", "LANGUAGE": ""})
    if extra:
        env.update(extra)
    return env


class ScanTimeout(Exception):
    """No progress from scanimage within the allowed time; the process has been ended."""


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """End ``proc`` and its process group without ever blocking for long."""
    if proc.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    # Unkillable for now (blocked in the kernel): reap it whenever it lets go.
    threading.Thread(target=proc.wait, name=f"reap-scanimage-{proc.pid}", daemon=True).start()


def run_capture(
    argv: Sequence[str], timeout_s: float, env: Mapping[str, str]
) -> tuple[int, str, str]:
    """Run a short scanimage command (listing, option query); return (rc, stdout, stderr).

    Raises ScanTimeout after ending the process if it does not finish in ``timeout_s``.
    """
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        terminate(proc)
        _close_pipes(proc)
        raise ScanTimeout(f"{argv[0]} gave no answer within {timeout_s:g} s") from None
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


class BatchProcess:
    """A running ``scanimage --batch --batch-print``: yields page files as they complete.

    scanimage writes each page to ``NAME.part`` and renames it before printing the name,
    so a printed name is a finished page. stderr goes to a file, not a pipe, so a chatty
    backend can never fill a pipe and stall the scan while we wait on stdout.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self.timed_out = False
        #: scanimage reported the end of the batch but then did not exit; it was ended.
        self.hung_after_end = False
        with open(stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env=dict(env),
                start_new_session=True,
            )

    def pages(self, timeout_s: float) -> Iterator[Path]:
        """Yield each finished page file; raise ScanTimeout if one takes over ``timeout_s``.

        The clock restarts at every page: a 100-sheet batch may run for many minutes, and
        what must be bounded is the wait for the *next* sign of life.
        """
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buffer = b""
        deadline = time.monotonic() + timeout_s
        ended_at: float | None = None
        while True:
            now = time.monotonic()
            if ended_at is not None and now - ended_at > CLEANUP_GRACE_S:
                # The outcome is already on stderr; only the tidy-up is stuck.
                self.hung_after_end = True
                terminate(self.proc)
                return
            remaining = deadline - now
            if remaining <= 0:
                self.timed_out = True
                terminate(self.proc)
                raise ScanTimeout(f"no page from the scanner within {timeout_s:g} s")
            ready, _, _ = select.select([fd], [], [], min(remaining, POLL_S))
            if not ready:
                if ended_at is None and BATCH_END in self.stderr():
                    ended_at = time.monotonic()
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                if buffer.strip():
                    yield Path(buffer.decode("utf-8", "replace").strip())
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    yield Path(line.decode("utf-8", "replace").strip())
                    deadline = time.monotonic() + timeout_s

    def finish(self, timeout_s: float) -> tuple[int, str]:
        """Wait (bounded) for the exit after stdout closed; return (rc, stderr text)."""
        try:
            rc = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.timed_out = True
            terminate(self.proc)
            raise ScanTimeout(f"scanimage did not exit within {timeout_s:g} s") from None
        return rc, self.stderr()

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def close(self) -> None:
        """End the process if it still runs (consumer stopped early, or an error)."""
        terminate(self.proc)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
