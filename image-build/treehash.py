"""File-tree manifest and hash of a built root file system (stdlib only, runs on the host).

Why not hash the image bytes: ext4 and FAT images carry layout details (inode order, free
block maps) that say nothing about what the kiosk runs. Two builds are the same when every
path has the same type, mode, owner, content (or link target); that is what `hash` prints.
`manifest` lists the Debian packages (from the dpkg database) and the Python packages of
the kiosk's release (its requirements.lock) with their versions: the package lock format.

    python3 treehash.py hash ROOTFS        -> sha256 of the tree, then one line per path
    python3 treehash.py manifest ROOTFS    -> "deb NAME:ARCH VERSION" / "python NAME VERSION"
    python3 treehash.py diff ROOTFS1 ROOTFS2
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

# Runtime mount points whose content is not part of the image (empty in a clean build).
SKIP_DIRS = {"proc", "sys", "dev", "run", "tmp"}


def entries(root: Path) -> Iterator[str]:
    """One line per path: type, mode, uid:gid, size/target/digest; sorted, deterministic."""
    root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames.sort()
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode)
            owner = f"{st.st_uid}:{st.st_gid}"
            if stat.S_ISLNK(st.st_mode):
                yield f"l {mode:04o} {owner} /{rel} -> {os.readlink(path)}"
            elif stat.S_ISDIR(st.st_mode):
                yield f"d {mode:04o} {owner} /{rel}"
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256()
                with open(path, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(block)
                yield f"f {mode:04o} {owner} /{rel} {st.st_size} {digest.hexdigest()}"
            else:
                kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else "p"
                yield f"{kind} {mode:04o} {owner} /{rel} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"


def tree_hash(root: Path) -> tuple[str, list[str]]:
    lines = list(entries(root))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest(), lines


def manifest(root: Path) -> list[str]:
    """Package versions: Debian's from /var/lib/dpkg/status, Python's from the releases."""
    out: list[str] = []
    status = (root / "var/lib/dpkg/status").read_text(encoding="utf-8")
    for para in status.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in para.splitlines() if ": " in line and line[0] != " "
        )
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            out.append(f"deb {fields['Package']}:{fields['Architecture']} {fields['Version']}")
    for lock in sorted((root / "opt/sohoa/releases").glob("*/requirements.lock")):
        for line in lock.read_text(encoding="utf-8").splitlines():
            if "==" in line:
                name, version = line.split("==", 1)
                out.append(f"python {name.lower()} {version}")
    return sorted(set(out))


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "hash":
        digest, lines = tree_hash(Path(argv[2]))
        print(digest)
        print("\n".join(lines))
        return 0
    if len(argv) == 3 and argv[1] == "manifest":
        print("\n".join(manifest(Path(argv[2]))))
        return 0
    if len(argv) == 4 and argv[1] == "diff":
        a, b = set(entries(Path(argv[2]))), set(entries(Path(argv[3])))
        for line in sorted(a - b):
            print(f"- {line}")
        for line in sorted(b - a):
            print(f"+ {line}")
        return 1 if a != b else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
