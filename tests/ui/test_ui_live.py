"""The scan screen's live view: outline detection, auto-capture, quiet while capturing."""

from __future__ import annotations

from drivers.camera.sim import SimCamera
from kiosk_ui.live import STILL_TICKS, LiveView


class CountingCamera:
    """The sim camera, counting how often the live view asked it for a frame."""

    def __init__(self) -> None:
        self.cam = SimCamera(seed=4, width=1200, height=900, stream=False)
        self.cam.open()
        self.calls = 0

    def preview_frame(self):
        self.calls += 1
        return self.cam.preview_frame()


def test_a_page_under_the_camera_is_ready_with_its_outline():
    view = LiveView(CountingCamera())
    frame, fire = view.tick()
    assert frame.ready and frame.reason is None and not fire
    assert frame.quad is not None and len(frame.quad) == 4
    assert all(0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for x, y in frame.quad)
    assert frame.jpeg[:2] == b"\xff\xd8"


def test_the_view_keeps_its_last_frame_while_a_page_is_captured():
    cam = CountingCamera()
    capturing = [False]
    view = LiveView(cam, busy=lambda: capturing[0])
    first, _ = view.tick()
    capturing[0] = True
    again, fire = view.tick()
    assert again is first and not fire and cam.calls == 1
    capturing[0] = False
    assert view.tick()[0].seq == first.seq + 1 and cam.calls == 2


def test_auto_capture_fires_once_the_page_is_still_then_waits_for_a_new_page():
    view = LiveView(CountingCamera(), auto_capture=True)
    fired = [view.tick()[1] for _ in range(STILL_TICKS + 1)]
    assert fired.count(True) == 1 and fired[-1] is True
    view.mark_captured()
    assert not any(view.tick()[1] for _ in range(STILL_TICKS + 2))  # same page: no repeat
