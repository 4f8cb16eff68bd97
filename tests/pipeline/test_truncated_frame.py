"""A camera frame cut mid-stream that still ends with ``FFD9`` (a common USB-camera glitch,
issue #14): OpenCV decodes it with the missing part filled grey. It must be refused as a
corrupt frame and the clerk asked to retake it, never warped and sealed."""

from __future__ import annotations

import pytest

from drivers.camera.folder import FolderCamera
from firmware.pipeline import CorruptFrame, decode_frame


def _cut(jpeg: bytes, fraction: float) -> bytes:
    """The first ``fraction`` of the stream, then an end-of-image marker."""
    return jpeg[: int(len(jpeg) * fraction)] + b"\xff\xd9"


@pytest.fixture(scope="module")
def frame_jpeg() -> bytes:
    from drivers.camera.sim import SimCamera

    cam = SimCamera(seed=3, width=1600, height=1200)
    cam.open()
    return cam.capture().jpeg


@pytest.mark.parametrize("fraction", [0.3, 0.66, 0.97, 0.999])
@pytest.mark.parametrize("reduce", [1, 4])
def test_truncated_jpeg_ending_with_eoi_is_corrupt(frame_jpeg, fraction, reduce):
    with pytest.raises(CorruptFrame, match="incomplete"):
        decode_frame(_cut(frame_jpeg, fraction), reduce)


def test_intact_frame_still_decodes(frame_jpeg):
    assert decode_frame(frame_jpeg, 4).shape[:2] == (300, 400)


def test_truncated_camera_frame_asks_for_a_retake(kiosk_factory, sim_camera_factory, tmp_path):
    """Through the kiosk's capture path with the folder camera: the good page is kept, the
    truncated one is rejected as ``corrupt`` with a bilingual message and never sealed."""
    cam = sim_camera_factory()
    cam.open()
    good = cam.capture().jpeg
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "1.jpg").write_bytes(good)
    (folder / "2.jpg").write_bytes(_cut(good, 0.66))
    kiosk = kiosk_factory(camera=FolderCamera(folder))
    doc = kiosk.new_document("clerk")
    first = kiosk.capture("clerk", doc["id"])
    second = kiosk.capture("clerk", doc["id"])
    assert first.quality["ok"]
    issues = second.quality["issues"]
    assert [i["code"] for i in issues] == ["corrupt"]
    assert issues[0]["message_vi"] == "Ảnh bị hỏng, hãy chụp lại"
    assert "retake" in issues[0]["message_en"]
    assert kiosk.catalog.get_page(second.page["id"])["state"] == "rejected"
    kiosk.wait_idle(timeout=120)
    assert kiosk.catalog.get_page(second.page["id"])["state"] == "rejected"
