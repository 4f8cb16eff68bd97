"""A power cut loses nothing: every durable step of a real ``sohoa scan`` is checked in
the system calls it makes (strace), since ``kill -9`` keeps the page cache and cannot show
what an unsynced write would lose (issue #14).

For each frame in ``spool/`` and each sealed PDF and sidecar in ``sealed/``: the data is
written under a temporary name, that file is fsynced after its last write and before it is
renamed over the final name, the directory is fsynced after the rename, and only then does
a catalog commit (a write of ``catalog.db-wal`` and its fdatasync) follow; the final catalog
points at the file. A write reordered, a missing fsync or a row committed before the file
was durable fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware.store.catalog import Catalog
from tests.conftest import ROOT, sohoa_cmd

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed"),
]

CALLS = "openat,write,pwrite64,fsync,fdatasync,rename,renameat,renameat2"
# 123 fsync(5</path>) = 0   /   123 rename("/a", "/b") = 0   (strace -f -y; the pid is
# padded to five columns, so a four-digit pid is followed by two spaces)
FD_CALL = re.compile(r"^\d+\s+(write|pwrite64|fsync|fdatasync)\(\d+<([^>]*)>")
RENAME = re.compile(r'^\d+\s+rename(?:at2?)?\((?:[^"]*)"([^"]+)", (?:[^"]*)"([^"]+)"')


@dataclass
class Call:
    n: int
    kind: str
    path: str
    target: str = ""


def parse(trace: str) -> list[Call]:
    """The completed write/sync/rename calls in order. An ``<unfinished ...>`` call is
    placed where it resumed (when it took effect), which is what ordering is about."""
    calls: list[Call] = []
    pending: dict[tuple[str, str], Call] = {}
    for n, line in enumerate(trace.splitlines()):
        pid, _, rest = line.partition(" ")
        rest = rest.lstrip()
        if "<unfinished ...>" in line:
            m = FD_CALL.match(line) or RENAME.match(line)
            if m:
                kind = "rename" if rest.startswith("rename") else m.group(1)
                c = Call(n, kind, m.group(1 if kind == "rename" else 2))
                if kind == "rename":
                    c.target = m.group(2)
                pending[(pid, kind.split("at")[0] if kind.startswith("rename") else kind)] = c
            continue
        m = re.match(r"^\d+\s+<\.\.\. (\w+) resumed>.*= (-?\d+)", line)
        if m:
            kind = m.group(1)
            key = (pid, "rename" if kind.startswith("rename") else kind)
            c = pending.pop(key, None)
            if c is not None and m.group(2) != "-1":
                c.n = n
                calls.append(c)
            continue
        if line.rstrip().endswith("= -1") or " = -1 " in line:
            continue
        m = RENAME.match(line)
        if m:
            calls.append(Call(n, "rename", m.group(1), m.group(2)))
            continue
        m = FD_CALL.match(line)
        if m:
            calls.append(Call(n, m.group(1), m.group(2)))
    return sorted(calls, key=lambda c: c.n)


def check_durable(calls: list[Call], final: Path) -> list[str]:
    """What is wrong with how ``final`` was made durable (empty: nothing)."""
    renames = [c for c in calls if c.kind == "rename" and c.target == str(final)]
    if not renames:
        return [f"{final.name}: never renamed into place (written in place?)"]
    r = renames[-1]
    tmp = r.path
    writes = [c for c in calls if c.kind in ("write", "pwrite64") and c.path == tmp and c.n < r.n]
    syncs = [c for c in calls if c.kind in ("fsync", "fdatasync") and c.path == tmp]
    problems = []
    if not writes:
        problems.append(f"{final.name}: no data written before the rename")
    last_write = max((c.n for c in writes), default=-1)
    if not any(last_write < c.n < r.n for c in syncs):
        problems.append(f"{final.name}: not fsynced between its last write and the rename")
    dir_syncs = [c for c in calls if c.kind == "fsync" and c.path == str(final.parent)]
    after = [c.n for c in dir_syncs if c.n > r.n]
    if not after:
        problems.append(f"{final.name}: directory not fsynced after the rename")
        return problems
    wal = str(root_of(final) / "catalog.db-wal")
    commits = [c for c in calls if c.kind == "fdatasync" and c.path == wal and c.n > after[0]]
    if not commits:
        problems.append(f"{final.name}: no catalog commit after the file was durable")
    return problems


def root_of(path: Path) -> Path:
    for p in path.parents:
        if (p / "catalog.db").exists():
            return p
    raise AssertionError(f"no data dir above {path}")


def test_scan_makes_every_frame_and_sealed_file_durable_in_order(tmp_path):
    data, out, trace = tmp_path / "var", tmp_path / "out", tmp_path / "trace"
    env = {"SOHOA_CAMERA__WIDTH": "1600", "SOHOA_CAMERA__HEIGHT": "1200", "SOHOA_OCR__WORKERS": "1"}
    sohoa = ["--data-dir", str(data), "scan", "--camera", "sim", "--pages", "2", "--out", str(out)]
    strace = ["strace", "-f", "-y", "-qq", "-s", "0", "-o", str(trace), "-e", f"trace={CALLS}"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")} | env
    res = subprocess.run(
        strace + sohoa_cmd() + sohoa, capture_output=True, text=True, env=full_env, cwd=ROOT,
        timeout=280,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    calls = parse(trace.read_text(errors="replace"))
    frames = sorted((data / "spool").glob("*/*.jpg"))
    sealed = sorted((data / "sealed").glob("*.pdf")) + sorted((data / "sealed").glob("*.json"))
    assert len(frames) == 2 and len(sealed) == 2, (frames, sealed)
    problems = [p for f in frames + sealed for p in check_durable(calls, f)]
    assert problems == []
    cat = Catalog(data / "catalog.db")
    try:
        pages = cat.db.execute("SELECT frame_path FROM pages").fetchall()
        assert sorted(Path(p[0]) for p in pages) == frames
        (doc,) = cat.db.execute("SELECT state, pdf_path FROM documents").fetchall()
        assert Path(doc[1]) == sealed[0] and doc[0] in ("sealed", "queued")
    finally:
        cat.close()


def test_the_checker_catches_a_missing_fsync(tmp_path):
    """The checker itself fails on the orders a power cut would punish."""
    (tmp_path / "catalog.db").touch()
    f = tmp_path / "sealed" / "D1.pdf"
    f.parent.mkdir()
    f.touch()
    tmp = str(f.parent / ".tmp-D1.pdf.x")
    wal = str(tmp_path / "catalog.db-wal")
    good = [
        Call(1, "write", tmp),
        Call(2, "fsync", tmp),
        Call(3, "rename", tmp, str(f)),
        Call(4, "fsync", str(f.parent)),
        Call(5, "fdatasync", wal),
    ]
    assert check_durable(good, f) == []
    assert check_durable([c for c in good if c.n != 2], f)  # no fsync of the file
    assert check_durable([c for c in good if c.n != 4], f)  # no fsync of the directory
    reordered = [Call(1, "write", tmp), Call(2, "rename", tmp, str(f)), Call(3, "fsync", tmp)]
    assert check_durable(reordered + good[3:], f)  # fsync after the rename
    early_row = [*good[:3], Call(3, "fdatasync", wal), Call(4, "fsync", str(f.parent))]
    assert check_durable(early_row, f)  # the only commit came before the file was durable


def test_parse_reads_calls_whatever_the_pid_width():
    """strace pads the pid to five columns: a four-digit pid (the CI machine's) is followed
    by two spaces, a five-digit one by one; both parse, as do split calls."""
    trace = "\n".join(
        [
            '812   rename("/d/.tmp-a", "/d/a") = 0',
            "6498  fsync(7</d/.tmp-b> <unfinished ...>",
            '12345 rename("/d/.tmp-c", "/d/c") = 0',
            "6498  <... fsync resumed>) = 0",
            "6498  fsync(3</d>) = 0",
        ]
    )
    calls = [(c.kind, c.path, c.target) for c in parse(trace)]
    assert calls == [
        ("rename", "/d/.tmp-a", "/d/a"),
        ("rename", "/d/.tmp-c", "/d/c"),
        ("fsync", "/d/.tmp-b", ""),
        ("fsync", "/d", ""),
    ]
