"""Real RAUC for the OS update tests: keys (openssl), a bundle of a small ext4 root image
(``rauc bundle``), file-backed slots with the image's custom bootloader backend, and a
bootloader stand-in with U-Boot's attempt counter.

The tests run the scenario (:mod:`tests.support.rauc_scenario`) under ``unshare -m
dbus-run-session``: a private mount namespace (``/proc/cmdline`` is bind-mounted to say which
slot "booted") and a private D-Bus on which ``rauc service`` runs (``DBUS_STARTER_BUS_TYPE=
session``). No device mapper here, so bundles are ``plain`` (signature over the whole file);
the Pi's configuration insists on ``verity``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "image-build" / "rootfs" / "usr" / "lib" / "sohoa" / "rauc-bootloader-file"
COMPATIBLE = "sohoa-test"
SLOT_SIZE = 8 * 1024 * 1024
TOOLS = ("rauc", "unshare", "dbus-run-session", "mksquashfs", "mkfs.ext4", "openssl", "mount")


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def make_key(dest: Path, name: str) -> tuple[Path, Path]:
    """A P-256 key and self-signed certificate (the release key's X.509 counterpart)."""
    key, cert = dest / f"{name}.key.pem", dest / f"{name}.cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30"]
        + ["-subj", f"/CN={name}"],
        check=True,
        capture_output=True,
    )
    return key, cert


def root_image(dest: Path, marker: str) -> Path:
    """An ext4 root file system image saying ``marker`` in /etc/sohoa-os."""
    tree = dest / f"rootfs-{marker}"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "sohoa-os").write_text(marker + "\n")
    (tree / "etc" / "payload").write_bytes(marker.encode() * 40_000)  # squashfs needs > 4 KB
    image = dest / f"root-{marker}.ext4"
    with open(image, "wb") as fh:
        fh.truncate(SLOT_SIZE)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(image)], check=True)
    shutil.rmtree(tree)
    return image


def bundle(dest: Path, image: Path, key: Path, cert: Path, version: str) -> Path:
    content = dest / f"bundle-{version}"
    content.mkdir()
    shutil.copyfile(image, content / "root.ext4")
    (content / "manifest.raucm").write_text(
        f"[update]\ncompatible={COMPATIBLE}\nversion={version}\n\n[bundle]\nformat=plain\n\n"
        "[image.rootfs]\nfilename=root.ext4\n"
    )
    out = dest / f"sohoa-os-{version}.raucb"
    subprocess.run(
        ["rauc", "bundle", f"--cert={cert}", f"--key={key}", str(content), str(out)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(content)
    return out


def system(work: Path, keyring: Path) -> Path:
    """Two file-backed root slots A and B, the image's custom backend; the system.conf."""
    for slot in ("A", "B"):
        with open(work / f"slot{slot}.img", "wb") as fh:
            fh.truncate(SLOT_SIZE)
    (work / "rauc-data").mkdir(exist_ok=True)
    conf = work / "system.conf"
    conf.write_text(
        f"""[system]
compatible={COMPATIBLE}
bootloader=custom
data-directory={work / "rauc-data"}
bundle-formats=plain

[handlers]
bootloader-custom-backend={BACKEND}

[keyring]
path={keyring}

[slot.rootfs.0]
device={work / "slotA.img"}
type=raw
bootname=A

[slot.rootfs.1]
device={work / "slotB.img"}
type=raw
bootname=B
"""
    )
    return conf


def read_state(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().split() if "=" in line)


def boot(state_path: Path) -> str:
    """What the bootloader does at power-on (U-Boot's boot counting): the primary slot while
    it has attempts left, taking one; else the other slot."""
    st = read_state(state_path)
    primary = st.get("primary", "A")
    left = int(st.get(f"{primary}_left", "3"))
    if left > 0:
        st[f"{primary}_left"] = str(left - 1)
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text("".join(f"{k}={v}\n" for k, v in st.items()))
        tmp.replace(state_path)
        return primary
    return "B" if primary == "A" else "A"
