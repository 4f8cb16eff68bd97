"""``sohoa release build``: this checkout as a release artifact, byte for byte reproducible.

Steps: copy the checkout's files (tracked and untracked-but-not-ignored, as git lists them)
into a scratch tree, stamp the release version into ``firmware/__init__.py`` (the one place
the version lives; pyproject reads it), ``pip wheel --no-deps --no-build-isolation`` with
``SOURCE_DATE_EPOCH`` set (wheel then writes fixed zip timestamps), write the requirements
lock (the wheel's runtime dependencies, resolved transitively against the environment the
build runs in, pinned ``name==version``), the manifest, and a tar whose members are sorted
with fixed mtime, uid/gid 0 and no owner names. Same tree + same epoch = same bytes (tested).

Only the build machine's architecture is produced (the lock pins what is installed here);
an arm64 artifact is built the same way on arm64 (the image build does it in a chroot).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from provisioning.release.manifest import (
    LOCK_IGNORED,
    LOCK_NAME,
    MANIFEST_NAME,
    WHEELS_DIR,
    Manifest,
    check_version,
    file_entry,
)

PROJECT = "sohoa"
VERSION_FILE = Path("firmware/__init__.py")
VERSION_LINE = re.compile(r'^__version__ = "[^"]*"$', re.M)
#: Never part of a release even when git does not ignore them here.
SKIP_PARTS = frozenset({".git", ".venv", "__pycache__", "build", "var"})


class ReleaseBuildError(RuntimeError):
    pass


def checkout_files(source: Path) -> list[str]:
    """The files of the checkout as git sees them (tracked + new, minus ignored ones);
    a tree without git of its own falls back to every file outside :data:`SKIP_PARTS`.

    "Of its own": a copy made inside an ignored folder of a checkout (the demo's broken
    release is staged under ``var/``) is inside that checkout's work tree, where git lists
    none of its files as tracked or new, and the release came out empty.
    """
    try:
        if not (source / ".git").exists():
            raise OSError("not the top of a git checkout")
        out = subprocess.run(
            [
                "git",
                "-C",
                str(source),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            check=True,
            capture_output=True,
        ).stdout
        names = [n for n in out.decode("utf-8").split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = [str(p.relative_to(source)) for p in source.rglob("*") if p.is_file()]
    return sorted(
        n for n in names if not SKIP_PARTS.intersection(Path(n).parts) and (source / n).is_file()
    )


def copy_checkout(source: Path, dest: Path) -> Path:
    for name in checkout_files(source):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target)
    return dest


def stamp_version(tree: Path, version: str) -> None:
    path = tree / VERSION_FILE
    text = path.read_text(encoding="utf-8")
    if not VERSION_LINE.search(text):
        raise ReleaseBuildError(f"{VERSION_FILE} has no __version__ line to stamp")
    path.write_text(VERSION_LINE.sub(f'__version__ = "{version}"', text, count=1), encoding="utf-8")


def source_epoch(source: Path) -> int:
    """SOURCE_DATE_EPOCH from the environment, else the last commit's time."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        return int(env)
    try:
        out = subprocess.run(
            ["git", "-C", str(source), "log", "-1", "--format=%ct"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return int(out)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return 315532800  # 1980-01-01, the earliest time a zip can hold


def build_wheel(tree: Path, out: Path, epoch: int) -> Path:
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch), "PIP_CONFIG_FILE": os.devnull}
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    cmd += ["--no-index", "--wheel-dir", str(out), str(tree)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tree)
    if proc.returncode != 0:
        raise ReleaseBuildError(f"pip wheel failed: {proc.stderr.strip()[-2000:]}")
    wheels = sorted(out.glob(f"{PROJECT}-*.whl"))
    if len(wheels) != 1:
        raise ReleaseBuildError(f"expected one {PROJECT} wheel, got {[w.name for w in wheels]}")
    return wheels[0]


def runtime_lock(project: str = PROJECT) -> str:
    """The project's runtime dependencies, transitively, as installed in this environment."""
    env: dict[str, str] = {str(k): str(v) for k, v in default_environment().items()}
    pins: dict[str, str] = {}
    todo = [project]
    while todo:
        name = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            raise ReleaseBuildError(f"dependency {name} is not installed here") from exc
        key = canonicalize_name(dist.metadata["Name"])
        if key in pins:
            continue
        pins[key] = dist.version
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                continue
            todo.append(req.name)
    lines = [f"{k}=={v}" for k, v in sorted(pins.items()) if k not in LOCK_IGNORED]
    return "\n".join(lines) + "\n"


def python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def write_tar(out: Path, members: list[tuple[str, Path]], epoch: int) -> None:
    """A tar that depends on nothing but the members' bytes and names."""
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, path in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = path.stat().st_size
            info.mtime = epoch
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
    os.replace(tmp, out)


def artifact_name(version: str, arch: str) -> str:
    return f"{PROJECT}-{version}-{arch}.tar"


def build_release(source: Path, version: str, out_dir: Path, epoch: int | None = None) -> Path:
    """Build the artifact of ``source`` as ``version`` into ``out_dir``; its path."""
    check_version(version)
    epoch = source_epoch(source) if epoch is None else epoch
    arch = platform.machine()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sohoa-release-") as scratch:
        tree = copy_checkout(source, Path(scratch) / "src")
        stamp_version(tree, version)
        wheel_dir = Path(scratch) / "wheels"
        wheel = build_wheel(tree, wheel_dir, epoch)
        lock = Path(scratch) / LOCK_NAME
        lock.write_text(runtime_lock(), encoding="utf-8")
        members = [(f"{WHEELS_DIR}/{wheel.name}", wheel), (LOCK_NAME, lock)]
        manifest = Manifest(
            name=PROJECT,
            version=version,
            arch=arch,
            python=python_tag(),
            source_date_epoch=epoch,
            files=[file_entry(p, n) for n, p in members],
        )
        mpath = Path(scratch) / MANIFEST_NAME
        mpath.write_bytes(manifest.to_bytes())
        manifest.wheel()  # the wheel's name must carry the version we stamped
        out = out_dir / artifact_name(version, arch)
        write_tar(out, [*members, (MANIFEST_NAME, mpath)], epoch)
    return out


def describe(path: Path) -> str:
    """One line for the console: the artifact with its length and SHA-256 (the TUF target)."""
    entry = file_entry(path, path.name)
    return f"{path}  {entry.length} bytes  sha256 {entry.sha256}"


__all__ = ["ReleaseBuildError", "build_release", "describe"]
