"""What restarts the kiosk service after a switch, and counts its crashes.

:class:`SystemdSupervisor` is the kiosk's (``systemctl restart sohoa.service``, as the remote restart command does; the unit has
``Restart=always``, systemd counts automatic restarts in ``NRestarts``).
:class:`ProcessSupervisor` does the same job in-process for tests and development machines:
it runs ``<root>/current/bin/sohoa <args>`` (resolved at every start, so a restart after a
switch runs the new release) and starts it again whenever it exits, after
``restart_delay_s``, like ``Restart=always``/``RestartSec=``. Like systemd's
``KillMode=control-group`` it also ends what the service left behind (the OCR pool's worker
processes outlive a killed ``sohoa run``): every process started carries a token in its
environment, and every process with that token is killed when the service stops or dies.
The service stays in the supervisor's process group, so a simulated power cut (the
crash points kill the group) takes it down too.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import uuid
from pathlib import Path
from typing import IO, Protocol

import psutil

from provisioning.agent.system import KIOSK_UNIT, SystemdSystem


class Supervisor(Protocol):
    def restart(self) -> None:
        """(Re)start the service on whatever ``current`` points at now."""

    def restarts(self) -> int:
        """Automatic restarts so far (crashes); only differences matter."""

    def active(self) -> bool:
        """The service process is running right now."""

    def last_words(self) -> str:
        """The last line the service wrote (its crash's last traceback line), or ""."""

    def stop(self) -> None:
        """Stop supervising: a service this supervisor runs itself ends with it (the
        in-process one); one the system supervises (systemd's unit) goes on running."""


class SystemdSupervisor:
    """The kiosk's: the restart goes through :class:`SystemdSystem` (the one place that
    knows how the agent may restart the kiosk's unit); the counters are read-only queries."""

    def __init__(self, state_dir: Path, unit: str = KIOSK_UNIT):
        self.unit = unit
        self.system = SystemdSystem(state_dir, unit)

    def _query(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=60)

    def restart(self) -> None:
        self.system.restart_service()

    def restarts(self) -> int:
        out = self._query("show", "-p", "NRestarts", "--value", self.unit).stdout.strip()
        return int(out or 0)

    def active(self) -> bool:
        return self._query("is-active", "--quiet", self.unit).returncode == 0

    def stop(self) -> None:
        """Nothing to end: systemd, not the agent, runs the kiosk's unit (``Restart=always``)."""

    def last_words(self) -> str:
        """From the unit's journal (the agent's user reads it through the
        ``systemd-journal`` group); "" when the journal cannot be read."""
        try:
            out = subprocess.run(
                ["journalctl", "-u", self.unit, "-n", "20", "-o", "cat", "--no-pager"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
        return last_line(out)


#: How much of the service's output :meth:`ProcessSupervisor.last_words` reads back.
LAST_WORDS_BYTES = 8192
#: The longest last line quoted in a rollback reason (the reason travels to the hub).
LAST_WORDS_CHARS = 200


def last_line(output: str) -> str:
    """The last non-blank line of a service's output, shortened for a rollback reason: for
    a crash it is the exception (``RuntimeError: ...``), which says more to IT than "the
    service stopped"."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    if not lines:
        return ""
    last = lines[-1]
    return last if len(last) <= LAST_WORDS_CHARS else last[: LAST_WORDS_CHARS - 1] + "…"


#: Environment variable marking the processes of one :class:`ProcessSupervisor`.
TOKEN_VAR = "SOHOA_SUPERVISED"


class ProcessSupervisor:
    """A small ``Restart=always`` for one command under a release root."""

    def __init__(
        self,
        root: Path,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        restart_delay_s: float = 0.2,
        log_path: Path | None = None,
    ):
        self.root = Path(root)
        self.args = args
        self.env = env
        self.restart_delay_s = restart_delay_s
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._crashes = 0
        self._generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log: IO[bytes] | None = None
        self.token = uuid.uuid4().hex

    def _spawn(self) -> subprocess.Popen[bytes]:
        exe = self.root / "current" / "bin" / "sohoa"
        if self._log is None and self.log_path is not None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 (kept open while running)
        out = self._log if self._log is not None else subprocess.DEVNULL
        env = {**os.environ, **(self.env or {}), TOKEN_VAR: self.token}
        env.pop("SOHOA_CRASH_AT", None)  # the crash points are the updater's, not the service's
        return subprocess.Popen(
            [str(exe), *self.args], stdout=out, stderr=out, env=env, cwd=self.root
        )

    def _watch(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                proc, gen = self._proc, self._generation
            if proc is None or proc.poll() is None:
                self._stop.wait(0.05)
                continue
            self._reap()  # what the dead service left running
            if self._stop.wait(self.restart_delay_s):
                return
            with self._lock:
                if gen != self._generation or self._stop.is_set():
                    continue  # restarted on purpose meanwhile
                self._crashes += 1
                try:
                    self._proc = self._spawn()
                except OSError:
                    self._proc = None
                    self._stop.wait(self.restart_delay_s)

    def restart(self) -> None:
        with self._lock:
            self._generation += 1
            self._kill(self._proc)
            try:
                self._proc = self._spawn()
            except OSError:  # no current release: counted as a crash by the watcher
                self._proc = None
                self._crashes += 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
            self._thread.start()

    def restarts(self) -> int:
        with self._lock:
            return self._crashes

    def active(self) -> bool:
        with self._lock:
            return self._proc is not None and self._proc.poll() is None

    def last_words(self) -> str:
        if self.log_path is None:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - LAST_WORDS_BYTES))
                tail = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return last_line(tail)

    def _reap(self) -> None:
        """Kill every process carrying this supervisor's token (the service's leftovers)."""
        found = []
        for p in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if p.pid != os.getpid() and p.environ().get(TOKEN_VAR) == self.token:
                    found.append(p)
        for p in found:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(found, timeout=5)

    def _kill(self, proc: subprocess.Popen[bytes] | None) -> None:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._reap()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            self._kill(self._proc)
            self._proc = None
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
