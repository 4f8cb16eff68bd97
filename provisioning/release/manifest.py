"""The manifest inside a release artifact: the one definition both the builder and the
kiosk's updater use (file names, hashes, the lock format), so they cannot drift apart.

An artifact is an uncompressed tar (the wheel inside is already compressed) holding
``manifest.json``, ``requirements.lock`` and ``wheels/<the app wheel>``. The artifact as a
whole is a TUF target (length and SHA-256 signed by the release role); the manifest then
names the length and SHA-256 of every other member, so each byte unpacked is covered.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
LOCK_NAME = "requirements.lock"
WHEELS_DIR = "wheels"
FORMAT = 1
#: Distributions a lock never compares: the installer's own tools and the app itself.
LOCK_IGNORED = frozenset({"pip", "setuptools", "wheel", "sohoa"})
VERSION_RE = re.compile(r"^[0-9][0-9A-Za-z.+_-]{0,63}$")


class ManifestError(ValueError):
    """A manifest that is missing, malformed, or does not match the files it names."""


@dataclass(frozen=True)
class FileEntry:
    path: str
    length: int
    sha256: str


@dataclass
class Manifest:
    name: str
    version: str
    arch: str
    python: str
    source_date_epoch: int
    files: list[FileEntry] = field(default_factory=list)
    format: int = FORMAT

    def to_bytes(self) -> bytes:
        body = asdict(self)
        body["files"] = sorted(body["files"], key=lambda f: f["path"])
        return (json.dumps(body, sort_keys=True, indent=1) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        try:
            raw: dict[str, Any] = json.loads(data)
            files = [
                FileEntry(str(f["path"]), int(f["length"]), str(f["sha256"])) for f in raw["files"]
            ]
            m = cls(
                name=str(raw["name"]),
                version=str(raw["version"]),
                arch=str(raw["arch"]),
                python=str(raw["python"]),
                source_date_epoch=int(raw["source_date_epoch"]),
                files=files,
                format=int(raw["format"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"manifest unreadable: {exc}") from None
        if m.format != FORMAT:
            raise ManifestError(f"manifest format {m.format} is not {FORMAT}")
        check_version(m.version)
        return m

    def wheel(self) -> FileEntry:
        """The application's own wheel (the one named after the release)."""
        for f in self.files:
            name = f.path.rsplit("/", 1)[-1]
            if f.path.startswith(WHEELS_DIR + "/") and name.startswith(
                f"{self.name}-{self.version}-"
            ):
                return f
        raise ManifestError(f"the manifest names no wheel of {self.name} {self.version}")

    def dependency_wheels(self) -> list[FileEntry]:
        own = self.wheel()
        return [f for f in self.files if f.path.startswith(WHEELS_DIR + "/") and f != own]


def check_version(version: str) -> str:
    """A release version is also a directory name: no separators, no dots-only names."""
    if not VERSION_RE.match(version) or ".." in version:
        raise ManifestError(f"not a release version: {version!r}")
    return version


def file_entry(path: Path, name: str) -> FileEntry:
    digest = hashlib.sha256()
    length = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            length += len(chunk)
    return FileEntry(name, length, digest.hexdigest())


def parse_lock(text: str) -> dict[str, str]:
    """``name==version`` lines (pip freeze's format, what the OS image writes beside each
    release) as {normalized name: version}, without :data:`LOCK_IGNORED`."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" not in line:
            continue
        name, version = line.split("==", 1)
        key = re.sub(r"[-_.]+", "-", name.strip()).lower()
        if key not in LOCK_IGNORED:
            out[key] = version.strip()
    return out
