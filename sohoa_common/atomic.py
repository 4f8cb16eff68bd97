"""Crash-safe file writes.

A power cut may hit at any instant. A file that matters is written under a temporary name in
the same directory, fsynced, renamed over its final name and the directory fsynced, so after
a crash the final name holds either the old content or the complete new content, never a
torn file. Catalog rows point at a file only after this returns.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

TMP_PREFIX = ".tmp-"


def fsync_dir(path: Path) -> None:
    """Make a rename/creation inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: Path | str, mode: int = 0o640) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` atomically when the block exits cleanly.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", dir=path.parent)
    ok = False
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        fsync_dir(path.parent)
        ok = True
    finally:
        if not ok:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def atomic_write_bytes(path: Path | str, data: bytes, mode: int = 0o640) -> Path:
    """Write ``data`` to ``path`` atomically and durably; return the path."""
    with atomic_open(path, mode) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: Path | str, text: str, mode: int = 0o640) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), mode)


def atomic_move(src: Path, dst: Path) -> None:
    """Move a complete, fsynced file into place on the same file system, durably."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)
    fsync_dir(dst.parent)
    if src.parent != dst.parent:
        fsync_dir(src.parent)


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete temporaries left by writes that a crash interrupted; return what was removed."""
    removed: list[Path] = []
    if not directory.exists():
        return removed
    for p in directory.rglob(TMP_PREFIX + "*"):
        if p.is_file():
            p.unlink()
            removed.append(p)
    return removed


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file, streamed: the checksum recorded for the files written here."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
