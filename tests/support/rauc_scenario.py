"""One OS update as the kiosk lives it, inside ``unshare -m dbus-run-session`` (see
:mod:`tests.support.rauc`): boot slot A, ``rauc service`` up, the agent's :class:`OsUpdater`
installs the bundle, the machine "reboots" (service down, the bootloader stand-in picks a
slot, ``/proc/cmdline`` says which, service up), the agent judges the boot with the health
gate. Prints one JSON line for the test to check.

    python -m tests.support.rauc_scenario WORK CASE BUNDLE SHA256 LENGTH

CASE: ``healthy`` (self-test passes), ``unhealthy`` (self-test fails), ``no_boot`` (the new
OS never reaches the agent: every boot of it dies), ``wrong_key`` (the bundle is signed by
another key; rauc refuses it), ``cut_before_rauc`` / ``cut_after_rauc`` (power cut with the
journal at ``install``, before rauc ran / after it had switched).

    python -m tests.support.rauc_scenario WORK agent CONFIG

``agent``: the whole agent instead: its heartbeat takes the OS rollout the hub assigns
(checked against TUF, downloaded, installed with rauc), the reboot it asks for happens, the
agent starting on the new slot judges it (``recover_at_start``) and its next heartbeat
reports the outcome. On the new slot the kiosk service's side of the boundary
(:func:`tests.support.fleet.publisher`, what ``sohoa run`` starts) answers the gate's
self-test request with the real ``sohoa selftest`` checks, as the booted kiosk would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from firmware.store.paths import DataPaths
from provisioning.agent.updates.artifact import Expected
from provisioning.agent.updates.gate import GateConfig, HealthGate
from provisioning.agent.updates.os_update import OS_JOURNAL, OsUpdater, Rauc
from provisioning.agent.updates.supervisor import ProcessSupervisor
from tests.support.fleet import publisher
from tests.support.rauc import boot, read_state

SERVICE = """#!/bin/sh
case "$1" in
  selftest) exit "$(cat {rc})" ;;
  *) exec sleep 600 ;;
esac
"""


class Machine:
    """The booted machine of the scenario: /proc/cmdline, the rauc service, power cycles."""

    def __init__(self, work: Path):
        self.work = work
        self.cmdline = work / "cmdline"
        self.service: subprocess.Popen[bytes] | None = None
        self.boots: list[str] = []
        os.environ.update(
            {"SOHOA_BOOTSTATE": str(work / "bootstate"), "DBUS_STARTER_BUS_TYPE": "session"}
        )
        self.cmdline.write_text("root=/dev/sda2 rauc.slot=A\n")
        subprocess.run(["mount", "--bind", str(self.cmdline), "/proc/cmdline"], check=True)
        (work / "mnt").mkdir(exist_ok=True)

    def start(self) -> None:
        log = open(self.work / "rauc-service.log", "ab")  # noqa: SIM115 - the child owns it
        conf, mnt = self.work / "system.conf", self.work / "mnt"
        self.service = subprocess.Popen(
            ["rauc", f"--conf={conf}", f"--mount={mnt}", "service"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if subprocess.run(["rauc", "status"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("rauc service did not come up")

    def stop(self) -> None:
        if self.service is not None:
            self.service.terminate()
            self.service.wait(10)
            self.service = None

    def power_cycle(self) -> str:
        self.stop()
        slot = boot(self.work / "bootstate")
        self.cmdline.write_text(f"root=/dev/sda2 rauc.slot={slot}\n")  # the bind mount shows it
        self.boots.append(slot)
        self.start()
        return slot


def agent_case(work: Path, cfg: Path) -> int:
    from firmware.config import load_settings
    from firmware.store.catalog import Catalog
    from provisioning.agent.agent import Agent
    from provisioning.agent.system import RecordingSystem
    from provisioning.agent.updates.duty import UpdateDuty, recover_at_start

    machine = Machine(work)
    machine.start()
    settings = load_settings(cfg)
    out: dict[str, object] = {}
    try:
        agent = Agent(settings, child_args=["--config", str(cfg)])
        duty = next(d for d in agent.duties if isinstance(d, UpdateDuty))
        agent.step()
        assert duty.wait(180)
        out["error"] = duty.last_error.message_en if duty.last_error else None
        journal = duty.os_updater().load()
        out["after_install"] = journal.step
        assert isinstance(duty.system, RecordingSystem)
        out["reboot_asked"] = list(duty.system.calls)
        agent.close()
        machine.power_cycle()  # what the agent asked for
        catalog = Catalog(DataPaths(settings.data_dir).catalog)
        kiosk = publisher(settings, catalog).start()  # the kiosk service on the new OS
        agent = Agent(settings, child_args=["--config", str(cfg)])
        duty = next(d for d in agent.duties if isinstance(d, UpdateDuty))
        try:
            recover_at_start(agent)  # the agent's start on the new OS
        finally:
            kiosk.stop()
            catalog.close()
        journal = duty.os_updater().load()
        out.update(
            outcome=journal.outcome,
            reason=journal.reason,
            booted=Rauc(work / "system.conf").booted(),
        )
        out["unreported_before"] = len(duty.updater.journal.load().unreported)
        agent.step()  # the next heartbeat hands the hub the outcome
        out["unreported_after"] = len(duty.updater.journal.load().unreported)
        out["boots"] = machine.boots
        out["bootstate"] = read_state(work / "bootstate")
        agent.close()
    finally:
        machine.stop()
    print(json.dumps(out))
    return 0


def main() -> int:
    if sys.argv[2] == "agent":
        return agent_case(Path(sys.argv[1]), Path(sys.argv[3]))
    work, case, bundle = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    expected = Expected(int(sys.argv[5]), sys.argv[4], bundle.name)
    env = {"SOHOA_BOOTSTATE": str(work / "bootstate"), "DBUS_STARTER_BUS_TYPE": "session"}
    os.environ.update(env)
    cmdline = work / "cmdline"
    cmdline.write_text("root=/dev/sda2 rauc.slot=A\n")
    subprocess.run(["mount", "--bind", str(cmdline), "/proc/cmdline"], check=True)
    rauc = Rauc(conf=work / "system.conf")
    service: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        log = open(work / "rauc-service.log", "ab")  # noqa: SIM115 - the child owns it
        service.append(
            subprocess.Popen(
                ["rauc", f"--conf={work / 'system.conf'}", f"--mount={work / 'mnt'}", "service"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if subprocess.run(["rauc", "status"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("rauc service did not come up")

    def power_on() -> str:
        slot = boot(work / "bootstate")
        cmdline.write_text(f"root=/dev/sda2 rauc.slot={slot}\n")  # the bind mount shows it
        return slot

    def reboot() -> None:
        proc = service.pop()
        proc.terminate()
        proc.wait(10)
        reboots.append(power_on())
        start()

    (work / "mnt").mkdir(exist_ok=True)
    root = work / "app"
    (root / "current" / "bin").mkdir(parents=True, exist_ok=True)
    rc = work / "selftest-rc"
    rc.write_text("1" if case == "unhealthy" else "0")
    exe = root / "current" / "bin" / "sohoa"
    exe.write_text(SERVICE.format(rc=rc))
    exe.chmod(0o755)
    sup = ProcessSupervisor(root, [])

    def selftest(_: float) -> tuple[bool, str]:
        ok = subprocess.run([str(exe), "selftest"]).returncode == 0
        return ok, "" if ok else "self-test failed (exit 1): camera does not answer"

    gate = HealthGate(sup, selftest, GateConfig(trial_s=1.0, start_timeout_s=10))
    reports: list[dict[str, object]] = []
    reboots: list[str] = []
    start()
    updater = OsUpdater(rauc, work / "agent", gate, reboot=lambda: None, report=reports.append)
    try:
        journal_file = work / "agent" / OS_JOURNAL
        if case == "cut_before_rauc":  # the power went as rauc was about to start
            journal_file.parent.mkdir(parents=True, exist_ok=True)
            journal_file.write_text(
                json.dumps({"step": "install", "version": "2.0.0", "from_slot": "A"})
            )
            j = updater.load()
        else:
            j = updater.install("2.0.0", bundle, expected)
        if case == "cut_after_rauc":  # rauc had finished, the journal did not say so yet
            data = json.loads(journal_file.read_text())
            journal_file.write_text(json.dumps({**data, "step": "install", "to_slot": None}))
            j = updater.load()
        after_install = j.step
        b_tries = 0
        if j.step == "install":  # the power comes back
            reboot()
            updater.reboot = reboot
            j = updater.after_boot()
        if j.step == "reboot":
            if case == "no_boot":  # every boot of B dies before the agent runs
                while True:
                    proc = service.pop()
                    proc.terminate()
                    proc.wait(10)
                    slot = power_on()
                    start()
                    reboots.append(slot)
                    if slot != "B":
                        break
                    b_tries += 1
            else:
                reboot()
            updater.reboot = reboot  # from here on a reboot request is a reboot
            j = updater.after_boot()
        booted = rauc.booted()
        again = updater.after_boot()  # a later start: nothing more to do
        out = {
            "after_install": after_install,
            "outcome": j.outcome,
            "reason": j.reason,
            "failed": j.failed,
            "booted": booted,
            "reboots": reboots,
            "b_tries": b_tries,
            "again_step": again.step,
            "reports": reports,
            "bootstate": read_state(work / "bootstate"),
            "slot_b_boot_status": rauc.slots()["rootfs.1"]["boot_status"],
        }
    finally:
        sup.stop()
        for proc in service:
            proc.terminate()
            proc.wait(10)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
