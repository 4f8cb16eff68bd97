"""Events have named kinds (issue #13): every publisher names an ``EventKind``, the bus
refuses any other kind, and the screens' JavaScript matches ``KIND.X`` from the page config
instead of raw strings (a typo in a raw string would drop the event silently). Each kind's
payload is typed (one ``publish`` overload per kind), every publisher is in the type check,
and the type check refuses a payload that does not match its kind."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from firmware.events import PAYLOADS, EventBus, EventKind, js_kinds
from kiosk_ui.app import create_app
from kiosk_ui.context import UiOptions

ROOT = Path(__file__).resolve().parents[2]
PUBLISHERS = [ROOT / "firmware", ROOT / "kiosk_ui", ROOT / "drivers"]
SCRIPTS = ROOT / "kiosk_ui" / "static" / "js"


def publish_calls() -> list[tuple[str, int, ast.expr]]:
    """The first argument of every ``<something>.events.publish(...)``-like call that has one."""
    found = []
    for top in PUBLISHERS:
        for path in sorted(top.rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "publish"
                    and node.args
                ):
                    found.append((str(path.relative_to(ROOT)), node.lineno, node.args[0]))
    return found


def test_every_published_kind_is_one_of_the_enum():
    calls = publish_calls()
    assert len(calls) >= 20, "the scan no longer finds the publishers"
    wrong = []
    for where, line, arg in calls:
        named = (
            isinstance(arg, ast.Attribute)
            and isinstance(arg.value, ast.Name)
            and arg.value.id == "EventKind"
            and arg.attr in EventKind.__members__
        )
        if not named:
            wrong.append(f"{where}:{line}: {ast.unparse(arg)}")
    assert wrong == []


def test_the_bus_refuses_a_kind_it_does_not_know_and_sends_the_value():
    bus = EventBus()
    q = bus.subscribe()
    with pytest.raises(ValueError):
        bus.publish("pages", page_id="p")  # type: ignore[arg-type]
    assert q.empty()
    bus.publish(EventKind.BACKLOG, backlog=3)
    event = q.get_nowait()
    assert event["kind"] == "backlog" and type(event["kind"]) is str and event["backlog"] == 3
    assert json.loads(json.dumps(event))["kind"] == "backlog"


def test_every_kind_has_its_payload_type():
    assert set(PAYLOADS) == set(EventKind)


def test_the_script_matches_named_kinds_only():
    sources = {p: p.read_text() for p in sorted(SCRIPTS.rglob("*.js"))}
    assert sources, "no modules found"
    raw = [
        f"{p.relative_to(ROOT)}: {m.group(0)}"
        for p, text in sources.items()
        for m in re.finditer(
            r"""\bkind\s*(?:===?|!==?)\s*["'`]|["'`]\s*(?:===?|!==?)\s*\w+\.kind\b""", text
        )
    ]
    assert raw == []
    used = {n for text in sources.values() for n in re.findall(r"\bKIND\.(\w+)", text)}
    assert used, "the script matches no kind: the pattern no longer fits"
    assert sorted(used - set(EventKind.__members__)) == []


def test_the_page_config_hands_the_kinds_to_the_script(kiosk_factory):
    app = create_app(kiosk_factory(workers=1), UiOptions())
    with TestClient(app, base_url="http://127.0.0.1") as client:
        html = client.get("/signin").text
    config = re.search(r'<script type="application/json" id="config">(.*?)</script>', html, re.S)
    assert config is not None
    kinds = json.loads(config.group(1))["kinds"]
    assert kinds == js_kinds() and kinds["PAGE"] == "page" and len(kinds) == len(EventKind)


# -- typed payloads: the type check refuses a payload that does not match its kind ------------
def test_each_kind_has_one_typed_overload_with_its_payload_type():
    from typing import Literal, Unpack, get_args, get_origin, get_overloads, get_type_hints

    import firmware.events as events

    typed = {}
    for fn in get_overloads(EventBus.publish):
        hints = get_type_hints(fn, vars(events), include_extras=True)
        assert get_origin(hints["kind"]) is Literal and get_origin(hints["data"]) is Unpack
        (kind,) = get_args(hints["kind"])
        (payload,) = get_args(hints["data"])
        assert kind not in typed, f"two overloads for {kind}"
        typed[kind] = payload
    assert typed == PAYLOADS


def test_every_publisher_is_in_the_type_check():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    checked = [str(f).rstrip("/") for f in config["files"]]
    publishers = {where for where, _, _ in publish_calls()}
    unchecked = sorted(
        p for p in publishers if not any(p == f or p.startswith(f + "/") for f in checked)
    )
    assert unchecked == []


WRONG_PAYLOADS = """
from firmware.events import EventBus, EventKind

bus = EventBus()
bus.publish(EventKind.BACKLOG, backlog=3)
bus.publish(EventKind.PAGE, page_id="p1", doc_id="d1", state="done", words=12)
bus.publish(EventKind.CLOSING)
bus.publish(EventKind.BACKLOG, backlog="3")  # wrong: a count is an int
bus.publish(EventKind.PAGE, page_id="p1", state="done")  # wrong: doc_id missing
bus.publish(EventKind.DOCUMENT, doc_id="d1", state="sealed", page_id="p1")  # wrong: a page's key
bus.publish(EventKind.CLOSING, reason="stop")  # wrong: closing carries nothing
"""


def test_the_type_check_refuses_a_payload_that_does_not_match_its_kind(tmp_path):
    from mypy import api

    probe = tmp_path / "probe.py"
    probe.write_text(WRONG_PAYLOADS)
    out, err, status = api.run(
        [
            "--follow-imports=silent",
            "--no-incremental",
            "--config-file=",
            f"--cache-dir={tmp_path / 'cache'}",
            str(probe),
        ]
    )
    flagged = sorted({int(m) for m in re.findall(rf"{re.escape(str(probe))}:(\d+): error", out)})
    wrong = [n for n, line in enumerate(WRONG_PAYLOADS.splitlines(), 1) if "# wrong" in line]
    assert status == 1 and wrong and flagged == wrong, out + err
