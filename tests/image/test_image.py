"""CI checks of the OS image recipe (image-build/) on its x86-64 twin.

The Pi image (arm64) takes about an hour under qemu, so CI builds the x86-64 twin from the
SAME recipe (mmdebstrap + hooks, cached .debs and wheels) and checks what a provincial IT
office relies on: units that systemd accepts and that are sandboxed, no passwords and no
SSH, a read-only root with the data partition bound into place, USBGuard deny-by-default,
nothing of the build host leaked, a reproducible tree, a twin that boots in systemd-nspawn
with the kiosk answering on loopback, the genimage partition layout, and RAUC bundles that
verify with the right keyring only. Each check skips with its reason where the machine
cannot run it (not root, a tool missing), never silently.

Measured here (2 cores shared by ~7 engineers, load ~14): the twin build 10.6 min with a
cold cache and 9.9-15 min warm (the issue measured 36-40 s warm on an idle machine); the
nspawn boot until the kiosk answers 9-14 s; the checks on the built tree < 5 s; the full
disk image 178 s; a bundle of the whole root 142 s; 16 min for the default selection in
all. Hence the whole module is `slow`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "image-build"
TOOLS = (
    "mmdebstrap",
    "genimage",
    "systemd-nspawn",
    "systemd-analyze",
    "rauc",
    "mksquashfs",
    "mke2fs",
    "mcopy",
    "mkdosfs",
    "sfdisk",
    "openssl",
)
OUR_UNITS = (
    "sohoa.service",
    "sohoa-agent.service",
    "sohoa-screen.service",
    "sohoa-data-layout.service",
    "sohoa-grow-data.service",
    "sohoa-firstboot.service",
    "sohoa-usb-rules.service",
    "sohoa-agent-restart.path",
    "sohoa-agent-restart.service",
    "sohoa-agent-reboot.path",
    "sohoa-agent-reboot.service",
)
# `systemd-analyze security` exposure (0 = locked down, 10 = unprotected) each unit must beat.
# Measured (252): kiosk 1.8, agent 1.4, screen 4.3 (Chromium needs the GPU, input devices and
# its own namespaces), first boot 0.4, USB rules 0.9, data layout 1.9; growing the data
# partition writes the raw card (7.1).
EXPOSURE_THRESHOLD = {
    "sohoa.service": 2.0,
    "sohoa-agent.service": 2.0,
    "sohoa-screen.service": 5.0,
    "sohoa-firstboot.service": 1.0,
    "sohoa-usb-rules.service": 1.0,
    "sohoa-data-layout.service": 2.0,
    "sohoa-grow-data.service": 7.5,
    # root only to ask systemd for the one action the agent's path unit requests (1.1)
    "sohoa-agent-restart.service": 1.5,
    "sohoa-agent-reboot.service": 1.5,
}

sys.path.insert(0, str(IMAGE))
import treehash  # noqa: E402  (image-build/ is not a package: it runs on the build host)

# The twin build is a session fixture: its time counts against the first test that uses it.
# Marked slow as a whole: on this shared 2-core machine (load ~14) the warm-cache twin build
# took 915 s and the module 16 min, far over the default suite's budget. `make test-image`
# (CI's image job) and `make test-all` run it; see the measurements in the module docstring.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(3600)]
# IMAGE_TWIN=/var/tmp/sohoa-image/amd64: reuse a twin built by `make image-twin` (read here, before the
# suite's fixtures clear the SOHOA_* environment).
PREBUILT_TWIN = os.environ.get("IMAGE_TWIN")


def _missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def _config() -> dict[str, str]:
    """The pinned values of image-build/config.sh, as the shell sees them."""
    out = subprocess.run(
        ["bash", "-c", f"ARCH=amd64; . {IMAGE}/config.sh; set"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(re.findall(r"^([A-Z_0-9]+)='?([^'\n]*)'?$", out, re.M))


def _require_builder() -> None:
    if os.geteuid() != 0:
        pytest.skip("the image recipe needs root (mmdebstrap --mode=root, systemd-nspawn)")
    missing = _missing_tools()
    if missing:
        pytest.skip(f"image tools missing: {' '.join(missing)} (make test installs them)")


def _build_twin(out: Path, keys: Path) -> Path:
    env = dict(
        os.environ, ARCH="amd64", PYTHON=sys.executable, RAUC_KEYRING=str(keys / "ci.cert.pem")
    )
    started = time.monotonic()
    proc = subprocess.run(
        [str(IMAGE / "build-rootfs.sh"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    (out / "build.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, f"twin build failed:\n{(proc.stdout + proc.stderr)[-4000:]}"
    print(f"twin built in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return out / "rootfs"


@pytest.fixture(scope="session")
def image_tmp() -> Iterator[Path]:
    """Working space of the image checks, outside pytest's basetemp: every engineer's pytest
    runs as root here, and pytest prunes all but the newest three basetemps of a user, which
    deleted a twin under a running build."""
    _require_builder()
    d = Path(tempfile.mkdtemp(prefix="sohoa-image-ci-", dir="/var/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def ci_keys(image_tmp) -> Path:
    """A throw-away CI release key and an unrelated one (for the refusal check)."""
    d = image_tmp / "keys"
    for name in ("ci", "other"):
        subprocess.run([str(IMAGE / "dev-keys.sh"), str(d), name], check=True, capture_output=True)
    return d


@pytest.fixture(scope="session")
def twin(image_tmp, ci_keys) -> Path:
    """The x86-64 twin's root file system, built once per session from this checkout.

    IMAGE_TWIN=/var/tmp/sohoa-image/amd64 reuses a twin built by `make image-twin` (while
    working on the checks themselves); CI leaves it unset and builds from the recipe."""
    if PREBUILT_TWIN:
        return Path(PREBUILT_TWIN).resolve() / "rootfs"
    return _build_twin(image_tmp / "twin-a", ci_keys)


def _unit(rootfs: Path, name: str) -> str:
    return (rootfs / "etc/systemd/system" / name).read_text()


# --- the recipe's output, file by file ---------------------------------------------------


def test_units_pass_systemd_analyze_verify(twin):
    units = [str(twin / "etc/systemd/system" / u) for u in OUR_UNITS]
    proc = subprocess.run(
        ["systemd-analyze", "verify", f"--root={twin}", *units], capture_output=True, text=True
    )
    problems = [ln for ln in proc.stderr.splitlines() if "sohoa" in ln]
    assert proc.returncode == 0 and not problems, proc.stderr


@pytest.mark.parametrize("unit", sorted(EXPOSURE_THRESHOLD))
def test_units_are_sandboxed(twin, unit):
    threshold = EXPOSURE_THRESHOLD[unit]
    proc = subprocess.run(
        [
            "systemd-analyze",
            "security",
            "--offline=true",
            f"--root={twin}",
            f"--threshold={round(threshold * 10)}",
            "--no-pager",
            str(twin / "etc/systemd/system" / unit),
        ],
        capture_output=True,
        text=True,
    )
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert level, proc.stdout + proc.stderr
    assert float(level.group(1)) <= threshold, proc.stdout
    assert proc.returncode == 0, proc.stdout  # --threshold is in tenths


def test_no_account_has_a_password_and_root_is_the_only_uid_0(twin):
    for line in (twin / "etc/shadow").read_text().splitlines():
        name, pw = line.split(":")[:2]
        assert pw in ("*", "!", "!*"), f"{name} has a password hash or an empty password"
    uid0 = [
        ln.split(":")[0]
        for ln in (twin / "etc/passwd").read_text().splitlines()
        if ln.split(":")[2] == "0"
    ]
    assert uid0 == ["root"]
    users = {
        ln.split(":")[0]: ln.split(":") for ln in (twin / "etc/passwd").read_text().splitlines()
    }
    for user, uid in (("sohoa", "901"), ("sohoa-agent", "902"), ("sohoa-screen", "903")):
        assert users[user][2] == uid and users[user][6] == "/usr/sbin/nologin"


def test_no_ssh_server_no_keys_no_compilers(twin):
    names = {ln.split()[1].split(":")[0] for ln in treehash.manifest(twin) if ln.startswith("deb ")}
    forbidden = re.compile(
        r"^(openssh-server|dropbear.*|tinysshd|telnetd|gcc(-\d+)?|g\+\+(-\d+)?"
        r"|cpp(-\d+)?|clang(-\d+)?|tcc|binutils.*|make|build-essential)$"
    )
    assert sorted(n for n in names if forbidden.match(n)) == []
    for binary in (
        "usr/sbin/sshd",
        "usr/bin/gcc",
        "usr/bin/cc",
        "usr/bin/c++",
        "usr/bin/as",
        "usr/bin/ld",
        "usr/bin/tcc",
        "usr/bin/clang",
    ):
        assert not (twin / binary).exists(), binary
    keys = [p for p in twin.rglob("authorized_keys*") if "/proc/" not in str(p)]
    assert keys == []


def test_fstab_mounts_root_read_only_and_state_on_the_data_partition(twin):
    cfg = _config()
    entries = {}
    for line in (twin / "etc/fstab").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            what, where, fstype, opts = line.split()[:4]
            entries[where] = (what, fstype, opts.split(","))
    assert "ro" in entries["/"][2] and "rw" not in entries["/"][2]
    assert entries["/data"][0] == f"PARTUUID={cfg['PARTUUID_DATA']}"
    assert entries["/var/lib/sohoa"][0] == "/data/sohoa" and "bind" in entries["/var/lib/sohoa"][2]
    assert entries["/var/log/journal"][0] == "/data/journal"
    for scratch in ("/tmp", "/var/tmp", "/var/log"):
        assert entries[scratch][1] == "tmpfs"
    cmdline = (twin / "etc/kernel/cmdline").read_text()
    assert f"root=PARTUUID={cfg['PARTUUID_ROOT_A']} ro " in cmdline


def test_kiosk_screen_and_usbguard_are_enabled_with_deny_by_default(twin):
    wants = twin / "etc/systemd/system"
    assert (wants / "multi-user.target.wants/sohoa.service").is_symlink()
    assert (wants / "graphical.target.wants/sohoa-screen.service").is_symlink()
    usbguard = [d for d in wants.glob("*.wants") if (d / "usbguard.service").is_symlink()]
    assert usbguard, "usbguard.service is not enabled"
    assert os.readlink(twin / "etc/systemd/system/default.target").endswith("graphical.target")
    assert os.readlink(wants / "getty@.service") == "/dev/null"
    daemon = (twin / "etc/usbguard/usbguard-daemon.conf").read_text()
    assert "ImplicitPolicyTarget=block" in daemon
    base = (twin / "etc/usbguard/rules.d/10-sohoa-base.conf").read_text()
    rules = [ln for ln in base.splitlines() if ln.startswith("allow")]
    assert rules and all("match-all" in r for r in rules)
    seed = (twin / "etc/usbguard/rules.conf").read_text()
    assert "generated by `sohoa usb rules`" in seed and "reject with-interface" in seed
    assert "placeholder" not in seed  # Debian's generate-policy of the build host never ran


def test_screen_unit_and_chromium_policy_close_the_ways_out(twin):
    screen = _unit(twin, "sohoa-screen.service")
    for line in (
        "PAMName=sohoa-screen",
        "TTYPath=/dev/tty1",
        "Conflicts=getty@tty1.service",
        "User=sohoa-screen",
    ):
        assert line in screen
    kiosk_cfg = tomllib.loads((twin / "etc/sohoa/sohoa.toml").read_text())
    url = f"http://127.0.0.1:{kiosk_cfg['ui']['port']}/"
    assert re.search(rf"--kiosk .*{re.escape(url)}$", screen.replace("\\\n", " "), re.M | re.S)
    policy = json.loads((twin / "etc/chromium/policies/managed/sohoa-kiosk.json").read_text())
    assert policy["URLBlocklist"] == ["*"] and policy["URLAllowlist"] == [f"{url}*"]
    assert policy["DownloadRestrictions"] == 3
    assert policy["DeveloperToolsAvailability"] == 2
    assert policy["AlwaysOpenPdfExternally"] is True  # no PDF viewer tab (and no download)
    assert policy["DefaultPopupsSetting"] == 2  # no new windows
    assert policy["IncognitoModeAvailability"] == 1 and not policy["BrowserGuestModeEnabled"]
    assert not policy["AllowFileSelectionDialogs"] and not policy["PrintingEnabled"]
    kiosk = _unit(twin, "sohoa.service")
    assert "Type=notify" in kiosk and "WatchdogSec=" in kiosk and "UMask=0077" in kiosk
    assert "ExecStart=/opt/sohoa/current/bin/sohoa run" in kiosk


def test_no_build_host_state_leaked(twin):
    host = socket.gethostname()
    assert (twin / "etc/hostname").read_text().strip() == "sohoa-kiosk"
    assert host not in (twin / "etc/hosts").read_text() or host == "sohoa-kiosk"
    assert os.readlink(twin / "etc/resolv.conf") == "../run/systemd/resolve/stub-resolv.conf"
    assert (twin / "etc/machine-id").read_text() in ("", "uninitialized\n")
    assert (
        not (twin / "var/lib/dbus/machine-id").exists()
        or (twin / "var/lib/dbus/machine-id").is_symlink()
    )
    host_id = (
        Path("/etc/machine-id").read_text().strip() if Path("/etc/machine-id").exists() else ""
    )
    if host_id:
        for f in ("etc/machine-id", "etc/hostname", "etc/hosts", "etc/sohoa/sohoa.toml"):
            assert host_id not in (twin / f).read_text()
    assert not list((twin / "var/cache/apt/archives").glob("*.deb"))
    logs = [p for p in (twin / "var/log").rglob("*") if p.is_file() and not p.is_symlink()]
    assert logs == []
    assert not (twin / "etc/pip.conf").exists()


def test_kiosk_installed_as_a_release_with_current(twin):
    # the one place the version lives (pyproject reads it from there)
    from firmware import __version__ as version

    opt = twin / "opt/sohoa"
    assert os.readlink(opt / "current") == f"releases/{version}"
    release = opt / "releases" / version
    assert (release / "bin/sohoa").is_file()
    shebang = (release / "bin/sohoa").read_text().splitlines()[0]
    assert shebang == f"#!/opt/sohoa/releases/{version}/bin/python3"
    lock = (release / "requirements.lock").read_text()
    assert re.search(r"^fastapi==\d", lock, re.M) and "@ file:" not in lock


def test_manifest_is_diffed_against_the_lock_file(twin):
    out = twin.parent
    manifest = (out / "manifest.lock").read_text().splitlines()
    assert any(ln.startswith("deb systemd:amd64 ") for ln in manifest)
    assert any(ln.startswith("python fastapi ") for ln in manifest)
    assert manifest == treehash.manifest(twin)
    lock = IMAGE / "lock/amd64.lock"
    diff = (out / "lock.diff").read_text()
    if lock.exists():
        changed = {
            ln[1:] for ln in diff.splitlines() if ln[:1] in "+-" and ln[1:4] in ("deb", "pyt")
        }
        assert changed == set(manifest) ^ set(lock.read_text().splitlines())
    else:
        assert "no lock file" in diff


@pytest.mark.slow
def test_two_builds_give_the_same_tree(twin, image_tmp, ci_keys):
    second = _build_twin(image_tmp / "twin-b", ci_keys)
    first_hash, first_lines = treehash.tree_hash(twin)
    second_hash, second_lines = treehash.tree_hash(second)
    if first_hash != second_hash:
        diff = sorted(set(first_lines) ^ set(second_lines))[:40]
        pytest.fail("the two builds differ:\n" + "\n".join(diff))


# --- booting the twin -------------------------------------------------------------------


def _container_pid(nspawn: subprocess.Popen) -> int | None:
    """PID of the container's init (the child of systemd-nspawn that runs systemd)."""
    try:
        children = Path(f"/proc/{nspawn.pid}/task/{nspawn.pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                return int(child)
        except OSError:
            continue
    return None


def _in_container(pid: int, *cmd: str, net_only: bool = False) -> subprocess.CompletedProcess:
    ns = ["-n"] if net_only else ["-m", "-u", "-i", "-n", "-p"]
    return subprocess.run(
        ["nsenter", "-t", str(pid), *ns, *cmd], capture_output=True, text=True, timeout=30
    )


@pytest.fixture
def nspawn_ready():
    """systemd-nspawn needs /run/systemd/nspawn (a tmpfs) on a host without systemd."""
    nspawn_run = Path("/run/systemd/nspawn")
    if not nspawn_run.is_dir():
        nspawn_run.mkdir(parents=True)
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(nspawn_run)], check=True)


def test_twin_boots_in_nspawn_and_the_kiosk_answers_on_loopback(twin, image_tmp, nspawn_ready):
    data = image_tmp / "nspawn-data"
    data.mkdir()
    kiosk_cfg = tomllib.loads((twin / "etc/sohoa/sohoa.toml").read_text())
    port = kiosk_cfg["ui"]["port"]
    started = time.monotonic()
    nspawn = subprocess.Popen(
        [
            "systemd-nspawn",
            "--quiet",
            "--boot",
            "--volatile=overlay",
            f"--directory={twin}",
            "--register=no",
            "--keep-unit",
            "--private-network",
            f"--bind={data}:/data",
            f"--machine=sohoa-twin-{os.getpid()}",
            "--console=pipe",
            # USBGuard cannot run in a container (no USB bus to own): masked for this boot only.
            "systemd.mask=usbguard.service",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        answered = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and nspawn.poll() is None and answered is None:
            time.sleep(2)
            pid = _container_pid(nspawn)
            if pid is None:
                continue
            probe = _in_container(
                pid,
                sys.executable,
                "-c",
                (
                    "import urllib.request as u;"
                    f"r=u.urlopen('http://127.0.0.1:{port}/', timeout=5);print(r.status)"
                ),
                net_only=True,
            )
            if probe.returncode == 0 and probe.stdout.strip() == "200":
                answered = time.monotonic() - started
        if answered is None:
            pid = _container_pid(nspawn)
            journal = (
                _in_container(pid, "journalctl", "-b", "--no-pager", "-n", "80") if pid else None
            )
            pytest.fail(
                "the kiosk did not answer on loopback in the booted twin:\n"
                + (journal.stdout if journal else "the container did not start")
            )
        print(f"twin booted, kiosk answering after {answered:.0f} s", file=sys.stderr)
        pid = _container_pid(nspawn)
        state = _in_container(
            pid,
            "systemctl",
            "is-active",
            "sohoa.service",
            "sohoa-data-layout.service",
            "var-lib-sohoa.mount",
        )
        assert state.stdout.split() == ["active"] * 3, state.stdout + state.stderr
        # The data really lives on the data partition: the catalog and the device key the
        # first boot generated are in the directory bound as /data, owned by the kiosk.
        catalog = data / "sohoa" / "catalog.db"
        assert catalog.is_file() and catalog.stat().st_uid == 901
        key = data / "sohoa" / "keys" / "signing.key.pem"
        assert key.is_file() and (key.stat().st_mode & 0o777) == 0o600
        # the agent's group may only pass through to run/ and identity/ (firmware.fleet.link)
        from firmware.fleet.link import DATA_DIR_MODE

        assert (data / "sohoa").stat().st_mode & 0o777 == DATA_DIR_MODE
        failed = _in_container(pid, "systemctl", "--failed", "--plain", "--no-legend")
        assert "sohoa" not in failed.stdout, failed.stdout
    finally:
        nspawn.send_signal(signal.SIGTERM)  # nspawn asks the container's systemd to power off
        try:
            nspawn.wait(timeout=60)
        except subprocess.TimeoutExpired:
            nspawn.kill()
            nspawn.wait()


# --- the disk image and the update bundle ------------------------------------------------


@pytest.fixture(scope="session")
def disk_image(twin) -> Path:
    """The twin's flashable image from image-build/mkimage.sh (genimage, no loop mounts)."""
    out = twin.parent
    env = dict(os.environ, ARCH="amd64", ROOT_SIZE="2G")
    proc = subprocess.run(
        [str(IMAGE / "mkimage.sh"), str(out)], env=env, capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "sohoa-amd64.img"


def _ext4_uuid(path: Path, offset: int) -> str:
    with open(path, "rb") as fh:
        fh.seek(offset + 1024)
        sb = fh.read(256)
    assert sb[0x38:0x3A] == b"\x53\xef", "no ext4 superblock"
    u = sb[0x68:0x78].hex()
    return f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}"


@pytest.mark.slow
def test_genimage_lays_out_boot_two_root_slots_and_data(disk_image):
    cfg = _config()
    table = subprocess.run(
        ["sfdisk", "-d", str(disk_image)], capture_output=True, text=True, check=True
    ).stdout
    assert "label: dos" in table
    assert f"label-id: {cfg['DISK_SIGNATURE']}" in table
    parts = re.findall(
        r"^\S+ : start=\s*(\d+), size=\s*(\d+), type=(\w+)(, bootable)?$", table, re.M
    )
    assert [(p[2], bool(p[3])) for p in parts] == [
        ("c", True),
        ("83", False),
        ("83", False),
        ("83", False),
    ]
    assert int(parts[1][1]) == int(parts[2][1]) == 2 * 1024**3 // 512  # A and B alike
    for start, _, _, _ in parts:
        assert int(start) % (4 * 1024 * 1024 // 512) == 0  # 4 MiB aligned
    assert _ext4_uuid(disk_image, int(parts[1][0]) * 512) == cfg["ROOT_FS_UUID"]
    assert _ext4_uuid(disk_image, int(parts[2][0]) * 512) == cfg["ROOT_FS_UUID"]
    assert _ext4_uuid(disk_image, int(parts[3][0]) * 512) == cfg["DATA_FS_UUID"]
    with open(disk_image, "rb") as fh:
        fh.seek(int(parts[0][0]) * 512)
        boot = fh.read(512)
    assert boot[0x43:0x47][::-1].hex().upper() == cfg["BOOT_VOLUME_ID"]  # FAT32 volume id


def _bundle(payload: Path, keys: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(IMAGE / "mkbundle.sh"),
            str(payload),
            str(keys / "ci.cert.pem"),
            str(keys / "ci.key.pem"),
            str(out),
            "amd64",
            "2025.12.01",
        ],
        env=dict(os.environ, BUNDLE_ZSTD_LEVEL="1"),
        capture_output=True,
        text=True,
        timeout=1800,
    )


def _check_bundle(bundle: Path, keys: Path) -> None:
    """`rauc info` accepts the bundle with the CI keyring and refuses it with another."""
    good = subprocess.run(
        ["rauc", "info", f"--keyring={keys / 'ci.cert.pem'}", "--output-format=json", str(bundle)],
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0, good.stderr
    info = json.loads(good.stdout)
    assert info["compatible"] == "sohoa-kiosk-amd64" and info["version"] == "2025.12.01"
    assert "rootfs.ext4" in good.stdout
    bad = subprocess.run(
        ["rauc", "info", f"--keyring={keys / 'other.cert.pem'}", str(bundle)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert "signature" in (bad.stdout + bad.stderr).lower(), bad.stdout + bad.stderr


def test_rauc_bundle_verifies_with_the_ci_key_and_not_with_another(twin, ci_keys, tmp_path):
    """The bundle command on a small root file system made from the twin's /etc (the full
    one is the slow test below): signed with the CI key, refused under another keyring."""
    payload = tmp_path / "rootfs.ext4"
    subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext4", "-d", str(twin / "etc"), str(payload), "64M"],
        check=True,
        capture_output=True,
    )
    bundle = tmp_path / "sohoa-amd64.raucb"
    proc = _bundle(payload, ci_keys, bundle)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _check_bundle(bundle, ci_keys)
    # The image trusts exactly the key its bundles are signed with (a twin built by the
    # fixture; a reused IMAGE_TWIN was built with another throw-away key).
    if not PREBUILT_TWIN:
        keyring = twin / "etc/rauc/keyring.pem"
        assert keyring.read_bytes() == (ci_keys / "ci.cert.pem").read_bytes()


@pytest.mark.slow
def test_rauc_bundle_of_the_whole_twin_root(disk_image, ci_keys, tmp_path):
    bundle = tmp_path / "sohoa-amd64.raucb"
    proc = _bundle(disk_image.parent / "rootfs.ext4", ci_keys, bundle)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _check_bundle(bundle, ci_keys)
