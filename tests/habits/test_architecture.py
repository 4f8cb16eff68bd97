"""No import circles and no calls into another module's private names (issue #13).

``python tools/archcheck.py`` prints every finding. The findings known when the check came
in are listed in ``tools/archcheck-baseline.txt``; that list may only shrink.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _archcheck():
    spec = importlib.util.spec_from_file_location("archcheck", ROOT / "tools" / "archcheck.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["archcheck"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_no_new_import_circle_or_private_call():
    ac = _archcheck()
    new = sorted({ac.key(f) for f in ac.findings()} - ac.baseline())
    assert not new, "new findings (fix them; see tools/archcheck.py):\n" + "\n".join(new)


def test_the_baseline_lists_only_what_is_still_there():
    ac = _archcheck()
    fixed = sorted(ac.baseline() - {ac.key(f) for f in ac.findings()})
    assert not fixed, "fixed, remove from tools/archcheck-baseline.txt:\n" + "\n".join(fixed)


def test_the_check_finds_a_circle_and_a_private_call(tmp_path, monkeypatch):
    """The checker itself works: a made-up package with both faults is reported."""
    ac = _archcheck()
    pkg = tmp_path / "firmware"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from firmware import b\n\n\ndef f():\n    return b._hidden()\n")
    (pkg / "b.py").write_text("def g():\n    from firmware.a import f\n    return f\n")
    monkeypatch.setattr(ac, "ROOT", tmp_path)
    monkeypatch.setattr(ac, "PACKAGES", ("firmware",))
    found = [str(f) for f in ac.findings()]
    assert "import circle: firmware.a <-> firmware.b" in found
    assert any("uses private ._hidden of b" in f for f in found)
