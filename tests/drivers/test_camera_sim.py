"""The simulated camera: realistic frames, truthful ground truth, every failure on demand."""

from __future__ import annotations

import json
import re
import unicodedata

import cv2
import numpy as np
import pytest

from drivers.camera import CameraError, CameraGone, open_camera
from drivers.camera.render import render_frame, render_scene
from drivers.camera.sim import SimCamera, write_dataset
from firmware.config import CameraConfig

W, H = 1600, 1200


def decode(jpeg: bytes) -> np.ndarray | None:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def page_mask(corners: list[list[float]], shape: tuple[int, ...], shrink: float = 0.0):
    """Boolean mask of the page quad, optionally shrunk towards its centre."""
    quad = np.array(corners, np.float32)
    quad = quad + (quad.mean(axis=0) - quad) * shrink
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(quad).astype(np.int32)], 1)
    return mask.astype(bool)


def camera(**kwargs) -> SimCamera:
    kwargs.setdefault("width", W)
    kwargs.setdefault("height", H)
    cam = SimCamera(**kwargs)
    cam.open()
    return cam


@pytest.fixture(scope="module")
def mixed_frames():
    """First page of four consecutive single-page documents, layout 'mixed'."""
    cam = camera(seed=5, pages_per_doc=1)
    return [cam.capture() for _ in range(4)]


def test_frames_are_decodable_jpegs_of_the_requested_size(mixed_frames):
    for frame in mixed_frames:
        img = decode(frame.jpeg)
        assert img is not None
        assert img.shape == (H, W, 3)
        assert (frame.width, frame.height) == (W, H)
        assert frame.jpeg[:2] == b"\xff\xd8"
        assert frame.captured_at > 0


def test_mixed_layout_alternates_party_and_state(mixed_frames):
    layouts = [f.truth["layout"] for f in mixed_frames]
    assert layouts == ["party", "state", "party", "state"]
    seeds = {f.truth["doc_seed"] for f in mixed_frames}
    assert len(seeds) == 4  # every document differs


def test_document_corners_lie_inside_the_frame(mixed_frames):
    for frame in mixed_frames:
        corners = np.array(frame.truth["corners"])
        assert corners.shape == (4, 2)
        assert (corners[:, 0] > 0).all() and (corners[:, 0] < W).all()
        assert (corners[:, 1] > 0).all() and (corners[:, 1] < H).all()
        # TL, TR, BR, BL: top corners above bottom ones, left of right ones.
        tl, tr, br, bl = corners
        assert tl[0] < tr[0] and bl[0] < br[0] and tl[1] < bl[1] and tr[1] < br[1]
        height_frac = (bl[1] - tl[1]) / H
        assert 0.65 < height_frac < 0.9


def test_page_is_brighter_than_a_dark_desk():
    photo, _ = render_scene(42, 1, "party", 1, W, H, scene_seed=3, desk="dark")
    gray = cv2.cvtColor(photo.bgr, cv2.COLOR_BGR2GRAY)
    inside = page_mask(photo.corners, gray.shape, shrink=0.05)
    outside = ~page_mask(photo.corners, gray.shape, shrink=-0.05)
    assert np.median(gray[inside]) > np.median(gray[outside]) + 100


def test_party_document_text_follows_the_party_layout(mixed_frames):
    truth = mixed_frames[0].truth
    lines, fields = truth["lines"], truth["fields"]
    assert "ĐẢNG CỘNG SẢN VIỆT NAM" in lines
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" not in lines
    assert f"Số {fields['number_symbol']}" in lines  # no colon after "Số" in Party documents
    assert re.fullmatch(r"\d+-[A-Za-zĐđ]+/[A-ZĐ]+", fields["number_symbol"])
    assert fields["place_date"] in lines
    assert lines.index("ĐẢNG CỘNG SẢN VIỆT NAM") < lines.index(fields["place_date"])


def test_state_document_text_follows_the_state_layout(mixed_frames):
    truth = mixed_frames[1].truth
    lines, fields = truth["lines"], truth["fields"]
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in lines
    assert "Độc lập - Tự do - Hạnh phúc" in lines
    assert f"Số: {fields['number_symbol']}" in lines
    assert re.fullmatch(r"\d+/[A-Za-zĐđ]+-[A-ZĐ]+", fields["number_symbol"])


def test_text_is_nfc_vietnamese_and_fields_agree(mixed_frames):
    for frame in mixed_frames:
        truth = frame.truth
        for line in truth["lines"]:
            assert unicodedata.is_normalized("NFC", line)
        body = truth["body_text"]
        assert len(body) > 200
        assert set(body.split("\n")) <= set(truth["lines"])
        assert re.search("[ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹđ]", body)
        fields = truth["fields"]
        m = re.search(r"ngày (\d+) tháng (\d+) năm (\d{4})$", fields["place_date"])
        assert m, fields["place_date"]
        assert fields["date"] == f"{m[3]}-{int(m[2]):02d}-{int(m[1]):02d}"
        if fields["type"] == "Công văn":
            assert fields["subject"].startswith("V/v ")
        else:
            assert fields["type"].upper() in truth["lines"]
        json.dumps(truth)  # JSON-serialisable as documented


def test_same_seed_same_bytes_other_seed_other_document():
    a = camera(seed=9).capture()
    b = camera(seed=9).capture()
    c = camera(seed=10).capture()
    assert a.jpeg == b.jpeg
    assert a.truth == b.truth
    assert c.truth["doc_seed"] != a.truth["doc_seed"]
    assert c.jpeg != a.jpeg


def test_pages_follow_each_other_and_the_signature_ends_the_document():
    cam = camera(seed=2, layout="state", pages_per_doc=2)
    p1, p2, nxt = cam.capture(), cam.capture(), cam.capture()
    assert (p1.truth["page_number"], p2.truth["page_number"]) == (1, 2)
    assert p1.truth["doc_seed"] == p2.truth["doc_seed"] != nxt.truth["doc_seed"]
    assert nxt.truth["page_number"] == 1
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in p1.truth["lines"]
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" not in p2.truth["lines"]
    assert p2.truth["lines"][0] == "2"  # page number on top of continuation pages
    assert "Nơi nhận:" in p2.truth["lines"] and "Nơi nhận:" not in p1.truth["lines"]
    assert p1.truth["body_text"] != p2.truth["body_text"]


def test_new_document_moves_on_before_the_last_page():
    cam = camera(seed=4, pages_per_doc=3)
    first = cam.capture()
    cam.new_document()
    second = cam.capture()
    assert second.truth["page_number"] == 1
    assert second.truth["doc_seed"] != first.truth["doc_seed"]
    assert second.truth["layout"] != first.truth["layout"]


def test_scripted_defects_have_their_documented_effects():
    cam = camera(seed=8, script=["black", "corrupt", "cut_off", "no_page", "blank", "dark"])
    black, corrupt, cut, no_page, blank, dark = (cam.capture() for _ in range(6))
    after = cam.capture()
    for frame in (black, corrupt, cut, no_page, blank, dark):
        json.dumps(frame.truth)

    assert black.truth["kind"] == "black" and black.truth["corners"] is None
    assert decode(black.jpeg).mean() < 20

    assert corrupt.truth["scenario"] == "corrupt"
    assert decode(corrupt.jpeg) is None

    out = [not (0 <= x < W and 0 <= y < H) for x, y in cut.truth["corners"]]
    assert sum(out) == 1
    assert cut.truth["kind"] == "document"

    assert no_page.truth["kind"] == "no_page" and no_page.truth["corners"] is None

    assert blank.truth["kind"] == "blank" and blank.truth["lines"] == []
    gray = cv2.cvtColor(decode(blank.jpeg), cv2.COLOR_BGR2GRAY)
    paper = gray[page_mask(blank.truth["corners"], gray.shape, shrink=0.08)]
    assert np.percentile(paper, 1) > np.median(paper) - 40  # no ink anywhere

    gray = cv2.cvtColor(decode(dark.jpeg), cv2.COLOR_BGR2GRAY)
    assert gray[page_mask(dark.truth["corners"], gray.shape, shrink=0.1)].mean() < 70

    # None of the defective shots used up the page: the first good one is page 1.
    assert after.truth["scenario"] == "document" and after.truth["page_number"] == 1


def _sharpness(frame) -> float:
    gray = cv2.cvtColor(decode(frame.jpeg), cv2.COLOR_BGR2GRAY)
    lap = cv2.Laplacian(gray, cv2.CV_32F)
    return float(lap[page_mask(frame.truth["corners"], gray.shape, shrink=0.15)].var())


def test_blurred_and_glare_frames_differ_from_a_good_one_where_it_matters():
    cam = camera(seed=12, script=["blurred", "glare"])
    blurred, glare, good = cam.capture(), cam.capture(), cam.capture()
    assert _sharpness(blurred) < _sharpness(good) / 3

    def blown(frame) -> float:
        img = decode(frame.jpeg)
        inside = page_mask(frame.truth["corners"], img.shape)
        return float((img.min(axis=2)[inside] >= 250).mean())

    assert blown(glare) > 0.015  # above the pipeline's default glare fraction
    assert blown(good) < 0.001


def test_hand_scene_differs_from_the_empty_desk_only_where_the_hand_is():
    hand, _ = render_scene(1, 1, "party", 1, W, H, "hand", scene_seed=77)
    desk, _ = render_scene(1, 1, "party", 1, W, H, "no_page", scene_seed=77)
    x0, y0, x1, y1 = hand.effects["hand_bbox"]
    diff = cv2.absdiff(hand.bgr, desk.bgr).max(axis=2)
    inside = np.zeros(diff.shape, bool)
    inside[y0:y1, x0:x1] = True
    assert (diff[inside] > 30).mean() > 0.2
    assert diff[~inside].max() == 0


def test_fail_after_unplugs_then_replug_and_open_recover():
    cam = camera(seed=1, fail_after=1)
    cam.capture()
    with pytest.raises(CameraGone) as info:
        cam.capture()
    assert info.value.code == "gone" and info.value.message_vi
    assert not cam.available
    with pytest.raises(CameraGone):
        cam.capture()
    cam.replug()
    assert cam.available
    cam.open()
    assert cam.capture().truth["kind"] == "document"


def test_unplug_on_demand_and_capture_requires_open():
    cam = SimCamera(width=W, height=H)
    with pytest.raises(CameraError) as info:
        cam.capture()
    assert info.value.code == "io"
    cam.open()
    cam.unplug()
    with pytest.raises(CameraGone):
        cam.preview_frame()
    with pytest.raises(CameraGone):
        cam.open()


def test_preview_shows_the_next_scene_small_and_cached():
    cam = camera(seed=6, script=["black"])
    first = cam.preview_frame()
    assert first.shape == (768, 1024, 3) and first.dtype == np.uint8
    assert first.mean() < 20  # the scripted black frame is what the next capture shows
    again = cam.preview_frame()
    assert np.array_equal(first, again)
    cam.capture()
    doc = cam.preview_frame()
    assert doc.mean() > 40


def test_unknown_script_entry_is_refused():
    with pytest.raises(ValueError):
        SimCamera(script=["upside_down"])


def test_write_dataset_writes_jpeg_and_truth_pairs(tmp_path):
    paths = write_dataset(tmp_path / "ds", 3, seed=7, pages_per_doc=2, width=800, height=600)
    assert [p.name for p in paths] == ["frame_0001.jpg", "frame_0002.jpg", "frame_0003.jpg"]
    truths = [json.loads(p.with_name(p.stem + ".truth.json").read_text("utf-8")) for p in paths]
    assert [t["page_number"] for t in truths] == [1, 2, 1]
    assert truths[0]["doc_seed"] == truths[1]["doc_seed"] != truths[2]["doc_seed"]
    cam = camera(seed=7, pages_per_doc=2, width=800, height=600)
    assert paths[0].read_bytes() == cam.capture().jpeg
    assert decode(paths[2].read_bytes()).shape == (600, 800, 3)


def test_render_frame_overrides_reach_the_truth():
    _, truth = render_frame(
        3,
        1,
        "party",
        1,
        640,
        480,
        80,
        scene_seed=1,
        rotation_deg=0.0,
        desk="light",
        occlusion=False,
    )
    assert truth["effects"]["rotation_deg"] == 0.0
    assert truth["effects"]["desk"] == "light"
    tl, tr = truth["corners"][0], truth["corners"][1]
    assert abs(tl[1] - tr[1]) < 0.05 * 480  # nearly level without rotation


def test_open_camera_builds_the_configured_sim():
    cam = open_camera(
        CameraConfig(backend="sim", seed=3, width=640, height=480, layout="state", jpeg_quality=80)
    )
    assert isinstance(cam, SimCamera)
    cam.open()
    frame = cam.capture()
    assert (frame.width, frame.height) == (640, 480)
    assert frame.truth["layout"] == "state"


def test_full_resolution_12mp_frame():
    cam = SimCamera(seed=21)
    cam.open()
    frame = cam.capture()
    img = decode(frame.jpeg)
    assert img.shape == (3000, 4000, 3)
    corners = np.array(frame.truth["corners"])
    assert ((corners >= 0) & (corners <= [4000, 3000])).all()
    # Body text is legible at this scale: strong dark/light contrast inside the page.
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    paper = gray[page_mask(frame.truth["corners"], gray.shape, shrink=0.1)]
    assert np.percentile(paper, 99) - np.percentile(paper, 1) > 100


def test_typeset_lines_never_overlap_and_stay_inside_the_margins():
    from drivers.camera.render_fonts import pt_to_px
    from drivers.camera.render_text import BOTTOM, LEFT, RIGHT, _width, layout_document

    for seed in range(6):
        for layout in ("party", "state"):
            _, pages = layout_document(seed, layout, 2)
            assert pages[-1].seal is not None and pages[0].seal is None
            for page in pages:
                boxes = []
                for ln in page.lines:
                    x0, last = (
                        (ln.parts[0][0], ln.parts[-1]) if ln.parts else (ln.x, (ln.x, ln.text))
                    )
                    x1 = last[0] + _width(last[1], ln.style, ln.size)
                    boxes.append((x0, ln.y, x1, ln.y + pt_to_px(ln.size)))
                    assert x0 >= LEFT - 2 and x1 <= RIGHT + 2 and ln.y + pt_to_px(ln.size) <= BOTTOM
                for i, a in enumerate(boxes):
                    for b in boxes[i + 1 :]:
                        assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def test_streamed_frames_are_the_frames_a_synchronous_render_gives():
    """The sensor exposes the next frame ahead; the pictures must not depend on it, also
    when the clerk lays the next document down early."""
    streamed = SimCamera(seed=5, width=640, height=480, pages_per_doc=2, stream=True)
    plain = SimCamera(seed=5, width=640, height=480, pages_per_doc=2, stream=False)
    for cam in (streamed, plain):
        cam.open()
    for step in range(4):
        if step == 2:
            streamed.new_document()
            plain.new_document()
        a, b = streamed.capture(), plain.capture()
        assert a.jpeg == b.jpeg and a.truth == b.truth
