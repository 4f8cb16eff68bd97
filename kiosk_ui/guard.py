"""The UI's front door: loopback names only, same origin only, bodies no bigger than needed.

Why each check, since the UI already listens on loopback and its cookie is SameSite=Strict:
- **Host** (DNS rebinding): a page on ``attacker.example`` whose name re-resolves to
  127.0.0.1 talks to the kiosk as its own origin, so the browser sends the attacker's name
  in ``Host``. Only loopback names (and the configured host, when ``[ui] allow_remote``
  lets the UI leave loopback) are served; anything else gets 421.
- **Origin / Sec-Fetch-Site** (cross-site requests): a page anywhere can post a form or a
  bodiless POST at ``http://127.0.0.1:8080``; SameSite stops the cookie only for
  cross-*site* requests, and another port on loopback is the same site. A request carrying
  an Origin other than its own Host, or marked cross-site / same-site by the browser, is
  refused (403) whatever its method; clients that are not browsers send neither header.
- **Body size**: the JSON bodies of this API are a few hundred bytes; the login route used
  to buffer 300 MB before validating it. The limit is checked on Content-Length before
  anything is read, and counted while a chunked body streams, before the app sees it.

Every refusal here, and every 400/403/413/422 the app answers, leaves an audit record,
at most :data:`AUDIT_PER_MINUTE` a minute (the rest are counted in one summary record), so
a flood of bad calls cannot flood the audit chain.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.datastructures import Headers
from starlette.requests import cookie_parser

from firmware.config import is_loopback_host

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Bodies of JSON calls; the register's selection rules are the largest.
DEFAULT_BODY_LIMIT = 64 * 1024
BODY_LIMITS = {"/api/v1/register": 256 * 1024}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
AUDITED_STATUSES = {400, 403, 413, 421, 422}
AUDIT_PER_MINUTE = 30
LANG_COOKIE = "sohoa_lang"


def host_name(host: str) -> str:
    """The name part of a Host header (``[::1]:8080`` -> ``[::1]``, ``a:80`` -> ``a``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def body_limit(path: str) -> int:
    for prefix, limit in BODY_LIMITS.items():
        if path.startswith(prefix):
            return limit
    return DEFAULT_BODY_LIMIT


class RejectionLog:
    """Audit records of rejected calls, rate-limited: ``limit`` per ``window_s``, then one
    summary record per window with the number left out."""

    def __init__(
        self,
        write: Callable[..., Any],
        limit: int = AUDIT_PER_MINUTE,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write, self.limit, self.window_s, self.clock = write, limit, window_s, clock
        self._lock = threading.Lock()
        self._start = clock()
        self._count = 0
        self._dropped = 0

    def record(self, **details: Any) -> None:
        with self._lock:
            now = self.clock()
            dropped = 0
            if now - self._start >= self.window_s:
                dropped, self._dropped = self._dropped, 0
                self._start, self._count = now, 0
            self._count += 1
            keep = self._count <= self.limit
            if not keep:
                self._dropped += 1
        if dropped:
            self.write("unknown", "api.rejected_suppressed", count=dropped)
        if keep:
            self.write("unknown", "api.rejected", **details)


class FrontDoor:
    """Pure ASGI middleware (runs before routing and before any body is read)."""

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        *,
        extra_hosts: tuple[str, ...] = (),
        rejections: RejectionLog | None = None,
    ) -> None:
        self.app = app
        self.extra_hosts = {host_name(h) for h in extra_hosts if h}
        self.rejections = rejections

    def host_allowed(self, host: str) -> bool:
        name = host_name(host)
        return bool(name) and (is_loopback_host(name) or name in self.extra_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method = scope["method"].upper()
        host = headers.get("host", "")
        refusal = self._refusal(method, host, headers)
        if refusal is None and method in STATE_CHANGING | {"OPTIONS"}:
            limit = body_limit(scope["path"])
            declared = headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                refusal = self._too_large(limit)
            else:
                body, refusal = await self._read_body(receive, limit)
                if refusal is None:
                    receive = _replay(body, receive)
        if refusal is not None:
            status, code, en, vi = refusal
            await self._audit(scope, headers, status, code)
            await _send_json(send, status, code, vi if _lang(headers) == "vi" else en)
            return
        await self.app(scope, receive, self._watch(scope, headers, send))

    def _refusal(self, method: str, host: str, headers: Headers) -> tuple | None:
        if not self.host_allowed(host):
            return (
                421,
                "wrong_host",
                "This kiosk answers only at http://127.0.0.1 (its own screen); "
                f"the address {host_name(host)!r} is refused.",
                "Máy chỉ phục vụ màn hình của chính nó (http://127.0.0.1); "
                f"địa chỉ {host_name(host)!r} bị từ chối.",
            )
        origin = headers.get("origin")
        fetch_site = headers.get("sec-fetch-site", "")
        foreign = origin is not None and urlsplit(origin).netloc.lower() != host.strip().lower()
        cross = foreign or origin == "null" or fetch_site in ("cross-site", "same-site")
        if cross and (origin is not None or method in STATE_CHANGING):
            return (
                403,
                "cross_origin",
                "Requests from another web page are refused; use the kiosk's own screen.",
                "Yêu cầu từ trang web khác bị từ chối; hãy dùng màn hình của máy.",
            )
        return None

    @staticmethod
    def _too_large(limit: int) -> tuple:
        kb = limit // 1024
        return (
            413,
            "body_too_large",
            f"The request is too large (more than {kb} KB).",
            f"Dữ liệu gửi lên quá lớn (trên {kb} KB).",
        )

    async def _read_body(self, receive: Receive, limit: int) -> tuple[bytes, tuple | None]:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return b"", self._too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None

    async def _audit(self, scope: Scope, headers: Headers, status: int, code: str) -> None:
        rejections = self.rejections
        if rejections is None:
            return
        client = scope.get("client") or ("", 0)
        details = {
            "status": status,
            "code": code,
            "method": scope["method"],
            "path": scope["path"][:200],
            "host": headers.get("host", "")[:100],
            "origin": (headers.get("origin") or "")[:100],
            "client": client[0],
        }
        try:
            await anyio.to_thread.run_sync(lambda: rejections.record(**details))
        except Exception:  # the audit must never turn a refusal into a 500
            pass

    def _watch(self, scope: Scope, headers: Headers, send: Send) -> Send:
        """``send`` that audits the app's own 400/403/413/422 answers."""

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start" and (message["status"] in AUDITED_STATUSES):
                await self._audit(scope, headers, message["status"], "rejected_by_app")
            await send(message)

        return watched


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read by the front door, then the real channel (for disconnects)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _lang(headers: Headers) -> str:
    cookies = cookie_parser(headers.get("cookie", ""))
    return "en" if cookies.get(LANG_COOKIE) == "en" else "vi"


async def _send_json(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"code": code, "message": message}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
