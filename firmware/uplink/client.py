"""A tus 1.0 client (core, creation, checksum) over mutual TLS, for slow and flaky links.

Why not a library: ``tuspy`` has no checksum extension, no bandwidth cap, no way to keep the
upload URL in our catalog across a power cut, and no hook to stop between pieces. This
client is small and follows ``docs/uplink-protocol.md``:

- resumption always asks the hub (``HEAD``) where the upload stands, so a cut mid-request
  loses only the bytes that never arrived;
- every ``PATCH`` carries the chunk's SHA-256 (``Upload-Checksum``), so a damaged chunk is
  refused and resent rather than stored;
- a token bucket caps the sending rate (the office's link must stay usable);
- connect and read/write timeouts bound every wait, so a dead link becomes an error.

Errors are :class:`UplinkError` with a stable code, plain Vietnamese and English, whether a
retry may help, and whether the upload must start again from zero.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from firmware.errors import KioskError
from firmware.uplink.hub_url import https_problem
from provisioning.schemas import (
    E_HASH_MISMATCH,
    E_STORAGE_FULL,
    FILES_PATH,
    ORDINARY_LEVEL,
    RECEIPT_HEADER,
    TUS_CONTENT_TYPE,
    TUS_VERSION,
    decode_receipt_header,
    encode_tus_metadata,
    parse_error_body,
    upload_checksum,
)

#: Bytes handed to the socket at a time: small enough for a smooth rate cap and a quick
#: stop, large enough not to cost CPU on a Pi.
PIECE = 16 * 1024
#: A chunk refused for its checksum this many times in a row is not a line glitch.
MAX_CHUNK_RETRIES = 3
#: Adaptive chunking: with chunk checksums a chunk cut mid-way is discarded whole by the hub,
#: so on a line that drops every few hundred KB a big chunk wastes a lot. Each request is
#: sized to about CHUNK_SECONDS of the speed measured on the previous one, within
#: [MIN_CHUNK, chunk_size], and halved after a drop.
MIN_CHUNK = 16 * 1024
CHUNK_SECONDS = 1.0


class UplinkError(KioskError):
    """An upload or enrollment failure, shown as the queue's reason.

    ``transient``: trying again later may succeed (network, hub busy, hub full).
    ``restart``: the hub no longer has (or refused) the partial upload; start from zero.
    """

    def __init__(
        self,
        code: str,
        message_en: str,
        message_vi: str,
        *,
        transient: bool = True,
        restart: bool = False,
        status: int = 503,
    ):
        super().__init__(code, message_en, message_vi, status=status)
        self.transient = transient
        self.restart = restart


def require_https(url: str) -> str:
    """``url`` if it is an https hub address; else refuse before any connection is made
    (a hub.json edited by hand or an old configuration must not send documents in clear)."""
    problem = https_problem(url)
    if problem is not None:
        raise UplinkError(
            "hub_not_https",
            f"Refusing to contact the hub: {problem}. Fix uplink.hub_url or enroll again.",
            "Máy không kết nối tới trung tâm vì địa chỉ không phải https:// (tài liệu không "
            "bao giờ được gửi không mã hóa); hãy báo cán bộ kỹ thuật sửa địa chỉ trung tâm.",
            transient=False,
            status=400,
        )
    return url


class StopRequested(Exception):
    """The worker is stopping (service shutdown, window closed): leave between pieces."""


def _hub_detail(resp: httpx.Response) -> tuple[str, str, str]:
    """(code, English, Vietnamese) from the hub's JSON error body, if it has one."""
    err = parse_error_body(resp.content)
    if err is None:
        return "", resp.reason_phrase or "", ""
    return err.code, err.message, err.message_vi


def hub_error(resp: httpx.Response, doing: str) -> UplinkError:
    """Turn a refusal from the hub into a queue reason a clerk or IT can act on."""
    code, en, vi = _hub_detail(resp)
    st = resp.status_code
    said = f" (hub: {en})" if en else ""
    if st == 401:
        return UplinkError(
            "not_authorized",
            f"The hub did not accept this kiosk's certificate while {doing}{said}; "
            "enroll the kiosk again.",
            "Trung tâm không chấp nhận chứng thư của máy; cần đăng ký lại thiết bị.",
        )
    if st == 403:
        return UplinkError(
            "device_revoked",
            f"The hub refuses this kiosk (revoked) while {doing}{said}; ask provincial IT.",
            "Trung tâm đã thu hồi quyền gửi của máy này; hãy liên hệ cán bộ kỹ thuật tỉnh.",
        )
    if st == 507 or code == E_STORAGE_FULL:
        return UplinkError(
            "hub_storage_full",
            f"The hub's storage is full while {doing}; documents wait here and are sent "
            "once the hub has space.",
            "Bộ nhớ của trung tâm đã đầy; tài liệu được giữ lại tại máy và sẽ gửi khi "
            "trung tâm có chỗ trống.",
        )
    if st >= 500:
        return UplinkError(
            "hub_error",
            f"The hub had an internal error (HTTP {st}) while {doing}{said}; retrying later.",
            "Trung tâm đang gặp lỗi; máy sẽ tự gửi lại sau.",
        )
    return UplinkError(
        f"hub_{code}" if code else "hub_refused",
        f"The hub refused the request (HTTP {st}) while {doing}{said}.",
        vi or f"Trung tâm từ chối yêu cầu (mã {st}).",
        transient=st in (408, 423, 429),
    )


def transport_error(exc: Exception, doing: str) -> UplinkError:
    """A network failure: untrusted certificate, timeout, refused or cut connection."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return UplinkError(
                "hub_untrusted",
                f"The hub's certificate is not issued by the fleet CA this kiosk enrolled "
                f"with ({cause.verify_message}); nothing was sent.",
                "Chứng thư của máy chủ không thuộc trung tâm đã đăng ký; "
                "máy không gửi tài liệu. Hãy báo cán bộ kỹ thuật.",
            )
        if isinstance(cause, ssl.SSLError) and "CERTIFICATE" in str(cause).upper():
            return UplinkError(
                "tls_refused",
                f"The hub refused this kiosk's certificate during the TLS handshake ({cause}).",
                "Trung tâm từ chối chứng thư của máy khi kết nối; cần đăng ký lại thiết bị.",
            )
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return UplinkError(
            "hub_timeout",
            f"The hub did not answer in time while {doing}; the upload resumes later.",
            "Trung tâm không phản hồi kịp; máy sẽ gửi tiếp phần còn lại sau.",
        )
    if isinstance(exc, httpx.ConnectError):
        return UplinkError(
            "hub_unreachable",
            f"The hub cannot be reached while {doing} ({exc}); check the network.",
            "Không kết nối được tới trung tâm; hãy kiểm tra đường mạng.",
        )
    return UplinkError(
        "connection_lost",
        f"The connection dropped while {doing} ({type(exc).__name__}); "
        "the upload resumes from the last byte the hub stored.",
        "Mất kết nối trong khi gửi; máy sẽ gửi tiếp từ phần trung tâm đã nhận.",
    )


class TokenBucket:
    """Caps the average sending rate at ``rate`` bytes/s with a small burst."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else max(rate / 4, PIECE))
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        """Block until ``n`` bytes may be sent (a request larger than the burst goes into
        debt, paid back by the next wait, so the average holds)."""
        with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                need = min(n, self.capacity)
                if self._tokens >= need - 1e-6:  # tolerance: float sums never quite meet
                    self._tokens -= n
                    return
                self._sleep((need - self._tokens) / self.rate)


@dataclass
class UploadItem:
    """One file to deliver and where its upload stands (as the outbox recorded it)."""

    document_id: str
    path: Path
    sha256: str
    size: int
    upload_url: str | None = None
    filename: str | None = None
    kind: str = "document"
    #: The document's stored level, sent in Upload-Metadata so the hub can refuse it too.
    confidentiality: str = ORDINARY_LEVEL
    #: Called immediately before every request of this upload; raises to stop it (the
    #: uplink worker's last check of the confidentiality rule).
    guard: Callable[[], object] | None = None
    #: More ``Upload-Metadata`` for the hub (the audit anchor, ``firmware.store.audit_anchor``).
    extra_meta: dict[str, str] = field(default_factory=dict)


ProgressFn = Callable[[str, int], None]


class TusClient:
    """Uploads files to ``<hub>/files/`` with resumption; one instance per hub session."""

    def __init__(
        self,
        hub_url: str,
        ssl_context: ssl.SSLContext | bool,
        *,
        chunk_size: int = 256 * 1024,
        rate_bytes: float = 0,
        connect_timeout: float = 15,
        io_timeout: float = 60,
        should_stop: Callable[[], bool] = lambda: False,
        transport: httpx.BaseTransport | None = None,
    ):
        self.hub_url = require_https(hub_url).rstrip("/")
        self.chunk_size = max(MIN_CHUNK, int(chunk_size))
        self.next_chunk = min(self.chunk_size, 4 * MIN_CHUNK)
        self.bucket = TokenBucket(rate_bytes) if rate_bytes > 0 else None
        self.should_stop = should_stop
        self.http = httpx.Client(
            base_url=self.hub_url,
            verify=ssl_context,
            timeout=httpx.Timeout(io_timeout, connect=connect_timeout),
            headers={"Tus-Resumable": TUS_VERSION},
            transport=transport,
        )
        self.bytes_sent = 0  # body bytes handed to the network (goodput accounting)
        self._guard: Callable[[], object] | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> TusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, url: str, doing: str, **kw: Any) -> httpx.Response:
        if self._guard is not None:
            self._guard()  # before each request, never after bytes left
        try:
            return self.http.request(method, url, **kw)
        except StopRequested:
            raise
        except httpx.HTTPError as exc:
            raise transport_error(exc, doing) from exc

    # -- protocol steps ---------------------------------------------------------------
    def status(self, upload_url: str) -> tuple[int, int] | None:
        """(offset, length) the hub holds for an upload, or None if it is gone."""
        resp = self._request("HEAD", upload_url, "asking the hub how far the upload got")
        if resp.status_code in (404, 410):
            return None
        if resp.status_code != 200:
            raise hub_error(resp, "asking how far the upload got")
        try:
            return int(resp.headers["Upload-Offset"]), int(resp.headers["Upload-Length"])
        except (KeyError, ValueError):
            raise UplinkError(
                "hub_protocol",
                "The hub answered HEAD without a valid Upload-Offset/Upload-Length.",
                "Trung tâm trả lời sai giao thức; máy sẽ thử lại sau.",
            ) from None

    def create(self, item: UploadItem) -> str | dict[str, Any]:
        """Start an upload: its path on the hub, or the receipt when the hub has the file."""
        meta = {
            "filename": item.filename or item.path.name,
            "sha256": item.sha256,
            "document_id": item.document_id,
            "content_type": "application/pdf",
            "kind": item.kind,
            "confidentiality": item.confidentiality,
            **item.extra_meta,
        }
        resp = self._request(
            "POST",
            FILES_PATH,
            "starting the upload",
            headers={
                "Upload-Length": str(item.size),
                "Upload-Metadata": encode_tus_metadata(meta),
            },
        )
        if resp.status_code == 200:  # dedupe shortcut: already stored for us
            return resp.json()
        if resp.status_code != 201 or "Location" not in resp.headers:
            raise hub_error(resp, "starting the upload")
        return urlsplit(resp.headers["Location"]).path

    def receipt(self, upload_url: str) -> dict[str, Any]:
        resp = self._request("GET", upload_url.rstrip("/") + "/receipt", "fetching the receipt")
        if resp.status_code == 200:
            return resp.json()
        if resp.status_code == 404:
            raise UplinkError(
                "receipt_missing",
                "The hub has every byte but no receipt yet; asking again later.",
                "Trung tâm đã nhận đủ nhưng chưa có biên nhận; máy sẽ hỏi lại sau.",
            )
        raise hub_error(resp, "fetching the receipt")

    def _pieces(self, data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), PIECE):
            if self.should_stop():
                raise StopRequested()
            piece = data[start : start + PIECE]
            if self.bucket is not None:
                self.bucket.take(len(piece))
            self.bytes_sent += len(piece)
            yield piece

    def send_chunk(
        self, upload_url: str, item: UploadItem, offset: int
    ) -> tuple[int, dict[str, Any] | None]:
        """One PATCH from ``offset``: (new offset, receipt if the upload completed)."""
        with open(item.path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(min(self.next_chunk, item.size - offset))
        resp = self._request(
            "PATCH",
            upload_url,
            "sending the document",
            content=self._pieces(data),
            headers={
                "Content-Type": TUS_CONTENT_TYPE,
                "Content-Length": str(len(data)),
                "Upload-Offset": str(offset),
                "Upload-Checksum": upload_checksum(data, "sha256"),
            },
        )
        st = resp.status_code
        if st == 204:
            new = int(resp.headers.get("Upload-Offset", offset + len(data)))
            header = resp.headers.get(RECEIPT_HEADER)
            if not header:
                return new, None
            try:
                return new, decode_receipt_header(header)
            except ValueError:
                return new, None  # unreadable header: the receipt endpoint answers again
        if st == 409:  # our idea of the offset is stale: ask
            now = self.status(upload_url)
            if now is None:
                raise _gone()
            return now[0], None
        if st in (404, 410):
            raise _gone()
        if st == 460:
            code, en, _vi = _hub_detail(resp)
            if code == E_HASH_MISMATCH:
                raise UplinkError(
                    "hash_mismatch",
                    "The hub received a file whose SHA-256 differs from the sealed "
                    "document's; sending it again from the start.",
                    "Tệp trung tâm nhận được không khớp mã băm; máy gửi lại từ đầu.",
                    restart=True,
                )
            return offset, None  # the chunk was damaged on the way: resend it
        raise hub_error(resp, "sending the document")

    def _resize(self, sent: int, seconds: float) -> None:
        """Size the next chunk to about CHUNK_SECONDS at the speed just measured."""
        if sent <= 0 or seconds <= 0:
            return
        want = int(sent / seconds * CHUNK_SECONDS) // 4096 * 4096
        # grow at most twofold per request: one quick answer is not a fast line yet
        self.next_chunk = max(MIN_CHUNK, min(self.chunk_size, want, 2 * self.next_chunk))

    def upload(self, item: UploadItem, on_progress: ProgressFn) -> dict[str, Any]:
        """Deliver ``item`` (resuming ``item.upload_url`` if set); return the hub's receipt.

        ``on_progress(upload_path, offset)`` runs after the upload exists and after each
        acknowledged chunk, so the caller can record where it stands. ``item.guard`` runs
        before every request.
        """
        self._guard = item.guard
        try:
            return self._upload(item, on_progress)
        finally:
            self._guard = None

    def _upload(self, item: UploadItem, on_progress: ProgressFn) -> dict[str, Any]:
        url = item.upload_url
        offset = 0
        if url:
            state = self.status(url)
            if state is None or state[1] != item.size:
                url = None  # expired on the hub, or not ours: start over
            else:
                offset = state[0]
                on_progress(url, offset)
        if url is None:
            created = self.create(item)
            if isinstance(created, dict):
                return created
            url = created
            on_progress(url, 0)
        refused = 0
        while offset < item.size:
            started = time.monotonic()
            try:
                new, receipt = self.send_chunk(url, item, offset)
            except UplinkError as exc:
                if exc.code in ("connection_lost", "hub_timeout"):
                    self.next_chunk = max(MIN_CHUNK, self.next_chunk // 2)
                raise
            self._resize(new - offset, time.monotonic() - started)
            refused = refused + 1 if new == offset else 0
            if refused >= MAX_CHUNK_RETRIES:
                raise UplinkError(
                    "chunk_refused",
                    f"The hub refused the same chunk {refused} times (checksum); "
                    "the link may be corrupting data.",
                    "Trung tâm nhiều lần từ chối một phần tệp (sai mã kiểm tra); "
                    "đường truyền có thể bị lỗi.",
                )
            offset = new
            on_progress(url, offset)
            if receipt is not None:
                return receipt
        return self.receipt(url)


def _gone() -> UplinkError:
    return UplinkError(
        "upload_gone",
        "The hub no longer has the partial upload; starting it again.",
        "Trung tâm không còn phần đã gửi dở; máy gửi lại từ đầu.",
        restart=True,
    )
