"""A page without text is a page: a photograph or drawing (laid under the sim camera) and
SANE's test backend Grid picture are archived with an empty text layer and an
informational note, never failing the document."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest

from tests.conftest import run_sohoa


def _drawing() -> np.ndarray:
    """An A4 drawing at 150 dpi, as a plan or a sketch: soft shapes on white paper and no
    letters at all."""
    h, w = 1754, 1240
    img = np.full((h, w, 3), 250, np.uint8)
    cv2.circle(img, (620, 600), 300, (60, 110, 170), -1, cv2.LINE_AA)
    cv2.ellipse(img, (600, 1200), (380, 160), 15, 0, 360, (90, 170, 90), -1, cv2.LINE_AA)
    cv2.ellipse(img, (380, 1420), (120, 220), -30, 0, 360, (170, 120, 60), -1, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), 3)


def test_a_photograph_page_from_the_sim_camera_is_archived_with_a_note(
    kiosk_factory, sim_camera_factory
):
    cam = sim_camera_factory(seed=6, pages_per_doc=1)
    kiosk = kiosk_factory(camera=cam, workers=1)
    text_page = kiosk.capture("clerk").page
    doc_id = text_page["doc_id"]
    cam.lay_sheet(cv2.cvtColor(_drawing(), cv2.COLOR_BGR2RGB), "photo")
    photo = kiosk.capture("clerk", doc_id).page
    assert photo is not None and photo["doc_id"] == doc_id
    assert photo["state"] != "rejected", photo["quality"]
    kiosk.finish(doc_id, "clerk")
    assert kiosk.wait_idle(240)
    cat = kiosk.catalog
    assert cat.get_document(doc_id)["state"] == "review"
    photo = cat.get_page(photo["id"])
    assert photo["state"] == "done", photo["error_message"]
    notes = [i for i in photo["quality"]["issues"] if i["code"] == "no_text"]
    assert len(notes) == 1 and notes[0]["severity"] == "info"
    assert "không tìm thấy chữ" in notes[0]["message_vi"].lower()
    assert cat.get_page(text_page["id"])["state"] == "done"
    doc = kiosk.seal(doc_id, "clerk")
    assert doc["state"] in ("sealed", "queued")
    with pikepdf.open(doc["pdf_path"]) as pdf:
        assert len(pdf.pages) == 2


@pytest.mark.integration
def test_sohoa_scan_of_the_sane_grid_picture_archives_it(tmp_path):
    conf = tmp_path / "sane"
    conf.mkdir()
    (conf / "dll.conf").write_text("test\n")
    (conf / "test.conf").write_text('number_of_devices 1\ntest-picture "Grid"\n')
    data, out = tmp_path / "var", tmp_path / "out"
    r = run_sohoa(
        ["--data-dir", str(data), "scan", "--scanner", "test:0", "--pages", "2", "--out", str(out)],
        env={"SANE_CONFIG_DIR": str(conf)},
    )
    assert r.returncode == 0, r.stderr
    pdf = Path(r.stdout.strip().splitlines()[-1])
    with pikepdf.open(pdf) as p:
        assert len(p.pages) >= 1
    db = sqlite3.connect(data / "catalog.db")
    try:
        states = db.execute("SELECT state FROM documents").fetchall()
        pages = db.execute("SELECT state, quality FROM pages").fetchall()
    finally:
        db.close()
    assert states in ([("queued",)], [("sealed",)])
    assert pages and all(s == "done" for s, _ in pages)
    assert all('"no_text"' in (q or "") for _, q in pages)
