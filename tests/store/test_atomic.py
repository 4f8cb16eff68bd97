"""Atomic writes: a failure leaves the old content and no temporary behind."""

import pytest

from sohoa_common.atomic import atomic_open, atomic_write_bytes, remove_stale_temporaries


def test_replace_and_failure(tmp_path):
    target = tmp_path / "a" / "page.jpg"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write(b"half")
        raise RuntimeError("power cut")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["page.jpg"]


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / "d").mkdir()
    stale = tmp_path / "d" / ".tmp-page.jpg.abc"
    stale.write_bytes(b"x")
    keep = tmp_path / "d" / "page.jpg"
    keep.write_bytes(b"y")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert keep.exists()
