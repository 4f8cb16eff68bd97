"""The confidentiality rule through every path that could send a document over the WAN,
and ``sohoa export`` from the command line."""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from firmware.classification import set_level
from firmware.cli.export import register
from firmware.errors import KioskError
from firmware.kiosk import Kiosk
from firmware.routing import CONFIDENTIAL, RoutingError, assert_may_upload
from firmware.store.catalog import new_id
from firmware.store.operators import Operators
from firmware.store.states import DOC_TRANSITIONS, DocState, PageState
from tests.support import export as sup

env = sup.env
recipient = sup.recipient
ROOT = Path(__file__).resolve().parents[2]


def _review_document(kiosk: Kiosk, level: str) -> str:
    """A document with one processed page, waiting in review (no camera, no OCR)."""
    cat, paths = kiosk.catalog, kiosk.paths
    doc_id = cat.create_document("clerk", title="Báo cáo tình hình")["id"]
    page_id = new_id("P")
    frame = paths.frame(doc_id, page_id)
    frame.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((1169, 827, 3), 255, np.uint8)
    cv2.putText(img, "MAT", (300, 600), cv2.FONT_HERSHEY_SIMPLEX, 4, (0, 0, 0), 8)
    cv2.imwrite(str(frame), img)
    cat.add_page(doc_id, "clerk", page_id=page_id, frame_path=str(frame), frame_sha256="0" * 64)
    image, ocr = paths.page_image(doc_id, page_id), paths.page_ocr(doc_id, page_id)
    image.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(image), img)
    ocr.write_text(json.dumps({"dpi": 100, "words": []}))
    cat.transition_page(page_id, PageState.QUEUED, "system")
    cat.transition_page(page_id, PageState.DONE, "system", image_path=str(image), ocr_path=str(ocr))
    cat.transition_document(doc_id, DocState.PROCESSING, "clerk")
    cat.transition_document(doc_id, DocState.REVIEW, "system")
    set_level(cat, doc_id, level, "clerk", source="test")
    return doc_id


@pytest.mark.parametrize("level", sorted(CONFIDENTIAL))
def test_sealing_a_confidential_document_never_queues_it(make_settings, level):
    kiosk = Kiosk(make_settings())
    try:
        doc_id = _review_document(kiosk, level)
        doc = kiosk.seal(doc_id, "clerk")
        assert doc["state"] == DocState.SEALED
        assert list(kiosk.paths.outbox.iterdir()) == []
        with pytest.raises(RoutingError):
            assert_may_upload(doc)
        from firmware.export.exporter import Exporter

        pending = Exporter.for_kiosk(kiosk, backend=object()).pending()
        assert [d["id"] for d in pending] == [doc_id]
    finally:
        kiosk.stop()


def test_only_sealed_documents_can_enter_the_upload_queue():
    """Any WAN path must take a sealed document to ``queued``: the guard below covers it."""
    before = [s for s, targets in DOC_TRANSITIONS.items() if DocState.QUEUED in targets]
    assert before == [DocState.SEALED]


def _calls(node: ast.AST) -> list[str]:
    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            out.append(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return out


def _queues_a_document(fn: ast.AST) -> bool:
    for n in ast.walk(fn):
        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "transition_document":
            for arg in [*n.args, *(k.value for k in n.keywords)]:
                if isinstance(arg, ast.Attribute) and arg.attr == "QUEUED":
                    return True
                if isinstance(arg, ast.Constant) and arg.value == "queued":
                    return True
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            text = n.value.lower()
            if "update documents" in text and "queued" in text:
                return True
    return False


WRITES = {
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_open",
    "copy",
    "copy2",
    "copyfile",
    "copyfileobj",
    "link",
    "symlink",
    "write_bytes",
    "write_text",
    "rename",
    "replace",
    "move",
    "open",
}


def _mentions(node: ast.AST, names: set[str]) -> bool:
    return any(
        (isinstance(n, ast.Attribute) and n.attr == "outbox")
        or (isinstance(n, ast.Name) and n.id in names)
        for n in ast.walk(node)
    )


def _writes_to_outbox(fn: ast.AST) -> bool:
    """A write call whose arguments lead into ``outbox/`` (directly or through a variable)."""
    tainted: set[str] = set()
    for n in ast.walk(fn):
        if isinstance(n, (ast.Assign, ast.AnnAssign, ast.For, ast.With)):
            value = n.iter if isinstance(n, ast.For) else getattr(n, "value", None)
            if isinstance(n, ast.With):
                for item in n.items:
                    if _mentions(item.context_expr, tainted) and item.optional_vars is not None:
                        tainted |= {
                            x.id for x in ast.walk(item.optional_vars) if isinstance(x, ast.Name)
                        }
                continue
            if value is not None and _mentions(value, tainted):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                tainted |= {x.id for t in targets for x in ast.walk(t) if isinstance(x, ast.Name)}
    for n in ast.walk(fn):
        if isinstance(n, ast.Call) and _calls(n)[0] in WRITES and _mentions(n, tainted):
            return True
    return False


def test_every_path_into_the_outbox_asks_the_routing_rule():
    """Static guard: a function that queues a document or writes into ``outbox/`` must call
    ``assert_may_upload`` itself. New uplink code that forgets fails here."""
    offenders = []
    for pkg in ("firmware", "kiosk_ui", "provisioning"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for fn in ast.walk(tree):
                if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                if (_queues_a_document(fn) or _writes_to_outbox(fn)) and (
                    "assert_may_upload" not in _calls(fn)
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name}")
    assert offenders == []


def test_guard_recognises_an_unguarded_uplink():
    bad = ast.parse(
        "def enqueue(self, doc):\n"
        "    self.catalog.transition_document(doc['id'], DocState.QUEUED, 'system')\n"
        "def copy(self, doc):\n"
        "    dst = self.paths.outbox / doc['id']\n"
        "    shutil.copy(src, dst)\n"
        "def clean(self):\n"
        "    for d in (self.paths.spool, self.paths.outbox):\n"
        "        remove_stale_temporaries(d)\n"
        "def ok(self, doc):\n"
        "    assert_may_upload(doc)\n"
        "    self.catalog.transition_document(doc['id'], DocState.QUEUED, 'system')\n"
    )
    fns = {f.name: f for f in bad.body if isinstance(f, ast.FunctionDef)}
    assert _queues_a_document(fns["enqueue"]) and _writes_to_outbox(fns["copy"])
    assert not _writes_to_outbox(fns["clean"]) and not _queues_a_document(fns["clean"])
    assert "assert_may_upload" in _calls(fns["ok"])


def test_catalog_refuses_to_queue_a_confidential_document(env):
    doc = env.sealed(level="mat")
    with pytest.raises((RoutingError, KioskError)):
        env.catalog.transition_document(doc["id"], DocState.QUEUED, "system")


@pytest.mark.parametrize("level", ["thuong", *sorted(CONFIDENTIAL)])
def test_sealing_routes_by_level_into_the_uplink_outbox(make_settings, level):
    """Sealer.write_sealed ends with the routing step: ordinary -> queued with its outbox
    row and audit event; confidential -> stays sealed, no outbox row, ever."""
    from firmware.uplink.outbox import Outbox

    kiosk = Kiosk(make_settings())
    try:
        doc = kiosk.seal(_review_document(kiosk, level), "clerk")
        rows = Outbox(kiosk.catalog).rows()
        if level == "thuong":
            assert doc["state"] == DocState.QUEUED
            assert [(r["document_id"], r["sha256"]) for r in rows] == [(doc["id"], doc["sha256"])]
            queued = [
                a
                for a in kiosk.catalog.audit_records(doc["id"])
                if a["action"] == "document.queued"
            ]
            assert len(queued) == 1
        else:
            assert doc["state"] == DocState.SEALED and rows == []
        assert kiosk.status()["uplink"]["waiting"] == len(rows)
    finally:
        kiosk.stop()


def test_recovery_queues_ordinary_documents_a_cut_left_unrouted(make_settings):
    """A power cut between "sealed" and the routing step: start-up queues the ordinary
    document and leaves the confidential one for export."""
    from firmware.capture.recovery import recover
    from firmware.uplink.outbox import Outbox

    settings = make_settings()
    kiosk = Kiosk(settings)
    try:
        ids = {}
        for level in ("thuong", "mat"):
            doc_id = _review_document(kiosk, level)
            kiosk.sealer.route_sealed = lambda doc, actor: doc  # the cut: routing never ran
            ids[level] = kiosk.seal(doc_id, "clerk")["id"]
        assert Outbox(kiosk.catalog).rows() == []
        del kiosk.sealer.route_sealed
        summary = recover(kiosk)
        assert summary["documents_queued"] == 1
        assert [r["document_id"] for r in Outbox(kiosk.catalog).rows()] == [ids["thuong"]]
        assert kiosk.catalog.get_document(ids["mat"])["state"] == DocState.SEALED
        assert recover(kiosk)["documents_queued"] == 0  # idempotent
    finally:
        kiosk.stop()


def test_outbox_enqueue_refuses_a_confidential_document(env):
    """The outbox's own entry point asks the routing rule (the worker reads nothing but
    outbox rows, so nothing confidential can reach it)."""
    from firmware.uplink.outbox import Outbox

    doc = env.sealed(level="toi_mat")
    with pytest.raises(RoutingError):
        Outbox(env.catalog).enqueue(doc["id"], "attacker")
    assert Outbox(env.catalog).rows() == []


# -- sohoa export ---------------------------------------------------------------------------
def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    parser.add_argument("--data-dir")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_export_to_target_dir(env, tmp_path, monkeypatch, capsys):
    doc = env.sealed(level="toi_mat")
    Operators(env.catalog).add("1001", "Lưu trữ viên", "archivist", "2468", "admin")
    Operators(env.catalog).add("1002", "Văn thư", "operator", "1357", "admin")
    stick = env.stick("target")
    conf = tmp_path / "sohoa.toml"
    conf.write_text(
        f'data_dir = "{env.paths.root}"\n[export]\n'
        f'recipients = ["{env.recipient_cert}"]\n'
        'allowed_sticks = [{vid = "0781", pid = "5581", serial = "4C530001"}]\n'
    )
    base = ["--config", str(conf), "export", "--target", str(stick.root)]
    assert _cli([*base, "--list", "--json"]) == 0
    assert [d["id"] for d in json.loads(capsys.readouterr().out)] == [doc["id"]]
    assert _cli([*base, "--check"]) == 0
    assert "Sẵn sàng xuất 1 tài liệu" in capsys.readouterr().out
    monkeypatch.setenv("SOHOA_PIN", "1357")
    with pytest.raises(KioskError) as exc:
        _cli([*base, "--operator", "1002"])
    assert exc.value.code == "export_forbidden"
    monkeypatch.setenv("SOHOA_PIN", "2468")
    assert _cli([*base, "--operator", "1001"]) == 0
    out = capsys.readouterr().out
    assert "Có thể rút USB an toàn" in out and "đã xóa bản lưu" in out
    assert env.catalog.get_document(doc["id"])["state"] == "purged"
    assert (sup.export_dir_of(stick.root) / f"{doc['id']}.p7m").exists()
