"""The updater's parts on their own: the release layout, the journal, verification and safe
unpacking, the dependency rule of the installer, and the "clerk is busy" check."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from firmware.errors import KioskError
from firmware.fleet.link import document_in_progress, read_update_state, update_state_path
from firmware.store.catalog import Catalog
from provisioning.agent.updates.artifact import Expected, unpack, verify
from provisioning.agent.updates.install import install_release
from provisioning.agent.updates.journal import JournalFile
from provisioning.agent.updates.layout import DEPS_PTH, ReleaseLayout
from provisioning.release.manifest import FileEntry, Manifest
from tests.support.fleet import audit_actions


def fake_release(layout: ReleaseLayout, version: str, borrows: Path | None = None) -> None:
    site = layout.release_dir(version) / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    if borrows is not None:
        (site / DEPS_PTH).write_text(f"# deps\n{borrows}\n")


def test_switch_is_a_symlink_renamed_over_current(tmp_path):
    layout = ReleaseLayout(tmp_path)
    fake_release(layout, "1.0")
    fake_release(layout, "1.1")
    assert layout.current() is None
    layout.switch("1.0")
    layout.switch("1.1")
    assert os.readlink(tmp_path / "current") == "releases/1.1"
    assert layout.current() == "1.1"
    assert not (tmp_path / ".current.new").exists()
    with pytest.raises(FileNotFoundError):
        layout.switch("9.9")
    assert layout.current() == "1.1"


def test_prune_keeps_current_previous_and_the_release_they_borrow_from(tmp_path):
    layout = ReleaseLayout(tmp_path)
    fake_release(layout, "1.0")
    fake_release(layout, "1.1", borrows=layout.site_packages("1.0"))
    fake_release(layout, "1.2", borrows=layout.site_packages("1.0"))
    fake_release(layout, "0.9")
    assert layout.prune({"1.1", "1.2"}) == ["0.9"]
    assert layout.installed() == ["1.0", "1.1", "1.2"]


def test_journal_is_written_before_each_step_and_read_back(tmp_path):
    jf = JournalFile(tmp_path)
    j = jf.load()
    assert not j.in_progress()
    jf.step(j, "download", version="1.1", previous="1.0")
    back = jf.load()
    assert back.step == "download" and back.version == "1.1" and back.previous == "1.0"
    with pytest.raises(ValueError):
        jf.step(back, "dance")


def test_the_journal_publishes_where_the_update_stands_for_the_kiosk_screen(tmp_path):
    """What the kiosk may read of the journal: the step and versions, group-readable, with
    ``switching`` during switch, trial and rollback only; nothing of the artifact's path."""
    shared = tmp_path / "agent"
    jf = JournalFile(tmp_path / "agent" / "updates", shared_dir=shared)
    seen = []
    j = jf.load()
    for step in ("download", "install", "switch", "trial", "commit", "report", "done"):
        j = jf.step(j, step, version="1.1", previous="1.0", artifact="/secret/1.1.tar")
        st = read_update_state(shared)
        assert (st["step"], st["version"], st["previous"]) == (step, "1.1", "1.0")
        seen.append(st["switching"])
    assert seen == [False, False, True, True, False, False, False]
    assert read_update_state(shared).get("artifact") is None
    assert update_state_path(shared).stat().st_mode & 0o777 == 0o640
    jf.step(j, "rollback", outcome="rolled_back")
    assert read_update_state(shared)["switching"] is True
    assert read_update_state(tmp_path / "nobody") == {"switching": False}


def make_tar(path: Path, members: dict[str, bytes], manifest: Manifest | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        if manifest is not None:
            members = {"manifest.json": manifest.to_bytes(), **members}
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def manifest_for(members: dict[str, bytes]) -> Manifest:
    files = [FileEntry(n, len(d), hashlib.sha256(d).hexdigest()) for n, d in members.items()]
    return Manifest("sohoa", "1.1", "x86_64", "cp311", 0, files)


def test_verify_refuses_a_byte_changed_artifact(tmp_path):
    members = {"requirements.lock": b"a==1\n", "wheels/sohoa-1.1-py3-none-any.whl": b"w"}
    art = make_tar(tmp_path / "a.tar", members, manifest_for(members))
    data = art.read_bytes()
    good = Expected(len(data), hashlib.sha256(data).hexdigest())
    verify(art, good)
    art.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(KioskError) as err:
        verify(art, good)
    assert err.value.code == "update_refused"


@pytest.mark.parametrize(
    "evil",
    ["../outside.txt", "/etc/passwd-sohoa", "wheels/extra.whl"],
)
def test_unpack_refuses_members_the_manifest_does_not_name_or_that_escape(tmp_path, evil):
    members = {"requirements.lock": b"a==1\n", "wheels/sohoa-1.1-py3-none-any.whl": b"w"}
    manifest = manifest_for(members)
    art = make_tar(tmp_path / "a.tar", {**members, evil: b"x"}, manifest)
    with pytest.raises(KioskError) as err:
        unpack(art, tmp_path / "out")
    assert err.value.code == "update_refused"
    assert not (tmp_path / "outside.txt").exists()
    assert not (tmp_path / "out" / "wheels" / "extra.whl").exists()


def test_unpack_refuses_a_member_that_differs_from_its_manifest_entry(tmp_path):
    members = {"requirements.lock": b"a==1\n", "wheels/sohoa-1.1-py3-none-any.whl": b"w"}
    manifest = manifest_for(members)
    art = make_tar(tmp_path / "a.tar", {**members, "requirements.lock": b"a==2\n"}, manifest)
    with pytest.raises(KioskError):
        unpack(art, tmp_path / "out")


def test_unpack_has_a_size_cap(tmp_path):
    members = {"requirements.lock": b"a==1\n" * 100, "wheels/sohoa-1.1-py3-none-any.whl": b"w"}
    art = make_tar(tmp_path / "a.tar", members, manifest_for(members))
    with pytest.raises(KioskError):
        unpack(art, tmp_path / "out", max_bytes=100)


def test_a_release_with_other_dependencies_and_no_wheels_is_refused_before_anything_changes(
    tmp_path,
):
    import platform
    import sys

    layout = ReleaseLayout(tmp_path / "root")
    fake_release(layout, "1.0")
    (layout.release_dir("1.0") / "requirements.lock").write_text("pydantic==2.7.0\nsohoa==1.0\n")
    layout.switch("1.0")
    unpacked = tmp_path / "u"
    unpacked.mkdir()
    (unpacked / "requirements.lock").write_text("pydantic==2.9.0\n")
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    manifest = Manifest(
        "sohoa",
        "1.1",
        platform.machine(),
        tag,
        0,
        [FileEntry("wheels/sohoa-1.1-py3-none-any.whl", 1, "0")],
    )
    with pytest.raises(KioskError) as err:
        install_release(layout, manifest, unpacked)
    assert "pydantic: 2.7.0 -> 2.9.0" in err.value.message_en
    assert layout.installed() == ["1.0"] and layout.current() == "1.0"


def test_a_document_being_captured_blocks_the_update(tmp_path):
    cat = Catalog(tmp_path / "catalog.db")
    assert document_in_progress(cat) is None
    doc = cat.create_document("clerk")
    assert document_in_progress(cat) == doc["id"]
    cat.transition_document(doc["id"], "discarded", "clerk")
    assert document_in_progress(cat) is None


def test_the_agent_has_the_update_duty_and_recovers_an_interrupted_update_at_start(tmp_path):
    from firmware.config import load_settings
    from provisioning.agent.agent import Agent
    from provisioning.agent.updates.duty import UpdateDuty, recover_at_start

    settings = load_settings(
        None, data_dir=str(tmp_path / "data"), updates={"release_root": str(tmp_path / "root")}
    )
    agent = Agent(settings)
    try:
        duty = next(d for d in agent.duties if isinstance(d, UpdateDuty))
        layout = duty.updater.layout
        fake_release(layout, "1.0")
        layout.switch("1.0")
        fake_release(layout, "1.1")  # half-installed when the power went
        duty.updater.journal.step(
            duty.updater.journal.load(), "install", version="1.1", previous="1.0"
        )
        j = recover_at_start(agent)
    finally:
        agent.close()
    assert j is not None and j.step == "done" and j.outcome == "interrupted"
    assert layout.current() == "1.0" and layout.installed() == ["1.0"]
    # the record reaches the kiosk's audit log through the kiosk (the agent cannot write it)
    assert audit_actions(settings, Catalog(tmp_path / "data" / "catalog.db"), "update.interrupted")


def _defer_cli(tmp_path: Path) -> tuple[int, str, ReleaseLayout]:
    from tests.conftest import run_sohoa
    from tests.support.releases import kiosk_config

    cfg = kiosk_config(tmp_path)
    art = tmp_path / "any.tar"
    art.write_bytes(b"not looked at")
    proc = run_sohoa(
        ["--config", str(cfg), "agent", "update", "--version", "2.0", "--artifact", str(art)]
        + ["--sha256", "0" * 64, "--length", "13"]
    )
    return proc.returncode, proc.stderr, ReleaseLayout(tmp_path / "root")


def test_no_update_starts_while_a_document_is_being_captured(tmp_path):
    from firmware.fleet.link import catalog_status, write_kiosk_status
    from firmware.store.paths import DataPaths

    cat = Catalog(DataPaths(tmp_path / "data").ensure().catalog)
    cat.create_document("clerk")
    # the kiosk publishes the document in progress; the agent reads no catalog
    write_kiosk_status(DataPaths(tmp_path / "data"), catalog_status(cat))
    rc, err, layout = _defer_cli(tmp_path)
    assert rc == 1 and "update_deferred" in err and "Đang có tài liệu" in err
    assert (
        layout.installed() == []
        and not JournalFile(tmp_path / "data-agent" / "updates").path.exists()
    )


def test_no_update_starts_while_the_kiosk_exports_to_a_stick(tmp_path):
    from firmware.config import load_settings
    from firmware.fleet.link import kiosk_health, write_kiosk_status
    from firmware.store.paths import DataPaths

    class _Kiosk:  # the part of Kiosk.status() and its settings kiosk_health reads
        settings = load_settings(None, data_dir=str(tmp_path / "data"))

        def status(self):
            dev = {"available": True}
            return {
                "camera": dev,
                "scanner": dev,
                "pedal": dev,
                "ocr": {**dev, "backlog": 0},
                "last_error": None,
            }

    paths = DataPaths(tmp_path / "data").ensure()
    write_kiosk_status(paths, kiosk_health(_Kiosk(), lambda: 0, lambda: True))
    rc, err, layout = _defer_cli(tmp_path)
    assert rc == 1 and "update_deferred" in err and "USB" in err
    assert layout.installed() == []


def test_an_agent_stopping_during_the_trial_gives_no_verdict_and_the_trial_is_taken_again(
    tmp_path,
):
    """The in-process supervisor's service stops with the agent: that says nothing about the
    release, so the journal stays at ``trial`` (as after a power cut), nothing is marked
    failed or reported, and recovery at the next start tries the release again."""
    import threading

    from provisioning.agent.updates.gate import GateConfig, HealthGate
    from provisioning.agent.updates.supervisor import ProcessSupervisor
    from provisioning.agent.updates.updater import Updater
    from tests.support.wait import wait_for

    layout = ReleaseLayout(tmp_path / "root")
    for v in ("1.0", "1.1"):  # a service that runs until it is stopped
        exe = layout.release_dir(v) / "bin" / "sohoa"
        exe.parent.mkdir(parents=True)
        exe.write_text("#!/bin/sh\nexec sleep 600\n")
        exe.chmod(0o755)
    layout.switch("1.1")
    sup = ProcessSupervisor(layout.root, [])
    gate = HealthGate(sup, lambda _t: (True, ""), GateConfig(trial_s=600, poll_s=0.05))
    jf = JournalFile(tmp_path / "updates")
    upd = Updater(layout, jf, tmp_path / "staging", sup, gate)
    jf.step(jf.load(), "switch", version="1.1", previous="1.0")
    done: list = []
    worker = threading.Thread(target=lambda: done.append(upd.recover()))
    worker.start()
    try:
        assert wait_for(lambda: jf.load().step == "trial" and sup.active(), 20)
        gate.stopping.set()  # what UpdateDuty.close does at agent shutdown
        sup.stop()
        worker.join(20)
        assert not worker.is_alive() and done
    finally:
        sup.stop()
    back = jf.load()
    assert (back.step, back.outcome, back.failed, back.unreported) == ("trial", None, [], [])
    assert layout.current() == "1.1" and back.attempts == 1


def test_last_line_quotes_the_crash_shortly():
    from provisioning.agent.updates.supervisor import LAST_WORDS_CHARS, last_line

    trace = 'Traceback (most recent call last):\n  File "x"\nRuntimeError: boom\n\n  \n'
    assert last_line(trace) == "RuntimeError: boom"
    assert last_line("") == ""
    long = last_line("E" * 1000)
    assert len(long) == LAST_WORDS_CHARS and long.endswith("…")
