"""USB identity, authorization, USBGuard rules, the simulated sticks and the udisks2 client."""

from __future__ import annotations

import argparse
import errno
import hashlib
import shutil
import struct
import subprocess
import threading
from pathlib import Path

import pytest

from drivers.usb import AllowedStick, UsbIdentity, UsbInterface, authorize, usbguard_rules
from drivers.usb.base import MountError
from drivers.usb.identity import identity_from_sysfs, parse_interfaces
from drivers.usb.policy import normalize_id
from drivers.usb.sim import SimBackend, create_stick
from drivers.usb.udisks import Udisks2, block_object_path
from firmware.cli.export import register
from tests.support.wait import wait_for


def interface_descriptor(cls: int, sub: int, proto: int, number: int) -> bytes:
    return struct.pack("<BBBBBBBBB", 9, 4, number, 0, 2, cls, sub, proto, 0)


def descriptor_blob(*interfaces: tuple[int, int, int]) -> bytes:
    device = struct.pack(
        "<BBHBBBBHHHBBBB", 18, 1, 0x0200, 0, 0, 0, 64, 0x0781, 0x5581, 0x0100, 1, 2, 3, 1
    )
    body = b"".join(interface_descriptor(c, s, p, i) for i, (c, s, p) in enumerate(interfaces))
    config = struct.pack("<BBHBBBBB", 9, 2, 9 + len(body), len(interfaces), 1, 0, 0x80, 50)
    return device + config + body


def fake_sysfs(root: Path, blob: bytes, serial: str = "4C530001") -> Path:
    dev = root / "1-2"
    dev.mkdir(parents=True)
    for name, value in (
        ("idVendor", "0781"),
        ("idProduct", "5581"),
        ("serial", serial),
        ("manufacturer", "SanDisk"),
        ("product", "Ultra"),
    ):
        (dev / name).write_text(value + "\n")
    (dev / "descriptors").write_bytes(blob)
    iface = dev / "1-2:1.0"
    iface.mkdir()
    for name, value in (
        ("bInterfaceClass", "08"),
        ("bInterfaceSubClass", "06"),
        ("bInterfaceProtocol", "50"),
    ):
        (iface / name).write_text(value + "\n")
    return dev


def test_identity_from_sysfs_reads_every_configuration(tmp_path):
    blob = descriptor_blob((0x08, 0x06, 0x50), (0x03, 0x01, 0x01))  # storage + keyboard
    ident = identity_from_sysfs(fake_sysfs(tmp_path, blob))
    assert ident.key == "0781:5581:4C530001"
    assert ident.descriptor_sha256 == hashlib.sha256(blob).hexdigest()
    assert [str(i) for i in ident.interfaces] == ["08:06:50", "03:01:01"]
    assert [str(i) for i in ident.foreign_interfaces()] == ["03:01:01"]


def test_parse_interfaces_survives_garbage():
    assert parse_interfaces(b"\x00\x04\x00") == []
    assert parse_interfaces(b"\x09\x04\x00\x00") == []  # truncated
    assert parse_interfaces(descriptor_blob((0x08, 6, 0x50))) == [UsbInterface(8, 6, 0x50)]


def ident(serial="4C530001", interfaces=("08:06:50",)) -> UsbIdentity:
    return UsbIdentity(
        "0781", "5581", serial, interfaces=tuple(UsbInterface.parse(i) for i in interfaces)
    )


ALLOW = [AllowedStick("0x0781", "5581", "4C530001", "USB 1")]


@pytest.mark.parametrize(
    ("identity", "ok", "reason"),
    [
        (ident(), True, "allowed"),
        (ident(serial="OTHER"), False, "not_listed"),
        (ident(serial=""), False, "no_serial"),
        (ident(interfaces=("08:06:50", "03:00:00")), False, "foreign_interface"),
        (ident(interfaces=("08:06:50", "02:02:ff")), False, "foreign_interface"),
        (ident(interfaces=("08:06:50", "ef:04:01")), False, "foreign_interface"),
        (ident(interfaces=()), False, "foreign_interface"),
    ],
)
def test_authorize(identity, ok, reason):
    verdict = authorize(identity, ALLOW)
    assert (verdict.ok, verdict.reason) == (ok, reason)
    if ok:
        assert verdict.label == "USB 1"


def test_normalize_ids():
    assert normalize_id("0x0781") == "0781" and normalize_id(1921) == "0781"
    with pytest.raises(ValueError):
        normalize_id("zzzz")
    with pytest.raises(ValueError):
        AllowedStick("0781", "5581", " ")


def test_usbguard_rules_allow_only_listed_storage():
    text = usbguard_rules([*ALLOW, AllowedStick("090c", "1000", 'we"ird\\')], kiosk_id="k1")
    allow = [line for line in text.splitlines() if line.startswith("allow")]
    assert allow == [
        'allow id 0781:5581 serial "4C530001" with-interface match-all { 08:*:* }',
        'allow id 090c:1000 serial "we\\"ird\\\\" with-interface match-all { 08:*:* }',
    ]
    assert "reject with-interface all-of { 08:*:* 03:*:* }" in text
    assert "ImplicitPolicyTarget=block" in text
    assert not [
        line for line in text.splitlines() if line.startswith("allow") and "serial" not in line
    ]


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    parser.add_argument("--data-dir")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_usb_rules_and_list(tmp_path, capsys):
    conf = tmp_path / "sohoa.toml"
    sim = tmp_path / "usb"
    conf.write_text(
        f'data_dir = "{tmp_path / "var"}"\n[export]\nsim_dir = "{sim}"\n'
        'allowed_sticks = [{vid = "0781", pid = "5581", serial = "4C530001", label = "USB 1"}]\n'
    )
    out = tmp_path / "rules.conf"
    assert cli(["--config", str(conf), "usb", "rules", "--out", str(out)]) == 0
    assert 'allow id 0781:5581 serial "4C530001"' in out.read_text()
    create_stick(sim, "good", serial="4C530001")
    create_stick(sim, "evil", serial="4C530001", interfaces=["08:06:50", "03:01:01"])
    assert cli(["--config", str(conf), "usb", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("allowed (USB 1)" in x for x in lines)
    assert any("REJECTED: foreign_interface 03:01:01" in x for x in lines)


def test_sim_faults(tmp_path):
    backend = SimBackend(tmp_path)
    stick = create_stick(tmp_path, "s", faults={"full_at": 10})
    (dev,) = backend.devices()
    vol = backend.mount(dev)
    with vol.open_write("a") as fh, pytest.raises(OSError) as exc:
        fh.write(b"x" * 20)
    assert exc.value.errno == errno.ENOSPC and (stick.root / "a").read_bytes() == b"x" * 10

    stick.set_faults(full_at=None, read_only=True)
    (dev,) = backend.devices()
    assert dev.read_only
    with pytest.raises(OSError) as exc:
        backend.mount(dev).probe_writable()
    assert exc.value.errno == errno.EROFS

    stick.set_faults(read_only=False, remove_at=5)
    vol = backend.mount(backend.devices()[0])
    with vol.open_write("b") as fh, pytest.raises(OSError) as exc:
        fh.write(b"y" * 8)
    assert exc.value.errno == errno.ENODEV
    assert backend.devices() == []  # pulled out
    with pytest.raises(OSError):
        vol.listdir("")
    with pytest.raises(MountError):
        backend.mount(dev)


def test_sim_volume_stays_inside_the_stick(tmp_path):
    create_stick(tmp_path, "s")
    backend = SimBackend(tmp_path)
    vol = backend.mount(backend.devices()[0])
    with pytest.raises(ValueError):
        vol.open_write("../escape")


def test_sim_watch_sees_plug_and_unplug(tmp_path):
    backend = SimBackend(tmp_path, poll_s=0.02)
    events: list[tuple[str, str]] = []
    stop = backend.watch(lambda kind, dev: events.append((kind, dev.identity.serial)))
    try:
        stick = create_stick(tmp_path, "s", serial="S1")
        assert wait_for(lambda: ("add", "S1") in events, 5)
        stick.unplug()
        assert wait_for(lambda: ("remove", "S1") in events, 5)
    finally:
        stop()


def test_block_object_path_escaping():
    assert block_object_path("/dev/sdb1") == "/org/freedesktop/UDisks2/block_devices/sdb1"
    assert block_object_path("/dev/mmc-x") == "/org/freedesktop/UDisks2/block_devices/mmc_2dx"


# -- udisks2 client against a stand-in service on a private D-Bus ---------------------------
@pytest.fixture
def private_bus():
    exe = shutil.which("dbus-daemon")
    if exe is None:
        pytest.skip("dbus-daemon not installed (Debian: dbus-daemon)")
    proc = subprocess.Popen(
        [exe, "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE, text=True
    )
    address = proc.stdout.readline().strip()
    yield address
    proc.terminate()
    proc.wait(timeout=10)


def fake_udisks(address: str, calls: list, mount_point: str) -> threading.Thread:
    """Answers Mount, Unmount, PowerOff and Properties.Get like udisks2 would."""
    from jeepney import HeaderFields, message_bus, new_error, new_method_return
    from jeepney.io.blocking import open_dbus_connection

    conn = open_dbus_connection(bus=address)
    conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.UDisks2"))

    def serve() -> None:
        with conn:
            while True:
                msg = conn.receive()
                member = msg.header.fields.get(HeaderFields.member)
                path = msg.header.fields.get(HeaderFields.path)
                calls.append((member, path, msg.body))
                if member == "Mount":
                    if path.endswith("sdz9"):
                        conn.send(
                            new_error(
                                msg, "org.freedesktop.UDisks2.Error.Failed", "s", ("wrong fs type",)
                            )
                        )
                    else:
                        conn.send(new_method_return(msg, "s", (mount_point,)))
                elif member == "Get":
                    conn.send(
                        new_method_return(
                            msg, "v", (("o", "/org/freedesktop/UDisks2/drives/Stick"),)
                        )
                    )
                elif member in ("Unmount", "PowerOff"):
                    conn.send(new_method_return(msg))
                if member == "PowerOff":
                    return

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_udisks2_mount_unmount_power_off(private_bus, tmp_path):
    calls: list = []
    t = fake_udisks(private_bus, calls, str(tmp_path))
    client = Udisks2(bus=private_bus, timeout=10)
    assert client.mount("/dev/sdb1") == tmp_path
    with pytest.raises(MountError, match="wrong fs type"):
        client.mount("/dev/sdz9")
    client.unmount("/dev/sdb1")
    client.power_off("/dev/sdb1")
    t.join(timeout=10)
    members = [(c[0], c[1]) for c in calls]
    assert members[0] == ("Mount", "/org/freedesktop/UDisks2/block_devices/sdb1")
    assert calls[0][2] == ({"options": ("s", "noexec")},)
    assert ("PowerOff", "/org/freedesktop/UDisks2/drives/Stick") in members


def test_cli_usb_list_sees_the_demo_registered_stick_as_the_demo_does(tmp_path, capsys):
    """Issue 16: the demo's allowlist lived only in the demo process."""
    from firmware.demo import export as demo_export

    demo_export.prepare(tmp_path)
    demo_export.plug(demo_export.sim_dir(tmp_path), "registered")
    assert cli(["--data-dir", str(tmp_path), "usb", "list"]) == 0
    out = capsys.readouterr().out
    assert demo_export.ALLOWED_STICK["serial"] in out
    assert "allowed" in out and "REJECTED" not in out
