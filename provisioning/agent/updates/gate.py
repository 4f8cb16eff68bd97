"""The health gate, local only: after a switch the service must start, pass the new
release's own self-test (``sohoa selftest``'s checks, run by the restarted service itself,
since the agent's user may not open the catalog or the devices) and not crash-loop for the
trial period. Nothing here asks
the hub anything: an unreachable hub is never a reason to roll back (the complaint about
Mender), and a release is committed only after it really ran (the complaint about hawkBit).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firmware.fleet.link import KioskGaveUp, ask_kiosk
from firmware.store.paths import DataPaths
from provisioning.agent.updates.supervisor import Supervisor


@dataclass(frozen=True)
class GateConfig:
    trial_s: float = 300.0  # how long the service must stay up after the self-test
    max_restarts: int = 2  # automatic restarts tolerated during the trial
    start_timeout_s: float = 60.0
    selftest_timeout_s: float = 180.0
    poll_s: float = 0.2


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    seconds: float = 0.0
    #: no verdict: the agent stops (its in-process service with it), which says nothing
    #: about the release; the journal stays at ``trial`` as after a power cut
    interrupted: bool = False


def kiosk_selftest(
    paths: DataPaths, state_dir: Path, supervisor: Supervisor
) -> Callable[[float], tuple[bool, str]]:
    """Ask the restarted service for ``sohoa selftest``'s checks (:func:`ask_kiosk`): the
    switched-to release's own code, run as the kiosk's user, which may open the catalog and
    the devices (the agent's user may not). The wait ends early when the service crashes."""

    def run(timeout_s: float) -> tuple[bool, str]:
        base = supervisor.restarts()

        def crashed() -> str | None:
            if supervisor.restarts() > base or not supervisor.active():
                words = supervisor.last_words()
                said = f" (its last words: {words})" if words else ""
                return f"the service stopped before it answered{said}"
            return None

        try:
            answer = ask_kiosk(
                paths, state_dir, "selftest", uuid.uuid4().hex, timeout_s, give_up=crashed
            )
        except KioskGaveUp as exc:
            return False, f"self-test failed: {exc}"
        if answer is None:
            return False, f"self-test did not answer within {timeout_s:.0f} s"
        checks = answer.get("result")
        if not isinstance(checks, list) or not checks:
            return False, "self-test failed: the service's answer holds no checks"
        failed = [c for c in checks if not c.get("ok")]
        if failed:
            first = failed[0]
            return False, f"self-test failed: {first.get('name')}: {first.get('reason_en')}"[:300]
        return True, ""

    return run


class HealthGate:
    def __init__(
        self,
        supervisor: Supervisor,
        selftest: Callable[[float], tuple[bool, str]],
        config: GateConfig | None = None,
    ):
        self.supervisor = supervisor
        self.selftest = selftest
        self.config = config or GateConfig()
        #: set when the agent stops: a trial under way ends without a verdict
        self.stopping = threading.Event()

    def _crashes(self, base: int) -> int:
        return self.supervisor.restarts() - base

    def judge(self) -> Verdict:
        """Restart the service on ``current`` and decide whether it is healthy."""
        cfg, started = self.config, time.monotonic()

        def fail(reason: str) -> Verdict:
            if self.stopping.is_set():
                return Verdict(False, "the agent stopped", time.monotonic() - started, True)
            return Verdict(False, reason, time.monotonic() - started)

        base = self.supervisor.restarts()
        self.supervisor.restart()
        deadline = started + cfg.start_timeout_s
        while not self.supervisor.active():
            if time.monotonic() > deadline:
                return fail(f"the service did not start within {cfg.start_timeout_s:.0f} s")
            time.sleep(cfg.poll_s)
        ok, reason = self.selftest(cfg.selftest_timeout_s)
        if not ok:
            return fail(reason)
        trial_end = time.monotonic() + cfg.trial_s
        while time.monotonic() < trial_end:
            if self.stopping.is_set():
                return fail("the agent stopped")
            crashes = self._crashes(base)
            if crashes > cfg.max_restarts:
                return fail(
                    f"crash loop: the service restarted {crashes} times within "
                    f"{time.monotonic() - started:.0f} s of the switch"
                )
            time.sleep(cfg.poll_s)
        if (
            self.stopping.is_set()
            or not self.supervisor.active()
            or self._crashes(base) > cfg.max_restarts
        ):
            return fail("the service was not running at the end of the trial")
        return Verdict(True, "", time.monotonic() - started)
