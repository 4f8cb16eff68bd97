"""Bad input and failures: each is a visible state with a message, an audit record, and no
earlier page is lost."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from firmware.errors import KioskError


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("no_page", "no_page"),
        ("hand", "no_page"),
        ("black", "too_dark"),
        ("corrupt", "corrupt"),
        ("blurred", "blurred"),
        ("cut_off", "cut_off"),
    ],
)
def test_bad_frames_are_flagged_and_good_pages_kept(kiosk_factory, sim_camera_factory, kind, code):
    kiosk = kiosk_factory(camera=sim_camera_factory(script=["document", kind]))
    doc = kiosk.new_document("clerk")
    good = kiosk.capture("clerk", doc["id"])
    bad = kiosk.capture("clerk", doc["id"])
    assert good.quality["ok"]
    codes = {i["code"] for i in bad.quality["issues"] if i["severity"] == "error"}
    assert code in codes or (code == "too_dark" and codes & {"no_page", "too_dark"}), codes
    page = kiosk.catalog.get_page(bad.page["id"])
    assert page["state"] == "rejected"
    assert all(i["message_vi"] for i in bad.quality["issues"])
    # the frame is kept (the archivist can look at what was captured)
    assert Path(page["frame_path"]).exists()
    # finishing is refused until the clerk deals with the flagged page
    with pytest.raises(KioskError) as exc:
        kiosk.finish(doc["id"], "clerk")
    assert exc.value.code == "pages_need_attention"
    assert "Trang 2" in exc.value.message_vi
    kiosk.delete_page(bad.page["id"], "clerk")
    kiosk.finish(doc["id"], "clerk")
    assert kiosk.wait_idle(timeout=120)
    assert kiosk.catalog.get_document(doc["id"])["state"] == "review"
    actions = [r["action"] for r in kiosk.catalog.audit_records(doc["id"])]
    assert "page.rejected" in actions


def test_no_page_cannot_be_accepted_but_a_blurred_one_can(kiosk_factory, sim_camera_factory):
    """A frame without a page can never be kept; a blurred page can, at the clerk's word.

    The blurred frame is made here (a good capture, strongly blurred), so the gate's verdict
    does not depend on how blurred the sim camera's shot happened to come out.
    """
    import cv2
    import numpy as np

    kiosk = kiosk_factory(camera=sim_camera_factory(script=["no_page", "document"]))
    doc = kiosk.new_document("clerk")
    nothing = kiosk.capture("clerk", doc["id"])
    good = kiosk.capture("clerk", doc["id"])
    with pytest.raises(KioskError) as exc:
        kiosk.accept_page(nothing.page["id"], "clerk")
    assert exc.value.code == "cannot_accept"
    frame = cv2.imdecode(
        np.frombuffer(Path(good.page["frame_path"]).read_bytes(), np.uint8), cv2.IMREAD_COLOR
    )
    soft = cv2.GaussianBlur(frame, (0, 0), 6)
    blurred = kiosk.ingest_frame(cv2.imencode(".jpg", soft)[1].tobytes(), "clerk", doc["id"])
    assert blurred.page["state"] == "rejected"
    assert "blurred" in {i["code"] for i in blurred.quality["issues"]}
    kiosk.accept_page(blurred.page["id"], "clerk")
    assert kiosk.catalog.get_page(blurred.page["id"])["state"] in ("processing", "done")
    assert kiosk.wait_idle(timeout=120)
    assert kiosk.catalog.get_page(blurred.page["id"])["state"] == "done"


def test_camera_disappearing_mid_document(kiosk_factory, sim_camera_factory):
    kiosk = kiosk_factory(camera=sim_camera_factory(fail_after=2))
    doc = kiosk.new_document("clerk")
    kiosk.capture("clerk", doc["id"])
    kiosk.capture("clerk", doc["id"])
    with pytest.raises(KioskError) as exc:
        kiosk.capture("clerk", doc["id"])
    assert exc.value.code == "camera_gone"
    assert "an toàn" in exc.value.message_vi
    assert kiosk.status()["last_error"]["code"] == "camera_gone"
    assert len(kiosk.catalog.pages(doc["id"])) == 2
    assert any(r["action"] == "capture.error" for r in kiosk.catalog.audit_records(doc["id"]))
    kiosk.finish(doc["id"], "clerk")
    assert kiosk.wait_idle(timeout=120)
    assert kiosk.catalog.get_document(doc["id"])["state"] == "review"


def test_full_disk_while_saving_a_frame(kiosk_factory, monkeypatch):
    kiosk = kiosk_factory()
    doc = kiosk.new_document("clerk")
    first = kiosk.capture("clerk", doc["id"])
    import firmware.capture.session as core

    real = core.atomic_write_bytes

    def full(path, data, mode=0o640):
        if str(path).endswith(".jpg") and "/spool/" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data, mode)

    monkeypatch.setattr(core, "atomic_write_bytes", full)
    with pytest.raises(KioskError) as exc:
        kiosk.capture("clerk", doc["id"])
    assert exc.value.code == "disk_full"
    assert "Bộ nhớ đã đầy" in exc.value.message_vi
    monkeypatch.setattr(core, "atomic_write_bytes", real)
    pages = kiosk.catalog.pages(doc["id"])
    assert [p["id"] for p in pages] == [first.page["id"]]
    assert any(
        r["action"] == "capture.error" and r["details"]["code"] == "disk_full"
        for r in kiosk.catalog.audit_records(doc["id"])
    )
    kiosk.wait_idle(timeout=120)


def test_missing_tessdata_is_a_clear_state_and_pages_survive(
    kiosk_factory, make_settings, tmp_path
):
    empty = tmp_path / "no-tessdata"
    empty.mkdir()
    kiosk = kiosk_factory(settings=make_settings(ocr={"tessdata": str(empty)}))
    assert kiosk.status()["ocr"]["available"] is False
    doc = kiosk.new_document("clerk")
    out = kiosk.capture("clerk", doc["id"])
    page = kiosk.catalog.get_page(out.page["id"])
    assert page["state"] == "failed" and page["error_code"] == "ocr_unavailable"
    assert Path(page["frame_path"]).exists()
    assert any(r["action"] == "ocr.unavailable" for r in kiosk.catalog.audit_records())
    # once the language data is back, finishing retries the page
    kiosk.settings.ocr.tessdata = ""
    kiosk.finish(doc["id"], "clerk")
    assert kiosk.wait_idle(timeout=120)
    assert kiosk.catalog.get_page(out.page["id"])["state"] == "done"


def test_api_level_garbage_frames(kiosk_factory):
    """Frames straight from a faulty source: empty, 1x1, random bytes, a truncated JPEG."""
    import cv2
    import numpy as np

    kiosk = kiosk_factory()
    doc = kiosk.new_document("clerk")
    good = kiosk.capture("clerk", doc["id"])
    one = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes()
    truncated = Path(good.page["frame_path"]).read_bytes()[:5000]
    for blob in (b"", one, b"\x00garbage" * 100, truncated):
        out = kiosk.ingest_frame(blob, "clerk", doc["id"])
        assert out.page["state"] == "rejected"
        assert out.quality["issues"][0]["code"] in ("corrupt", "no_page")
    assert len(kiosk.catalog.pages(doc["id"])) == 5
    kiosk.wait_idle(timeout=120)
