"""Partial uploads on the hub's disk: one ``<upload id>.part`` file per tus upload.

The database's ``offset`` is the number of bytes acknowledged; it is only advanced after the
file has been fsynced up to that point, so a hub killed at any instant restarts with a file
at least as long as its recorded offset. Bytes beyond the offset (written but not yet
acknowledged) are cut off before the next write, so a resumed upload never keeps unverified
leftovers.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

from provisioning.hub.storage import StorageFull
from sohoa_common.atomic import TMP_PREFIX, fsync_dir


class Spool:
    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.part"

    def create(self, upload_id: str) -> None:
        path = self.path(upload_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        fsync_dir(self.root)

    def remove(self, upload_id: str) -> None:
        self.path(upload_id).unlink(missing_ok=True)

    def open_at(self, upload_id: str, offset: int) -> PartWriter:
        """A writer positioned at ``offset`` (unacknowledged bytes beyond it are dropped)."""
        return PartWriter(self.path(upload_id), offset)

    def sha256(self, upload_id: str) -> str:
        with open(self.path(upload_id), "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()

    def remove_orphans(self, live: set[str]) -> list[str]:
        """Delete part files whose upload is no longer open (crash between steps)."""
        removed = []
        for p in self.root.iterdir():
            uid = p.name.removesuffix(".part")
            if p.name.startswith(TMP_PREFIX) or (p.suffix == ".part" and uid not in live):
                p.unlink(missing_ok=True)
                removed.append(p.name)
        return removed


class PartWriter:
    """Appends to a part file; :meth:`sync` makes everything written so far durable."""

    def __init__(self, path: Path, offset: int):
        try:
            self._fh = open(path, "r+b")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            self._fh = open(path, "w+b")  # noqa: SIM115
        self._fh.truncate(offset)
        self._fh.seek(offset)
        self.offset = offset

    def write(self, data: bytes) -> None:
        try:
            self._fh.write(data)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(str(exc)) from exc
            raise
        self.offset += len(data)

    def sync(self) -> int:
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(str(exc)) from exc
            raise
        return self.offset

    def rewind(self, offset: int) -> None:
        """Forget everything after ``offset`` (a chunk that failed its checksum or the disk)."""
        try:
            self._fh.flush()
        except OSError:
            pass
        self._fh.seek(offset)
        self._fh.truncate(offset)
        self.offset = offset

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError:
            pass
