"""Download a release artifact so that a cut link or a reboot costs only the bytes in flight.

The bytes go to ``<dest>.part``, fsynced after every response; the next attempt (after a
cut, or after the agent restarted) asks ``Range: bytes=<have>-`` and appends what the hub
returns as ``206`` with a matching ``Content-Range``. A hub that ignores the range (``200``)
restarts the file; one that answers ``416`` means the part file is wrong and it restarts
too. Reading is paced to ``rate_bps`` (the kiosk's ``[uplink] bandwidth_kbit``) so
documents still have the link, and ``should_yield`` (checked about once a second) stops the
download, keeping the part file, when documents wait inside the upload window: they go
first, the release resumes later from where it stopped. Nothing here trusts the bytes: :func:`.artifact.verify`
checks the whole file against the signed length and hash afterwards, and a part file
longer than the signed length is thrown away.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from firmware.errors import KioskError
from sohoa_common.atomic import fsync_dir

CHUNK = 16 * 1024
CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass
class DownloadStats:
    requests: int = 0
    bytes_received: int = 0  # on the wire, including bytes thrown away
    restarts: int = 0  # times the file started again from zero


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _pace(
    started: float,
    sent: int,
    rate_bps: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    if rate_bps <= 0:
        return
    ahead = sent * 8 / rate_bps - (clock() - started)
    if ahead > 0:
        sleep(ahead)


def _deferred() -> KioskError:
    return KioskError(
        "update_deferred",
        "Documents are waiting in the upload window; the release download pauses so they go "
        "first, and resumes later.",
        "Đang có tài liệu chờ gửi trong khung giờ tải lên; tạm dừng tải bản cập nhật để gửi "
        "tài liệu trước.",
    )


def resume_download(
    client: httpx.Client,
    url: str,
    dest: Path,
    length: int,
    *,
    rate_bps: float = 0,
    max_attempts: int = 200,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    should_yield: Callable[[], bool] | None = None,
) -> DownloadStats:
    """Download ``url`` into ``dest`` (``length`` bytes, from the signed target): resumed
    from ``dest.part``, paced to ``rate_bps``; :class:`KioskError` ``update_deferred`` when
    ``should_yield`` says documents go first, ``update_download_failed`` when the link stays
    bad or the hub answers wrongly."""
    stats = DownloadStats()
    checked = clock()
    part = part_path(dest)
    failures = 0
    started = clock()
    while True:
        have = part.stat().st_size if part.exists() else 0
        if have > length:
            part.unlink()
            have = 0
            stats.restarts += 1
        if have == length:
            os.replace(part, dest)
            fsync_dir(dest.parent)
            return stats
        headers = {"Range": f"bytes={have}-"} if have else {}
        stats.requests += 1
        try:
            with client.stream("GET", url, headers=headers) as resp:
                mode = "ab"
                if resp.status_code == 206:
                    m = CONTENT_RANGE.match(resp.headers.get("content-range", ""))
                    if m is None or int(m.group(1)) != have:
                        raise KioskError(
                            "update_download_failed",
                            f"The hub answered a different range ({resp.headers.get('content-range')}).",
                            "Máy chủ trả về sai đoạn dữ liệu của gói cập nhật.",
                        )
                elif resp.status_code == 200:
                    mode = "wb"
                    if have:
                        stats.restarts += 1
                elif resp.status_code == 416:
                    part.unlink(missing_ok=True)
                    stats.restarts += 1
                    continue
                else:
                    raise KioskError(
                        "update_download_failed",
                        f"The release download failed: HTTP {resp.status_code}.",
                        "Không tải được gói cập nhật từ trung tâm; sẽ thử lại sau.",
                    )
                with open(part, mode) as fh:
                    try:
                        for chunk in resp.iter_bytes(CHUNK):
                            fh.write(chunk)
                            stats.bytes_received += len(chunk)
                            _pace(started, stats.bytes_received, rate_bps, sleep, clock)
                            if should_yield is not None and clock() - checked >= 1.0:
                                checked = clock()
                                if should_yield():
                                    raise _deferred()
                    finally:
                        fh.flush()
                        os.fsync(fh.fileno())
        except httpx.TransportError as exc:
            # A cut after progress is the link's normal life: the wait starts small again;
            # only cuts in a row without a byte gained grow it (and end the attempt).
            gained = (part.stat().st_size if part.exists() else 0) > have
            failures = 1 if gained else failures + 1
            if failures >= max_attempts:
                raise KioskError(
                    "update_download_failed",
                    f"The release download was cut {failures} times ({exc}); what arrived is kept.",
                    "Đường truyền bị ngắt nhiều lần; phần đã tải được giữ lại để tải tiếp.",
                ) from None
            with contextlib.suppress(OSError):
                sleep(min(5.0, 0.05 * failures))
