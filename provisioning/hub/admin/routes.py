"""The admin pages: fleet table, one kiosk, enrollment tokens with QR, configuration with diff
and publish, the event log, sign-in. Thin: each handler reads the session, calls the fleet
services (the same ones the CLI uses) and renders a template.

Roles: viewer sees everything; operator also sends commands and creates enrollment tokens;
administrator also publishes configuration and revokes kiosks. Every form carries the
session's CSRF token; the session cookie is Secure, HttpOnly, SameSite=Strict.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from provisioning import schemas
from provisioning.fleet_schemas import COMMAND_KINDS, FLEET_KEYS
from provisioning.hub.admin.accounts import AccountError, Accounts, Session
from provisioning.hub.admin.views import render
from provisioning.hub.refusals import Refusal

log = logging.getLogger("sohoa.hub.admin")

COOKIE = "sohoa_admin"
PREFIX = "/admin"
NUMBER_KEYS = {"bandwidth_kbit", "idle_timeout_s", "idle_warning_s", "heartbeat_s"}
JSON_KEYS = {"allowed_sticks", "recipients_pem"}

router = APIRouter(prefix=PREFIX)


def accounts(request: Request) -> Accounts:
    acc = getattr(request.app.state, "admin_accounts", None)
    if acc is None:
        acc = request.app.state.admin_accounts = Accounts(request.app.state.hub.db.engine)
    return acc


class NeedSignIn(Exception):
    pass


async def current(request: Request, role: str = "viewer") -> Session:
    session = await run_in_threadpool(accounts(request).session, request.cookies.get(COOKIE))
    if session is None:
        raise NeedSignIn()
    if not session.may(role):
        raise PermissionError(role)
    return session


async def form_of(request: Request, session: Session) -> dict[str, str]:
    form = await request.form()
    if form.get("csrf") != session.csrf:  # a form from an earlier sign-in or another tab
        raise Refusal(
            "stale_form",
            "This form is out of date (signed in again, or another tab); "
            "reload the page and try again.",
            "Biểu mẫu đã cũ (đăng nhập lại hoặc mở ở thẻ khác); hãy tải lại trang rồi làm lại.",
            status=403,
        )
    return {k: str(v) for k, v in form.items()}


def guard(handler: Any) -> Any:
    """Sign-in redirect and a plain 403 page instead of tracebacks."""
    import functools

    @functools.wraps(handler)
    async def wrapped(request: Request, *a: Any, **kw: Any) -> Response:
        try:
            return await handler(request, *a, **kw)
        except NeedSignIn:
            target = f"{PREFIX}/login"
            if request.method == "GET" and request.url.path != f"{PREFIX}/":
                page = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                target += "?" + urlencode({"next": page})  # back there once signed in
            return RedirectResponse(target, status_code=303)
        except PermissionError:
            return render(
                "error.html",
                None,
                status=403,
                message_vi="Tài khoản của bạn không có quyền làm việc này.",
                message_en="Your account may not do this.",
            )
        except Refusal as exc:  # a service said no (unknown command, kiosk, ...): say why
            log.warning("admin request refused: %s: %s", exc.code, exc.message_en)
            return render(
                "error.html",
                None,
                status=exc.status,
                message_vi=exc.message_vi,
                message_en=exc.message_en,
            )

    return wrapped


# --- sign-in ---------------------------------------------------------------------------------
def safe_next(value: Any) -> str:
    """Where to go after signing in: a page of this admin site only (a link someone sends
    must not turn the sign-in into a redirect to another site)."""
    text = str(value or "")
    if text.startswith(f"{PREFIX}/") and "//" not in text and "\\" not in text:
        return text
    return f"{PREFIX}/"


@router.get("/login")
async def login_page(request: Request) -> Response:
    return render("login.html", None, error=None, next=safe_next(request.query_params.get("next")))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    try:
        token = await run_in_threadpool(
            accounts(request).sign_in, str(form.get("username", "")), str(form.get("password", ""))
        )
    except AccountError as exc:
        await run_in_threadpool(
            request.app.state.hub.db.events.event,
            "admin_sign_in_failed",
            None,
            username=str(form.get("username", ""))[:64],
            code=exc.code,
        )
        return render("login.html", None, error=exc, next=safe_next(form.get("next")))
    resp = RedirectResponse(safe_next(form.get("next")), status_code=303)
    resp.set_cookie(COOKIE, token, httponly=True, secure=True, samesite="strict", path=PREFIX)
    return resp


@router.post("/logout")
@guard
async def logout(request: Request) -> Response:
    session = await current(request)
    await form_of(request, session)
    await run_in_threadpool(accounts(request).sign_out, request.cookies.get(COOKIE, ""))
    resp = RedirectResponse(f"{PREFIX}/login", status_code=303)
    resp.delete_cookie(COOKIE, path=PREFIX)
    return resp


# --- fleet table ---------------------------------------------------------------------------
@router.get("/")
@guard
async def fleet_page(request: Request) -> Response:
    session = await current(request)
    rows = await run_in_threadpool(request.app.state.fleet.devices)
    q = request.query_params
    state, group, search = q.get("state", ""), q.get("group", ""), q.get("q", "").strip().lower()
    groups = sorted({r["group"] for r in rows})
    per_group: dict[str, Counter[str]] = {}
    for r in rows:
        per_group.setdefault(r["group"], Counter())[r["state"]] += 1
    shown = [
        r
        for r in rows
        if (not state or r["state"] == state)
        and (not group or r["group"] == group)
        and (not search or search in r["kiosk_id"].lower() or search in r["group"].lower())
    ]
    totals = Counter(r["state"] for r in rows)
    return render(
        "fleet.html",
        session,
        rows=shown,
        total=len(rows),
        totals=totals,
        groups=groups,
        per_group=per_group,
        state=state,
        group=group,
        q=q.get("q", ""),
    )


# --- one kiosk -----------------------------------------------------------------------------
@router.get("/kiosks/{kiosk_id}")
@guard
async def kiosk_page(request: Request, kiosk_id: str) -> Response:
    session = await current(request)
    fleet = request.app.state.fleet
    rows = await run_in_threadpool(fleet.devices)
    row = next((r for r in rows if r["kiosk_id"] == kiosk_id), None)
    if row is None:
        return render(
            "error.html",
            session,
            status=404,
            message_vi="Không có máy này.",
            message_en="No such kiosk.",
        )
    events = await run_in_threadpool(
        request.app.state.hub.db.events.events, None, kiosk_id=kiosk_id, last=100
    )
    commands = await run_in_threadpool(fleet.commands.list, kiosk_id, 20)
    history = await run_in_threadpool(fleet.db.history, kiosk_id, 24)
    return render(
        "kiosk.html",
        session,
        k=row,
        events=list(reversed(events)),
        commands=commands,
        history=history,
        kinds=sorted(COMMAND_KINDS),
        sent=request.query_params.get("sent"),
    )


@router.post("/kiosks/{kiosk_id}/command")
@guard
async def send_command(request: Request, kiosk_id: str) -> Response:
    session = await current(request, "operator")
    form = await form_of(request, session)
    kind = form.get("kind", "")
    row = await run_in_threadpool(
        lambda: request.app.state.fleet.commands.create(
            kiosk_id, kind, by=f"admin:{session.username}", expires_in=timedelta(hours=24)
        )
    )
    return RedirectResponse(f"{PREFIX}/kiosks/{kiosk_id}?sent={row['id']}", status_code=303)


def _no_bundle(session: Session) -> HTMLResponse:
    return render(
        "error.html",
        session,
        status=404,
        message_vi="Không có gói nhật ký này (máy, lệnh không đúng hoặc lệnh chưa gửi nhật ký về).",
        message_en="No such log bundle (unknown kiosk or command, or the command sent none).",
    )


def _bundle_key(hub: Any, command: dict[str, Any]) -> str | None:
    """The object key of a finished collect_logs command's bundle, or None. The key the
    kiosk reported must be the one the hub itself recorded for those bytes (its objects
    table), and it is read from there: nothing the browser sends, and nothing a kiosk
    reports unchecked, becomes a storage key."""
    if command.get("kind") != "collect_logs" or command.get("state") != "done":
        return None
    output = (command.get("result") or {}).get("output") or {}
    sha, reported = output.get("sha256"), output.get("stored_as")
    if not isinstance(sha, str) or not isinstance(reported, str) or not reported:
        return None
    if not schemas.is_sha256_hex(sha):
        return None
    obj = hub.db.receipts.object(sha)
    if obj is None or obj.get("stored_as") != reported:
        return None
    key = str(obj["stored_as"])
    return key if hub.store.has(key) else None


@router.get("/kiosks/{kiosk_id}/commands/{command_id}/bundle")
@guard
async def command_bundle(request: Request, kiosk_id: str, command_id: str) -> Response:
    """A collect_logs command's bundle as a download (operators and administrators)."""
    session = await current(request, "operator")
    hub = request.app.state.hub
    command = await run_in_threadpool(request.app.state.fleet.commands.get, command_id)
    if command is None or command.get("kiosk_id") != kiosk_id:
        return _no_bundle(session)
    key = await run_in_threadpool(_bundle_key, hub, command)
    if key is None:
        return _no_bundle(session)
    data = await run_in_threadpool(hub.store.read, key)
    # a kiosk's logs leave the hub: who took them is in the event log
    await run_in_threadpool(
        hub.db.events.event,
        "log_bundle_downloaded",
        kiosk_id,
        command=command_id,
        by=session.username,
        bytes=len(data),
    )
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{kiosk_id}-{command_id}")
    return Response(
        data,
        media_type="application/gzip",
        headers={
            "Content-Disposition": f'attachment; filename="logs-{safe}.tar.gz"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/kiosks/{kiosk_id}/revoke")
@guard
async def revoke(request: Request, kiosk_id: str) -> Response:
    session = await current(request, "administrator")
    form = await form_of(request, session)
    await run_in_threadpool(
        request.app.state.hub.db.devices.revoke,
        kiosk_id,
        f"{session.username}: {form.get('reason', '')}",
    )
    return RedirectResponse(f"{PREFIX}/kiosks/{kiosk_id}", status_code=303)


# --- enrollment tokens ---------------------------------------------------------------------
async def _tokens_context(request: Request) -> dict[str, Any]:
    """Beside the form: the tokens still open (withdrawable) and the groups there are, so
    a new token's group is picked, not retyped with a typo that makes a new district."""
    rows = await run_in_threadpool(request.app.state.fleet.devices)
    return {
        "open_tokens": await run_in_threadpool(request.app.state.hub.db.tokens.open_tokens),
        "groups": await _known_groups(request, rows),
    }


async def _known_groups(request: Request, devices: list[dict[str, Any]]) -> list[str]:
    """The groups kiosks are in, and those the signed configuration has (once it exists)."""
    repo = request.app.state.config_repo
    known = await run_in_threadpool(repo.groups) if await run_in_threadpool(repo.exists) else []
    return sorted({d["group"] for d in devices} | set(known))


@router.get("/tokens")
@guard
async def tokens_page(request: Request) -> Response:
    session = await current(request)
    return render(
        "tokens.html",
        session,
        token=None,
        withdrawn=request.query_params.get("withdrawn"),
        **await _tokens_context(request),
    )


@router.post("/tokens")
@guard
async def new_token(request: Request) -> Response:
    import segno

    from provisioning.hub.tokens import mint_token

    session = await current(request, "operator")
    form = await form_of(request, session)
    hub = request.app.state.hub
    group = form.get("group", "").strip()  # a bad one is refused with the rule (guard)
    tok = await run_in_threadpool(
        mint_token,
        hub.db.tokens,
        group,
        hub.settings.certs.token_days,
        hub.settings.url,
        schemas.cert_sha256(hub.ca_cert),
        f"admin:{session.username}",
    )
    svg = segno.make(tok.uri, error="m").svg_inline(scale=5)
    return render(
        "tokens.html",
        session,
        token=tok,
        qr_svg=svg,
        withdrawn=None,
        **await _tokens_context(request),
    )


@router.post("/tokens/withdraw")
@guard
async def withdraw_token(request: Request) -> Response:
    session = await current(request, "operator")
    form = await form_of(request, session)
    done = await run_in_threadpool(
        request.app.state.hub.db.tokens.withdraw_token,
        form.get("token_hash", ""),
        f"admin:{session.username}",
    )
    if not done:
        return render(
            "error.html",
            session,
            status=404,
            message_vi="Mã này không còn hiệu lực (đã dùng, đã hết hạn hoặc đã thu hồi).",
            message_en="This token is no longer open (used, expired or withdrawn).",
        )
    return RedirectResponse(f"{PREFIX}/tokens?withdrawn=1", status_code=303)


# --- configuration -------------------------------------------------------------------------
def _publisher(request: Request) -> Any:
    from provisioning.hub.config_publisher import ConfigPublisher

    return ConfigPublisher(request.app.state.config_repo, request.app.state.hub.db)


def _values_from_form(form: dict[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for section, keys in FLEET_KEYS.items():
        for key in sorted(keys):
            name = f"{section}.{key}"
            if name not in form:
                continue
            raw = form[name].strip()
            value: Any = None
            if raw:
                if key in NUMBER_KEYS:
                    try:
                        value = float(raw.replace(",", "."))
                    except ValueError:
                        raise ValueError(
                            f"{name}: cần một số, ví dụ 600 (đang là {raw!r}). "
                            f"/ {name} must be a number, e.g. 600."
                        ) from None
                    value = int(value) if value.is_integer() else value
                elif key in JSON_KEYS:
                    try:
                        value = json.loads(raw)
                    except json.JSONDecodeError as exc:
                        raise ValueError(
                            f"{name}: không phải JSON hợp lệ ({exc.msg}, dòng {exc.lineno}). "
                            f"/ {name} is not valid JSON."
                        ) from None
                else:
                    value = raw
            out.setdefault(section, {})[key] = value
    return out


async def _versions_and_groups(request: Request) -> dict[str, Any]:
    """What the configuration page shows beside the form, whether it is first shown or
    answers a preview: how many kiosks run each version, and the groups to choose from."""
    rows = await run_in_threadpool(request.app.state.fleet.devices)
    running = Counter(str((r["versions"] or {}).get("cfg", "—")) for r in rows)
    return {"running": sorted(running.items()), "groups": await _known_groups(request, rows)}


@router.get("/config")
@guard
async def config_page(request: Request) -> Response:
    session = await current(request)
    scope = request.query_params.get("scope", "fleet")
    repo = request.app.state.config_repo
    if not await run_in_threadpool(repo.exists):
        return render("config.html", session, ready=False, scope=scope)
    doc = await run_in_threadpool(_publisher(request).document, scope)
    return render(
        "config.html",
        session,
        ready=True,
        scope=scope,
        doc=doc,
        keys=FLEET_KEYS,
        **await _versions_and_groups(request),
        plan=None,
        error=None,
        json_keys=JSON_KEYS,
        published=request.query_params.get("published"),
    )


@router.post("/config")
@guard
async def config_post(request: Request) -> Response:
    from provisioning.hub.config_publisher import PublishError

    session = await current(request, "administrator")
    form = await form_of(request, session)
    scope = form.get("scope", "fleet")
    publisher = _publisher(request)
    try:
        values = _values_from_form(form)
        if form.get("action") == "publish":
            pub = await run_in_threadpool(
                lambda: publisher.publish(scope, values, by=f"admin:{session.username}")
            )
            return RedirectResponse(
                f"{PREFIX}/config?scope={scope}&published={pub.version}", status_code=303
            )
        plan = await run_in_threadpool(publisher.preview, scope, values)
        error = None
    except (PublishError, ValueError) as exc:
        plan, error = None, str(exc)
    doc = await run_in_threadpool(publisher.document, scope)
    return render(
        "config.html",
        session,
        ready=True,
        scope=scope,
        doc=doc,
        keys=FLEET_KEYS,
        **await _versions_and_groups(request),
        plan=plan,
        error=error,
        form=form,
        json_keys=JSON_KEYS,
        published=None,
    )


# --- event log -----------------------------------------------------------------------------
@router.get("/events")
@guard
async def events_page(request: Request) -> Response:
    session = await current(request)
    kind = request.query_params.get("kind") or None
    events = await run_in_threadpool(request.app.state.hub.db.events.events, kind, last=300)
    return render("events.html", session, events=list(reversed(events)), kind=kind or "")
