"""Quality gates of the page pipeline: each fires on its defect and stays quiet on good pages.

The clerk sees these messages right after pressing the pedal, so a false "blurred" costs a
retake and a missed one costs an unreadable archive page: both directions are tested, on
synthetic frames (exact control) and on the simulated camera's defect scenarios.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from firmware.config import PipelineConfig
from firmware.pipeline import QualityIssue, QualityReport, make_preview, process_page
from firmware.pipeline.messages import MESSAGES

try:  # the synthetic frame helpers live beside the other pipeline tests
    from tests.pipeline.test_pipeline import H, W, centred_quad, needs_sim, synth_frame
except ImportError:
    from test_pipeline import H, W, centred_quad, needs_sim, synth_frame

CFG = PipelineConfig()


def codes(res) -> list[str]:
    return [i.code for i in res.quality.issues]


def issue(res, code: str) -> QualityIssue:
    return next(i for i in res.quality.issues if i.code == code)


# --- good pages pass -----------------------------------------------------------------------


@pytest.mark.parametrize("desk", ["dark", "light", "wood"])
def test_good_page_passes_every_gate(desk):
    res = make_preview(synth_frame(desk=desk)[0], CFG)
    assert res.quality.issues == [] and res.quality.ok
    m = res.quality.metrics
    assert m["sharpness"] > CFG.blur_threshold
    assert m["brightness"] > CFG.dark_threshold
    assert m["glare_fraction"] <= CFG.glare_fraction
    assert m["ink_fraction"] > CFG.blank_ink_fraction


def test_sharp_page_with_little_text_is_not_blurred():
    res = make_preview(synth_frame(page_kind="sparse")[0], CFG)
    assert res.quality.ok, res.quality.to_dict()
    assert "blurred" not in codes(res) and "blank" not in codes(res)


def test_faded_but_sharp_text_is_not_blurred():
    res = make_preview(synth_frame(page_kind="faded", desk="wood")[0], CFG)
    assert "blurred" not in codes(res), res.quality.to_dict()


def test_report_to_dict_is_json_with_both_languages():
    res = make_preview(synth_frame(blur=6.0 * W / 4000 * 2)[0], CFG)
    d = json.loads(json.dumps(res.quality.to_dict(), ensure_ascii=False))
    assert d["ok"] is False
    assert d["issues"][0]["code"] == "blurred"
    from firmware.pipeline.messages import MESSAGES

    # the message from its one table, saying what to do (Vietnamese first)
    assert (d["issues"][0]["message_vi"], d["issues"][0]["message_en"]) == MESSAGES["blurred"]
    assert "chụp lại" in d["issues"][0]["message_vi"]
    assert set(d["metrics"]) >= {"sharpness", "brightness", "glare_fraction", "ink_fraction"}


# --- each gate fires -----------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [4.0, 6.0])
def test_blurred_page_must_be_retaken(sigma):
    # sigma in pixels of a 12 MP frame, scaled to the test frame's size.
    res = make_preview(synth_frame(desk="wood", blur=sigma * W / 4000 * 2)[0], CFG)
    assert res.quad is not None  # the page is still found...
    i = issue(res, "blurred")  # ...and judged blurred, not blank
    assert i.severity == "error" and not res.quality.ok
    assert i.score == res.quality.metrics["sharpness"] < CFG.blur_threshold
    assert "blank" not in codes(res)


def test_glare_is_reported():
    res = make_preview(synth_frame(desk="dark", glare=True)[0], CFG)
    i = issue(res, "glare")
    assert i.message_vi == MESSAGES["glare"][0] and i.severity == "error"
    assert i.score > CFG.glare_fraction


def test_bright_even_exposure_is_not_glare():
    # Over-exposed everywhere (paper clipped over much of the sheet) but no reflection.
    res = make_preview(synth_frame(desk="dark", exposure=1.25)[0], CFG)
    assert "glare" not in codes(res), res.quality.to_dict()


def test_too_dark_page():
    res = make_preview(synth_frame(desk="wood", exposure=0.2, noise=3.0)[0], CFG)
    assert res.quad is not None  # found, then judged
    i = issue(res, "too_dark")
    assert i.message_vi == MESSAGES["too_dark"][0] and i.severity == "error"
    assert i.score < CFG.dark_threshold


def test_blank_page_is_a_warning_only():
    res = make_preview(synth_frame(desk="wood", page_kind="blank")[0], CFG)
    assert codes(res) == ["blank"]
    i = issue(res, "blank")
    assert i.severity == "warning" and i.message_vi == "Trang trắng"
    assert res.quality.ok  # a blank back page is legitimate: kept, not retaken


@pytest.mark.parametrize(
    "corners",
    [
        # the left part of the page is outside the frame
        ((-160, 120), (700, 100), (760, 1390), (-120, 1410)),
        # the bottom-right corner is outside the frame
        tuple(map(tuple, centred_quad(0.9, shift=(520, 230)).tolist())),
    ],
)
def test_cut_off_page(corners):
    res = make_preview(synth_frame(desk="dark", corners=corners)[0], CFG)
    i = issue(res, "cut_off")
    assert i.message_vi == MESSAGES["cut_off"][0] and i.severity == "error"
    assert not res.quality.ok
    # The missing part is unknown, not ink: no extra, wrong reasons.
    assert codes(res) == ["cut_off"], res.quality.to_dict()
    assert res.preview is not None  # the clerk sees what is missing


def test_page_inside_frame_is_not_cut_off():
    corners = tuple(map(tuple, centred_quad(0.9, shift=(500, 40)).tolist()))
    res = make_preview(synth_frame(desk="dark", corners=corners)[0], CFG)
    assert "cut_off" not in codes(res)


@pytest.mark.parametrize(
    ("desk", "hand", "black"),
    [
        ("wood", False, False),
        ("light", False, False),
        ("dark", False, False),
        ("wood", True, False),
        ("dark", True, False),
        ("dark", False, True),
    ],
    ids=["wood_desk", "light_desk", "dark_desk", "hand_on_wood", "hand_on_dark", "black"],
)
def test_no_page(desk, hand, black):
    corners = tuple(map(tuple, centred_quad(0.7, shift=(0, -200)).tolist()))
    data, _ = synth_frame(desk=desk, hand=hand, black=black, page_kind="none", corners=corners)
    res = make_preview(data, CFG)
    assert res.quad is None and res.preview is None and res.quad_source == "none"
    i = issue(res, "no_page")
    assert i.message_vi == MESSAGES["no_page"][0] and i.severity == "error"
    # "Too dark" is added only when nothing in view is as bright as acceptable paper.
    assert ("too_dark" in codes(res)) == (black or (desk == "dark" and not hand))


def test_process_page_carries_the_same_verdict():
    data, _ = synth_frame(desk="wood", glare=True)
    assert codes(make_preview(data, CFG)) == [
        i.code for i in process_page(data, CFG).quality.issues
    ]


def test_report_ok_ignores_warnings():
    warn = QualityIssue.make("blank", "warning", 0.0)
    err = QualityIssue.make("glare", "error", 0.2)
    assert QualityReport([warn], {}).ok
    assert not QualityReport([warn, err], {}).ok


def test_every_message_has_vietnamese_and_english():
    assert set(MESSAGES) == {
        "blurred",
        "glare",
        "cut_off",
        "too_dark",
        "blank",
        "no_page",
        "corrupt",
    }
    for vi, en in MESSAGES.values():
        assert vi and en and vi != en
        assert vi == vi.strip() and vi[0].isupper()


# --- the simulated camera's scenarios ------------------------------------------------------

SIM_EXPECT = {
    "document": set(),
    "blurred": {"blurred"},
    "glare": {"glare"},
    "dark": {"too_dark"},
    "cut_off": {"cut_off"},
    "blank": {"blank"},
    "no_page": {"no_page"},
    "hand": {"no_page"},
    "black": {"no_page", "too_dark"},
    "corrupt": {"corrupt"},
}


@needs_sim
@pytest.mark.parametrize("seed", [21, 22])
def test_sim_scenarios_get_the_right_verdict(seed):
    from drivers.camera.sim import SimCamera

    script = list(SIM_EXPECT)
    cam = SimCamera(seed=seed, width=W, height=H, script=script)
    cam.open()
    for kind in script:
        frame = cam.capture()
        res = make_preview(frame.jpeg, CFG)
        got = set(codes(res))
        want = SIM_EXPECT[kind]
        if kind in ("no_page", "hand"):
            assert "no_page" in got and got <= {"no_page", "too_dark"}, res.quality.to_dict()
        elif kind == "dark":  # found and judged too dark, or too dark to be found at all
            assert "too_dark" in got and got <= {"too_dark", "no_page"}, res.quality.to_dict()
        else:
            assert got == want, (kind, frame.truth["effects"].get("desk"), res.quality.to_dict())
        if kind in ("document", "blurred", "glare", "blank") or (
            kind == "dark" and res.quad is not None
        ):
            truth = np.asarray(frame.truth["corners"], np.float64)
            diag = math.dist(truth[0], truth[2])
            err = np.linalg.norm(res.quad - truth, axis=1).max() / diag * 100
            assert err < 1.0, (kind, err)
