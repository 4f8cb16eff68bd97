"""Verify a downloaded release artifact, then unpack it; nothing is unpacked before the
whole file matched the length and SHA-256 the release role signed (its TUF target).

The unpack is defensive even though the bytes are signed (a leaked release key must still
not let an artifact write outside the staging directory): only regular files named by the
manifest, tarfile's ``data`` filter (no absolute paths, no ``..``, no links or devices), a
size cap, and every member checked against the manifest's length and hash afterwards.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

from tuf.api.exceptions import LengthOrHashMismatchError
from tuf.api.metadata import TargetFile

from firmware.errors import KioskError
from provisioning.release.manifest import MANIFEST_NAME, Manifest, ManifestError, file_entry

#: The most an artifact may unpack to (a release is ~10 MB; the data partition is shared).
MAX_UNPACKED = 512 * 1024 * 1024


@dataclass(frozen=True)
class Expected:
    """What the release's TUF target says about the artifact."""

    length: int
    sha256: str
    path: str = "release.tar"

    @classmethod
    def from_target(cls, target: TargetFile) -> Expected:
        return cls(target.length, target.hashes["sha256"], target.path)

    def target(self) -> TargetFile:
        return TargetFile(self.length, {"sha256": self.sha256}, self.path)


def _refused(en: str, vi: str) -> KioskError:
    return KioskError("update_refused", en, vi)


def verify(artifact: Path, expected: Expected) -> None:
    """Raise :class:`KioskError` ``update_refused`` unless length and SHA-256 match."""
    try:
        with open(artifact, "rb") as fh:
            expected.target().verify_length_and_hashes(fh)
    except LengthOrHashMismatchError as exc:
        raise _refused(
            f"The release artifact does not match its signed target ({exc}); it is not installed.",
            "Gói cập nhật không khớp với chữ ký nên không được cài đặt.",
        ) from None


def unpack(artifact: Path, dest: Path, max_bytes: int = MAX_UNPACKED) -> Manifest:
    """Unpack a verified artifact into ``dest`` (created, must not exist); its manifest."""
    dest.mkdir(parents=True)
    try:
        with tarfile.open(artifact, "r:") as tar:
            members = tar.getmembers()
            by_name = {m.name: m for m in members}
            if MANIFEST_NAME not in by_name or not by_name[MANIFEST_NAME].isfile():
                raise ManifestError("no manifest.json in the artifact")
            fh = tar.extractfile(by_name[MANIFEST_NAME])
            assert fh is not None
            manifest = Manifest.from_bytes(fh.read(1 << 20))
            named = {f.path: f for f in manifest.files}
            total = 0
            for m in members:
                if m.name == MANIFEST_NAME:
                    continue
                if m.name not in named or not m.isfile():
                    raise ManifestError(f"unexpected member {m.name!r}")
                total += m.size
                if total > max_bytes:
                    raise ManifestError(f"unpacks to more than {max_bytes} bytes")
            missing = set(named) - set(by_name)
            if missing:
                raise ManifestError(f"members missing: {sorted(missing)}")
            tar.extractall(dest, members=[by_name[n] for n in sorted(named)], filter="data")
        for entry in manifest.files:
            got = file_entry(dest / entry.path, entry.path)
            if got != entry:
                raise ManifestError(f"{entry.path} does not match the manifest")
    except (ManifestError, tarfile.TarError) as exc:
        raise _refused(
            f"The release artifact is malformed ({exc}); it is not installed.",
            "Gói cập nhật bị hỏng nên không được cài đặt.",
        ) from None
    return manifest
