"""Folder, OpenCV (V4L2/UVC) and picamera2 cameras, errors and the factory."""

from __future__ import annotations

import json
import sys
import types

import cv2
import numpy as np
import pytest

from drivers.camera import CameraError, CameraGone, open_camera
from drivers.camera.base import Camera
from drivers.camera.folder import FolderCamera
from drivers.camera.opencv_cam import OpenCvCamera
from drivers.camera.picamera2_cam import Picamera2Camera
from drivers.camera.sim import SimCamera, write_dataset
from firmware.config import CameraConfig


def solid(value: int, w: int = 320, h: int = 240) -> np.ndarray:
    img = np.full((h, w, 3), value, np.uint8)
    cv2.putText(img, str(value), (20, 120), cv2.FONT_HERSHEY_SIMPLEX, 2, (255 - value,) * 3, 3)
    return img


def decode(jpeg: bytes) -> np.ndarray | None:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


# --- errors ---------------------------------------------------------------------------


def test_camera_errors_carry_code_and_both_languages():
    err = CameraError("busy", "device busy")
    assert err.code == "busy" and str(err) == "device busy"
    assert "máy ảnh" in err.message_vi.lower()
    gone = CameraGone()
    assert isinstance(gone, CameraError) and gone.code == "gone"
    assert gone.message_vi.startswith("Mất kết nối")
    assert str(CameraGone("gone", "cable pulled")) == "cable pulled"  # base-class form too
    with pytest.raises(ValueError):
        CameraError("exploded", "no such code")


def test_every_backend_satisfies_the_protocol(tmp_path):
    for cam in (
        SimCamera(width=64, height=48),
        FolderCamera(tmp_path),
        OpenCvCamera("/dev/video99"),
        Picamera2Camera(),
    ):
        assert isinstance(cam, Camera)


# --- folder -----------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    ok, jpg = cv2.imencode(".jpg", solid(40), [cv2.IMWRITE_JPEG_QUALITY, 70])
    (d / "a.jpg").write_bytes(jpg.tobytes())
    (d / "a.truth.json").write_text(json.dumps({"kind": "document", "note": "ấn"}), "utf-8")
    cv2.imwrite(str(d / "b.png"), solid(120))
    cv2.imwrite(str(d / "C.TIFF"), solid(200))
    (d / "notes.txt").write_text("not an image")
    return d


def test_folder_replays_in_name_order_with_truth_then_ends(folder):
    cam = FolderCamera(folder)
    cam.open()
    assert cam.remaining == 3
    a, b, c = cam.capture(), cam.capture(), cam.capture()
    assert a.jpeg == (folder / "a.jpg").read_bytes()  # JPEG byte for byte
    assert a.truth == {"kind": "document", "note": "ấn"}
    assert (a.width, a.height) == (320, 240)
    assert b.truth is None
    for frame, value in ((b, 120), (c, 200)):  # re-encoded as JPEG
        assert frame.jpeg[:2] == b"\xff\xd8"
        img = decode(frame.jpeg)
        assert img.shape == (240, 320, 3)
        assert abs(float(np.median(img)) - value) < 3
    with pytest.raises(CameraError) as info:
        cam.capture()
    assert info.value.code == "end"
    assert cam.remaining == 0


def test_folder_gives_corrupt_jpegs_as_they_are_but_refuses_undecodable_others(tmp_path):
    (tmp_path / "1.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (tmp_path / "2.png").write_bytes(b"\x89PNG garbage")
    cam = FolderCamera(tmp_path)
    cam.open()
    frame = cam.capture()
    assert frame.jpeg == b"\xff\xd8\xff\xe0 truncated"
    assert (frame.width, frame.height) == (0, 0)
    with pytest.raises(CameraError) as info:
        cam.capture()
    assert info.value.code == "io" and "2.png" in str(info.value)


def test_missing_folder_is_not_found(tmp_path):
    cam = FolderCamera(tmp_path / "nowhere")
    assert not cam.available
    with pytest.raises(CameraError) as info:
        cam.open()
    assert info.value.code == "not_found"
    assert "thư mục" in info.value.message_vi


def test_folder_preview_follows_the_next_capture(folder):
    cam = FolderCamera(folder)
    cam.open()
    first = cam.preview_frame()
    assert first.shape[1] <= 1024 and abs(float(np.median(first)) - 40) < 5
    cam.capture()
    assert abs(float(np.median(cam.preview_frame())) - 120) < 5


def test_folder_replays_a_sim_dataset_with_its_truth(tmp_path):
    paths = write_dataset(tmp_path, 2, seed=3, width=640, height=480)
    cam = FolderCamera(tmp_path)
    cam.open()
    for path in paths:
        frame = cam.capture()
        assert frame.jpeg == path.read_bytes()
        assert frame.truth["corners"] is not None
        assert frame.truth["fields"]["number_symbol"]


# --- OpenCV -----------------------------------------------------------------------------


def test_opencv_missing_device_is_not_found():
    cam = OpenCvCamera("/dev/video99")
    assert not cam.available
    with pytest.raises(CameraError) as info:
        cam.open()
    assert info.value.code == "not_found" and "/dev/video99" in str(info.value)
    with pytest.raises(CameraError) as info:
        cam.capture()
    assert info.value.code == "io"


@pytest.fixture
def image_sequence(tmp_path):
    for i in range(8):
        cv2.imwrite(str(tmp_path / f"img_{i:02d}.png"), solid(i * 20, 640, 480))
    return str(tmp_path / "img_%02d.png")


def test_opencv_drops_stale_frames_and_reports_the_end_of_stream_as_gone(image_sequence):
    # OpenCV's image-sequence backend stands in for the V4L2 stream: same VideoCapture
    # calls, frames we can tell apart (grey level = 20 * index).
    cam = OpenCvCamera(
        image_sequence,
        640,
        480,
        jpeg_quality=90,
        api_preference=cv2.CAP_IMAGES,
        warmup_frames=2,
        stale_frames=2,
    )
    cam.open()
    assert cam.actual_size == (640, 480) and cam.available
    frame = cam.capture()  # frames 0-1 warm-up, 2-3 dropped as stale: still is frame 4
    assert (frame.width, frame.height) == (640, 480)
    assert abs(float(np.median(decode(frame.jpeg))) - 80) < 3
    assert abs(float(np.median(cam.preview_frame())) - 100) < 3  # live view: no dropping
    with pytest.raises(CameraGone):
        cam.capture()  # frames 6-7 dropped, then nothing: the device went away
    assert not cam.available
    with pytest.raises(CameraGone):
        cam.preview_frame()
    cam.close()


def test_opencv_source_that_cannot_open_is_not_found(tmp_path):
    cam = OpenCvCamera(str(tmp_path / "none_%02d.png"), api_preference=cv2.CAP_IMAGES)
    with pytest.raises(CameraError) as info:
        cam.open()
    assert info.value.code == "not_found"


# --- picamera2 --------------------------------------------------------------------------


def test_picamera2_missing_library_is_not_found(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # makes the import fail
    cam = Picamera2Camera(640, 480)
    with pytest.raises(CameraError) as info:
        cam.open()
    assert info.value.code == "not_found"
    assert "apt install python3-picamera2" in str(info.value)
    assert not cam.available


class _FakePicamera2:
    """Stands in for picamera2.Picamera2 (libcamera is absent here); records the calls."""

    instances: list[_FakePicamera2] = []

    def __init__(self, camera_num: int = 0) -> None:
        self.mode = None
        self.calls: list[str] = []
        self.fail = False
        _FakePicamera2.instances.append(self)

    def create_still_configuration(self, main):
        return {"use": "still", **main}

    def create_preview_configuration(self, main):
        return {"use": "preview", **main}

    def configure(self, config):
        self.mode = config

    def start(self):
        self.calls.append("start")

    def _array(self, config):
        w, h = config["size"]
        img = np.zeros((h, w, 3), np.uint8)
        img[..., 0] = 255  # "RGB888" arrays are B,G,R in memory: this is blue
        return img

    def switch_mode_and_capture_array(self, config, name):
        if self.fail:
            raise RuntimeError("Camera frontend has timed out!")
        self.calls.append(f"still:{name}")
        return self._array(config)

    def capture_array(self, name):
        return self._array(self.mode)

    def stop(self):
        self.calls.append("stop")

    def close(self):
        self.calls.append("close")


def test_picamera2_previews_small_captures_full_size_and_loses_the_camera(monkeypatch):
    fake = types.ModuleType("picamera2")
    fake.Picamera2 = _FakePicamera2
    monkeypatch.setitem(sys.modules, "picamera2", fake)
    cam = Picamera2Camera(1280, 960, jpeg_quality=90)
    cam.open()
    device = _FakePicamera2.instances[-1]
    assert device.mode["use"] == "preview" and device.mode["format"] == "RGB888"
    preview = cam.preview_frame()
    assert preview.shape[1] <= 1024
    frame = cam.capture()
    assert (frame.width, frame.height) == (1280, 960)
    img = decode(frame.jpeg)
    assert img.shape == (960, 1280, 3) and img[..., 0].mean() > 240  # still blue in BGR
    assert "still:main" in device.calls
    device.fail = True
    with pytest.raises(CameraGone):
        cam.capture()
    assert not cam.available and "close" in device.calls


# --- factory ----------------------------------------------------------------------------


def test_open_camera_picks_the_backend_by_configuration(tmp_path):
    assert isinstance(
        open_camera(CameraConfig(backend="folder", source=str(tmp_path))), FolderCamera
    )
    cam = open_camera(CameraConfig(backend="opencv", source="/dev/video99"))
    assert isinstance(cam, OpenCvCamera) and cam.source == "/dev/video99"
    assert isinstance(open_camera(CameraConfig(backend="picamera2")), Picamera2Camera)
    with pytest.raises(CameraError) as info:
        open_camera(CameraConfig(backend="none"))
    assert info.value.code == "not_found"
    with pytest.raises(CameraError):
        open_camera(CameraConfig(backend="folder", source=""))
