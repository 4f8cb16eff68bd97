"""``sohoa doctor``: check the box and say what is wrong in plain words, and what to do.

Run by provincial IT over SSH or from the maintenance screen; each check is independent
so one broken device never hides the state of the others.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firmware.config import Settings
from sohoa_common.numbers import size

#: Below this the kiosk says so (the doctor, the status bar): a few hundred pages' room.
MIN_FREE_BYTES = 2 * 10**9


@dataclass
class Check:
    name: str
    ok: bool
    detail_en: str
    detail_vi: str
    fix_en: str = ""
    fix_vi: str = ""


def check_tessdata(s: Settings) -> Check:
    from firmware.ocr.engine import OcrError, find_tessdata

    try:
        where = find_tessdata(s.ocr.tessdata, s.ocr.languages)
    except OcrError as exc:
        return Check(
            "ocr",
            False,
            str(exc),
            exc.message_vi,
            "sudo apt-get install tesseract-ocr-vie",
            "Cài gói tesseract-ocr-vie",
        )
    try:
        import tesserocr

        version = tesserocr.tesseract_version().splitlines()[0]
    except Exception as exc:  # the library itself is broken
        return Check(
            "ocr",
            False,
            f"tesserocr does not load: {exc}",
            "Thư viện nhận dạng chữ bị lỗi",
            "reinstall the kiosk",
            "Cài đặt lại",
        )
    return Check(
        "ocr",
        True,
        f"{version}, languages {s.ocr.languages} in {where}",
        f"Nhận dạng chữ sẵn sàng ({s.ocr.languages})",
    )


def check_disk(s: Settings) -> Check:
    root = Path(s.data_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".doctor-probe"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        return Check(
            "disk",
            False,
            f"cannot write to {root}: {exc.strerror}",
            "Không ghi được vào bộ nhớ dữ liệu",
            "check the data partition is mounted read-write",
            "Báo cán bộ kỹ thuật kiểm tra phân vùng dữ liệu",
        )
    usage = shutil.disk_usage(root)
    free_en, free_vi = size(usage.free, "GB", "en"), size(usage.free, "GB", "vi")
    if usage.free < MIN_FREE_BYTES:
        return Check(
            "disk",
            False,
            f"only {free_en} free in {root}",
            f"Bộ nhớ sắp đầy (còn {free_vi})",
            "deliver or export documents, then purge",
            "Gửi/xuất tài liệu để giải phóng",
        )
    return Check("disk", True, f"{free_en} free in {root}", f"Bộ nhớ còn {free_vi}")


def check_camera(s: Settings) -> Check:
    if s.camera.backend == "none":
        return Check("camera", True, "no camera configured", "Không dùng máy ảnh")
    try:
        from drivers.camera import open_camera

        cam = open_camera(s.camera)
        cam.open()
        try:
            img = cam.preview_frame()
            shape = f"{img.shape[1]}x{img.shape[0]}"
        finally:
            cam.close()
    except Exception as exc:
        msg_vi = getattr(exc, "message_vi", "Máy ảnh không hoạt động")
        return Check(
            "camera",
            False,
            f"{s.camera.backend} camera: {exc}",
            msg_vi,
            "check the camera cable and camera.backend/source in the configuration",
            "Kiểm tra dây cắm máy ảnh",
        )
    return Check(
        "camera", True, f"{s.camera.backend} camera answers (preview {shape})", "Máy ảnh hoạt động"
    )


def check_pedal(s: Settings) -> Check:
    if s.pedal.backend == "none":
        return Check("pedal", True, "no pedal configured", "Không dùng bàn đạp")
    try:
        from drivers.pedal import open_pedal

        pedal = open_pedal(s.pedal)
        ok = pedal.available
        pedal.close()
    except Exception as exc:
        return Check(
            "pedal",
            False,
            f"{s.pedal.backend} pedal: {exc}",
            "Bàn đạp không hoạt động",
            "check the pedal plug and pedal.backend",
            "Kiểm tra dây cắm bàn đạp",
        )
    if not ok:
        return Check(
            "pedal",
            False,
            f"{s.pedal.backend} pedal not found",
            "Không tìm thấy bàn đạp",
            "plug the pedal in",
            "Cắm bàn đạp vào máy",
        )
    return Check("pedal", True, f"{s.pedal.backend} pedal ready", "Bàn đạp sẵn sàng")


def check_leds(s: Settings) -> Check:
    if s.leds.backend == "none":
        return Check("leds", True, "no status LEDs configured", "Không dùng đèn báo")
    try:
        from drivers.leds import open_leds

        leds = open_leds(s.leds)
        leds.close()
    except Exception as exc:
        return Check(
            "leds",
            False,
            f"{s.leds.backend} LEDs: {exc}",
            "Đèn báo không hoạt động",
            "check leds.backend and pins",
            "Báo cán bộ kỹ thuật",
        )
    return Check("leds", True, f"{s.leds.backend} LEDs ready", "Đèn báo sẵn sàng")


def check_audit(s: Settings) -> Check:
    from firmware.store.catalog import Catalog
    from firmware.store.paths import DataPaths

    path = DataPaths(Path(s.data_dir)).catalog
    if not path.exists():
        return Check("audit", True, "no catalog yet (new kiosk)", "Chưa có dữ liệu")
    cat = Catalog(path)
    try:
        v = cat.verify_audit()
    finally:
        cat.close()
    if not v.ok:
        return Check(
            "audit",
            False,
            f"audit chain broken: {v.problem}",
            "Nhật ký kiểm tra bị thay đổi",
            "report to the provincial archive",
            "Báo ngay cho Văn phòng Tỉnh ủy",
        )
    return Check(
        "audit",
        True,
        f"audit chain intact ({v.records} records)",
        f"Nhật ký nguyên vẹn ({v.records} bản ghi)",
    )


def check_uplink(s: Settings) -> Check:
    """Enrolled, certificate valid, hub reachable and still accepting this kiosk (not
    revoked), and when a document last got through."""
    from firmware.store.paths import DataPaths
    from firmware.uplink.health import probe_hub
    from firmware.uplink.identity import load_identity

    if not s.uplink.enabled:
        return Check(
            "uplink", True, "sending to the hub is switched off", "Không gửi về trung tâm (đã tắt)"
        )
    paths = DataPaths(Path(s.data_dir))
    ident = load_identity(paths)
    if ident is None:
        return Check(
            "uplink",
            False,
            "not enrolled with the provincial hub: documents wait on this kiosk",
            "Máy chưa đăng ký với trung tâm tỉnh: tài liệu được giữ lại chờ gửi",
            "show the hub's enrollment QR to the camera (provincial IT)",
            "Đưa mã QR đăng ký của trung tâm trước máy ảnh (CNTT tỉnh)",
        )
    health = probe_hub(ident, s.uplink.hub_url or None)
    last_en, last_vi = _last_delivery(paths)
    if not health.ok:
        return Check(
            "uplink",
            False,
            f"{health.message_en} ({health.code}); {last_en}",
            f"{health.message_vi} {last_vi}",
            "ask provincial IT (the hub's device list says why)",
            "Liên hệ CNTT tỉnh (danh sách thiết bị trên trung tâm ghi lý do)",
        )
    until = f"{ident.not_after:%d/%m/%Y}"
    return Check(
        "uplink",
        True,
        f"{health.message_en}; certificate valid until {until}; {last_en}",
        f"{health.message_vi}; chứng thư còn hạn đến {until}; {last_vi}",
    )


def _last_delivery(paths) -> tuple[str, str]:  # noqa: ANN001 - DataPaths
    from firmware.store.catalog import Catalog
    from firmware.uplink.outbox import Outbox

    if not paths.catalog.exists():
        return "nothing delivered yet", "chưa gửi tài liệu nào"
    cat = Catalog(paths.catalog)
    try:
        at = Outbox(cat).last_delivery()
    finally:
        cat.close()
    if not at:
        return "nothing delivered yet", "chưa gửi tài liệu nào"
    shown = f"{at[8:10]}/{at[5:7]}/{at[:4]} {at[11:16]}"
    return f"last delivery {shown}", f"gửi thành công lần cuối {shown}"


CHECKS: list[Callable[[Settings], Check]] = [
    check_camera,
    check_pedal,
    check_leds,
    check_tessdata,
    check_disk,
    check_audit,
    check_uplink,
]

#: The devices whose checks open them, with their Vietnamese names. While the kiosk service
#: runs it holds these devices (a GPIO pin, the camera) and a second opener is refused ("pin
#: already in use"), so the service's own view of them is reported instead of a failure
#: that is not there.
HELD_DEVICES = {"camera": "Máy ảnh", "pedal": "Bàn đạp", "leds": "Đèn báo"}


def held_by_service(name: str, s: Settings, ok: bool) -> Check:
    """``name``'s check from the running service's view (``ok``: it answers there)."""
    backend = getattr(s, name).backend
    if ok:
        return Check(
            name,
            True,
            f"{backend} {name}: in use by the kiosk service, answering",
            f"{HELD_DEVICES[name]} đang được dịch vụ máy quét dùng và hoạt động",
        )
    return Check(
        name,
        False,
        f"{backend} {name}: the kiosk service cannot reach it",
        f"{HELD_DEVICES[name]} không hoạt động",
        "check the cable and the configuration, then restart the service",
        "Kiểm tra dây cắm và cấu hình, rồi khởi động lại dịch vụ",
    )


def service_devices(s: Settings) -> dict[str, bool] | None:
    """The running kiosk service's device health from its status file (None when the
    service is not running: then the devices are free to open)."""
    from firmware.fleet.link import read_kiosk_status
    from firmware.store.paths import DataPaths

    status = read_kiosk_status(DataPaths(s.data_dir))
    devices = (status or {}).get("devices")
    return devices if isinstance(devices, dict) else None


def run_checks(s: Settings, live: dict[str, bool] | None = None) -> list[Check]:
    """Every check; ``live``: the device health of the kiosk service these checks run in
    (read from its status file when not given, so ``sohoa doctor`` beside a running
    service does not fight it for the devices)."""
    if live is None:
        live = service_devices(s)
    out = []
    for fn in CHECKS:
        name = fn.__name__.removeprefix("check_")
        try:
            if live is not None and name in HELD_DEVICES and name in live:
                out.append(held_by_service(name, s, bool(live[name])))
            else:
                out.append(fn(s))
        except Exception as exc:  # a check must never crash the doctor
            out.append(Check(name, False, str(exc), "Lỗi kiểm tra"))
    return out


def print_report(checks: list[Check], lang: str = "vi", stream=None) -> None:
    stream = stream or sys.stdout
    color = stream.isatty() and os.environ.get("NO_COLOR") is None
    for c in checks:
        mark = "OK " if c.ok else "LỖI" if lang == "vi" else "ERR"
        if color:
            mark = ("\033[32m" if c.ok else "\033[31m") + mark + "\033[0m"
        detail = c.detail_vi if lang == "vi" else c.detail_en
        line = f"[{mark}] {c.name:7s} {detail}"
        if not c.ok:
            fix = c.fix_vi if lang == "vi" else c.fix_en
            if fix:
                line += f" -> {fix}"
        print(line, file=stream)
