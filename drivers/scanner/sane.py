"""SANE scanners driven through the ``scanimage`` command-line frontend.

Why ``scanimage`` in a subprocess rather than python-sane (a C extension on libsane):

* Never hang. Every SANE call blocks in backend C code; a wedged USB scanner leaves
  ``sane_read`` stuck forever, and a thread stuck in C cannot be cancelled or killed, so
  the whole kiosk would freeze. A child process can be timed out and killed (process.py).
* A crashing backend (several segfault on odd firmware) takes down only the child.
* ADF batches come for free: ``--batch --batch-print`` writes each page to a ``.part``
  file, renames it when complete and prints its name, so pages are handed over one by one
  as they arrive and a jam at sheet 7 keeps sheets 1-6.
* Errors are well defined: scanimage exits with the ``SANE_Status`` number and prints
  ``sane_strstatus`` text, which errors.py maps to the kiosk's codes.
* No build step: python-sane needs libsane-dev and a compiler on the image; sane-utils is
  one Debian package.

The cost is one process start per scan or query (milliseconds, negligible next to a scan)
and opening the device each time (a second or two on some USB models); the option query
(``scanimage -A``) is cached per scanner for that reason.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from PIL import Image

from drivers.scanner.base import Frame, ScannerInfo, ScanSettings
from drivers.scanner.errors import ScannerError, batch_exit_status, classify
from drivers.scanner.options import Capabilities, ScanPlan, parse_options, plan_scan
from drivers.scanner.process import (
    BatchProcess,
    ScanTimeout,
    run_capture,
    scanimage_env,
)

log = logging.getLogger(__name__)

#: ``scanimage -f`` format: one device per line, tab-separated (names may contain spaces).
LIST_FORMAT = "%d\t%v\t%m\t%t%n"
#: SANE backends that list cameras, not scanners; ignored when no model is configured.
CAMERA_BACKENDS = frozenset({"v4l", "gphoto2", "dc210", "dc240", "dc25", "dmc", "qcam"})
#: Time allowed for scanimage to exit once it has closed its output.
EXIT_GRACE_S = 10.0


def parse_device_list(text: str) -> list[ScannerInfo]:
    """Parse ``scanimage -f LIST_FORMAT`` output (also the recorded fixtures' format)."""
    devices = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 4 and fields[0].strip():
            devices.append(ScannerInfo(*(f.strip() for f in fields)))
    return devices


def list_scanners(
    timeout_s: float = 20,
    *,
    scanimage: str = "scanimage",
    env: Mapping[str, str] | None = None,
) -> list[ScannerInfo]:
    """The devices SANE can see now. Network backends may take seconds to answer."""
    try:
        rc, out, err = run_capture([scanimage, "-f", LIST_FORMAT], timeout_s, scanimage_env(env))
    except FileNotFoundError as exc:
        raise ScannerError("no_device", detail=f"{scanimage} not installed: {exc}") from exc
    except ScanTimeout as exc:
        raise ScannerError("timeout", detail=str(exc)) from exc
    if rc != 0:
        raise classify(rc, err)
    return parse_device_list(out)


def _is_camera(info: ScannerInfo) -> bool:
    return info.backend in CAMERA_BACKENDS or "camera" in info.type.lower()


def _describe(devices: list[ScannerInfo]) -> str:
    return ", ".join(f"{d.name} ({d.vendor} {d.model})" for d in devices) or "none"


def pick_scanner(devices: list[ScannerInfo], model: str = "") -> ScannerInfo:
    """Choose the kiosk's scanner: the one matching ``model``, or the only one present.

    ``model`` matches the full device name exactly, or else is a case-insensitive
    substring of the name, "vendor model", or the model. Without ``model``, cameras that
    SANE also lists (v4l, gphoto2) are ignored, because a kiosk with a document camera
    and one scanner should not need configuring.
    """
    wanted = model.strip().lower()
    if wanted:
        exact = [d for d in devices if d.name.lower() == wanted]
        hits = exact or [
            d
            for d in devices
            if wanted in d.name.lower()
            or wanted in f"{d.vendor} {d.model}".lower()
            or wanted in d.model.lower()
        ]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise ScannerError(
                "no_device", detail=f"no scanner matches {model!r}; present: {_describe(devices)}"
            )
        raise ScannerError(
            "invalid",
            "Several scanners match the configured model: IT support must set the device name.",
            "Có nhiều máy quét trùng mẫu đã cấu hình, hãy báo bộ phận kỹ thuật ghi rõ tên thiết bị.",
            detail=f"{model!r} matches {_describe(hits)}",
        )
    scanners = [d for d in devices if not _is_camera(d)]
    if len(scanners) == 1:
        return scanners[0]
    if not scanners:
        raise ScannerError(
            "no_device", detail=f"no scanner present; SANE lists {_describe(devices)}"
        )
    raise ScannerError(
        "invalid",
        "Several scanners are connected: IT support must choose one in the configuration.",
        "Có nhiều máy quét được kết nối, hãy báo bộ phận kỹ thuật chọn máy quét trong cấu hình.",
        detail=f"no scanner model configured and several present: {_describe(scanners)}",
    )


def _encode_page(path: Path, dpi: int, quality: int) -> tuple[bytes, int, int]:
    """PNM page from scanimage -> JPEG bytes carrying its dpi (for 100 % scale PDFs)."""
    try:
        with Image.open(path) as opened:
            opened.load()
            img = opened if opened.mode in ("RGB", "L") else opened.convert("RGB")
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=quality, dpi=(dpi, dpi), optimize=False)
            return buf.getvalue(), img.width, img.height
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        # A truncated or odd frame (e.g. a backend sending a format scanimage cannot
        # wrap as PNM) is a device problem for the clerk, not a crash of the kiosk.
        raise ScannerError("io", detail=f"unreadable page {path.name}: {exc}") from exc


class SaneScanner:
    """One SANE device. Scans return JPEG frames; every step is bounded by ``timeout_s``.

    ``timeout_s`` bounds the option query and the wait for each page (the clock restarts
    at every page, so long ADF batches are fine while a silent device is not).
    ``extra_args`` are backend-specific scanimage options appended after the ones derived
    from the settings (e.g. fujitsu ``--df-action Stop`` to stop on double feeds).
    ``workdir`` is where raw pages land before JPEG encoding (default: the system temp).
    """

    def __init__(
        self,
        device: str,
        settings: ScanSettings = ScanSettings(),  # noqa: B008 (frozen, so sharing is safe)
        *,
        scanimage: str = "scanimage",
        workdir: Path | None = None,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.device = device
        self.extra_args = tuple(extra_args)
        self.settings = settings
        self._scanimage = scanimage
        self._workdir = workdir
        self._env = scanimage_env(env)
        self._caps: Capabilities | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SaneScanner({self.device!r}, {self.settings!r})"

    @property
    def available(self) -> bool:
        """Whether SANE lists the device right now (one bounded listing, never raises)."""
        try:
            devices = list_scanners(
                min(20.0, self.settings.timeout_s), scanimage=self._scanimage, env=self._env
            )
        except ScannerError:
            return False
        return any(d.name == self.device for d in devices)

    def capabilities(self) -> Capabilities:
        """The device's options (``scanimage -d DEV -A``), queried once and cached."""
        if self._caps is None:
            argv = [self._scanimage, "-d", self.device, "-A"]
            try:
                rc, out, err = run_capture(argv, self.settings.timeout_s, self._env)
            except FileNotFoundError as exc:
                raise ScannerError("no_device", detail=f"{self._scanimage}: {exc}") from exc
            except ScanTimeout as exc:
                raise ScannerError("timeout", detail=str(exc)) from exc
            if rc != 0:
                raise classify(rc, err)
            self._caps = parse_options(out)
        return self._caps

    def plan(self) -> ScanPlan:
        """The scanimage arguments the current settings translate to on this device."""
        return plan_scan(self.capabilities(), self.settings)

    def scan(self) -> list[Frame]:
        """All pages of one scan. On failure the ScannerError carries the pages so far."""
        frames: list[Frame] = []
        for frame in self.iter_scan():
            frames.append(frame)
        return frames

    def iter_scan(self) -> Iterator[Frame]:
        """Yield pages as the scanner delivers them (flatbed: one; feeder: until empty).

        Duplex pages come as the backends deliver them, front then back of each sheet, and
        are labelled accordingly. Stopping the iteration early ends the scan. A failure
        raises ScannerError whose ``pages`` are the frames already yielded.
        """
        if not self._lock.acquire(blocking=False):
            raise ScannerError("busy", detail=f"a scan is already running on {self.device}")
        frames: list[Frame] = []
        try:
            try:
                plan = self.plan()
            except ScannerError:
                self._caps = None
                raise
            yield from self._run(plan, frames)
        except ScannerError as exc:
            if exc.code in ("gone", "no_device"):
                self._caps = None  # a replugged device may come back with other options
            exc.pages = list(frames)
            raise
        finally:
            self._lock.release()

    def _run(self, plan: ScanPlan, frames: list[Frame]) -> Iterator[Frame]:
        settings = self.settings
        with tempfile.TemporaryDirectory(prefix="sohoa-scan-", dir=self._workdir) as tmp:
            pages_dir = Path(tmp, "pages")
            pages_dir.mkdir()
            argv = [
                self._scanimage,
                "-d",
                self.device,
                "--format=pnm",
                f"--batch={pages_dir}/page-%04d.pnm",
                "--batch-print",
                *plan.args,
                *self.extra_args,
            ]
            if not plan.feeder:
                argv.append("--batch-count=1")
            try:
                batch = BatchProcess(argv, self._env, Path(tmp, "stderr.txt"))
            except FileNotFoundError as exc:
                raise ScannerError("no_device", detail=f"{self._scanimage}: {exc}") from exc
            try:
                for path in batch.pages(settings.timeout_s):
                    captured_at = time.time()
                    jpeg, width, height = _encode_page(path, plan.dpi, settings.jpeg_quality)
                    with contextlib.suppress(OSError):
                        path.unlink()  # raw pages are large; keep only the JPEG
                    index = len(frames)
                    side = "back" if plan.duplex and index % 2 else "front"
                    sheet = index // 2 + 1 if plan.duplex else index + 1
                    frame = Frame(
                        jpeg,
                        width,
                        height,
                        captured_at,
                        source="scanner",
                        dpi=plan.dpi,
                        side=side,
                        sheet=sheet,
                    )
                    frames.append(frame)
                    yield frame
                rc, stderr = batch.finish(EXIT_GRACE_S)
                if batch.hung_after_end:
                    log.warning("%s: scanimage hung after its batch ended; ended it", self.device)
                    rc = batch_exit_status(stderr, len(frames))
            except ScanTimeout as exc:
                raise ScannerError("timeout", detail=f"{self.device}: {exc}") from exc
            finally:
                batch.close()
            if rc != 0 or not frames:
                # An unbounded batch ends with status 0 even when the feeder was empty from
                # the start, so "no page" is classified from what scanimage printed.
                raise classify(rc, stderr)
