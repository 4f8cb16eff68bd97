"""``sohoa hub``: set up and run the fleet hub, mint enrollment tokens, manage devices.

``sohoa hub init --dir D`` creates the hub directory (fleet CA, TLS and receipt certificates,
hub.toml); ``sohoa hub [run] --dir D`` serves it; ``sohoa hub token new --group G`` prints a
one-time enrollment token with its QR; ``sohoa hub device list|revoke|reinstate``; ``sohoa hub gc``
expires abandoned uploads at once (the running hub does it hourly); ``sohoa hub events``
shows the event log (enrollments, revocations, receipts, blocked enrollment attempts,
expired uploads). The hub package is
imported only when one of these commands runs, so the kiosk never loads it.
The directory may also come from ``SOHOA_HUB_DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from firmware.errors import KioskError
from sohoa_common.numbers import size


def _require_hub_extra() -> None:
    """The hub's libraries are an extra (a kiosk does not need them): say so plainly."""
    missing = [m for m in ("sqlalchemy", "boto3") if importlib.util.find_spec(m) is None]
    if missing:
        raise KioskError(
            "hub_not_installed",
            f"The hub needs {', '.join(missing)}: pip install 'sohoa[hub]'.",
            "Máy chủ cần cài thêm thư viện: pip install 'sohoa[hub]'.",
            status=500,
        )


def _hub_dir(args: argparse.Namespace) -> Path:
    _require_hub_extra()
    d = getattr(args, "dir", None) or os.environ.get("SOHOA_HUB_DIR")
    if not d:
        raise KioskError(
            "hub_dir_missing",
            "Say which hub directory: --dir DIR (or SOHOA_HUB_DIR).",
            "Hãy cho biết thư mục của máy chủ: --dir DIR (hoặc biến SOHOA_HUB_DIR).",
            status=400,
        )
    return Path(d)


def _settings(args: argparse.Namespace, **overrides: Any) -> Any:
    from provisioning.hub.config import HubConfigError, load_hub_settings

    try:
        return load_hub_settings(_hub_dir(args), **overrides)
    except HubConfigError as exc:
        raise KioskError(
            "hub_config", str(exc), f"Cấu hình máy chủ không đọc được: {exc}", status=400
        ) from None


def cmd_init(args: argparse.Namespace) -> int:
    from provisioning.hub.bootstrap import AlreadyInitialized, init_hub

    hub_dir = _hub_dir(args)
    try:
        result = init_hub(
            hub_dir,
            name=args.name,
            sans=args.san or [],
            host=args.host or "127.0.0.1",
            port=args.port or 8443,
            public_url=args.public_url or "",
        )
    except AlreadyInitialized:
        raise KioskError(
            "hub_exists",
            f"{hub_dir} already holds a hub; its CA is kept (enrolled kiosks depend on it).",
            f"Thư mục {hub_dir} đã có máy chủ; giữ nguyên CA vì các máy đã đăng ký phụ thuộc vào nó.",
            status=409,
        ) from None
    s = result.settings
    print(f"Đã tạo máy chủ / hub created: {s.dir}")
    print(f"  CA (SHA-256): {result.ca_sha256}")
    print(f"  URL: {s.url}")
    print(f"  cấu hình / config: {s.dir / 'hub.toml'}")
    print(f"Tiếp theo / next: sohoa hub run --dir {s.dir}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from provisioning.hub.server import serve

    overrides: dict[str, Any] = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    serve(_settings(args, **overrides))
    return 0


def cmd_token_new(args: argparse.Namespace) -> int:
    import segno

    from provisioning import schemas
    from provisioning.hub.groups import GroupNameError
    from provisioning.hub.pki import load_cert
    from provisioning.hub.tokens import mint_token

    s = _settings(args)
    hub_url = args.hub_url or s.url
    with _open_db(s) as db:
        try:
            tok = mint_token(
                db.tokens,
                args.group,
                args.days or s.certs.token_days,
                hub_url,
                schemas.cert_sha256(load_cert(s.ca_cert_path)),
                by="cli",
            )
        except GroupNameError:  # the rule's own words, not the generic "bad argument"
            raise
        except ValueError as exc:
            raise KioskError(
                "token_args", str(exc), f"Tham số không hợp lệ: {exc}", status=400
            ) from None
    qr = segno.make(tok.uri, error="m")
    if args.png:
        png = Path(args.png)
        qr.save(str(png), scale=8, border=4)
    if args.json:
        print(
            json.dumps(
                {
                    "token": tok.token,
                    "uri": tok.uri,
                    "group": tok.group,
                    "expires_at": tok.expires_at.isoformat(),
                    "png": str(args.png) if args.png else None,
                }
            )
        )
        return 0
    print(f"Mã đăng ký / token: {tok.token}")
    print(f"Nhóm / group: {tok.group}   hết hạn / expires: {tok.expires_at:%Y-%m-%d %H:%M} UTC")
    print(f"URI: {tok.uri}")
    if args.png:
        print(f"QR (PNG): {args.png}")
    qr.terminal(out=sys.stdout, compact=True)
    return 0


def cmd_device(args: argparse.Namespace) -> int:
    """List devices, revoke one, or reinstate a revoked id for one new enrollment."""
    from provisioning.hub.devices_db import NotRevoked, UnknownDevice

    settings = _settings(args)
    with _open_db(settings) as db:
        if args.action in ("revoke", "reinstate"):
            if not args.id:
                raise KioskError(
                    "device_id_missing",
                    f"Which device? sohoa hub device {args.action} ID",
                    f"Máy nào? sohoa hub device {args.action} MÃ_MÁY",
                    status=400,
                )
            try:
                if args.action == "revoke":
                    db.devices.revoke(args.id, args.reason or "")
                else:
                    db.devices.reinstate(args.id, args.reason or "", by=_operator())
            except UnknownDevice:
                raise KioskError(
                    "device_unknown",
                    f"No enrolled device {args.id!r}.",
                    f"Không có máy nào mang mã {args.id!r}.",
                    status=404,
                ) from None
            except NotRevoked:
                raise KioskError(
                    "device_not_revoked",
                    f"{args.id!r} is not revoked; only a revoked id can be reinstated.",
                    f"Máy {args.id!r} chưa bị thu hồi nên không cần khôi phục.",
                    status=409,
                ) from None
            if args.action == "revoke":
                print(f"Đã thu hồi / revoked: {args.id}")
            else:
                print(
                    f"Đã cho phép đăng ký lại / reinstated: {args.id} (một lần, với mã đăng ký "
                    "mới; dữ liệu cũ không chuyển sang / once, with a new token; nothing of "
                    "the old enrollment carries over)"
                )
            return 0
        rows = _fleet(settings, db).devices()
    if _print_json_or_empty(rows, args.json, "Chưa có máy nào đăng ký / no devices enrolled"):
        return 0
    print(
        f"{'kiosk':<20} {'group':<16} {'status':<10} {'state':<8} {'last heartbeat':<17} "
        f"{'app':<8} {'cfg':>4} {'queue':>5} {'disk free':>10} {'live':>4} cert until"
    )
    for r in rows:
        ver, queue, disk = r["versions"] or {}, r["upload_queue"] or {}, r["disk"] or {}
        free = size(disk["free"], "GB", "en") if disk.get("free") is not None else "-"
        print(
            f"{r['kiosk_id']:<20} {r['group']:<16} {r['status']:<10} {r['state']:<8} "
            f"{_when(r['last_heartbeat_at'])} {ver.get('app') or '-':<8} "
            f"{ver.get('cfg') if ver.get('cfg') is not None else '-':>4} "
            f"{queue.get('wait', '-'):>5} {free:>10} {r.get('live_certs') or 0:>4} "
            f"{_when(r['cert_not_after'])}"
        )
    return 0


def _fleet(settings: Any, db: Any) -> Any:
    """The fleet view over an open hub database (no object store: listing needs none)."""
    from provisioning.hub.fleet import FleetService

    return FleetService(settings.fleet, db)


def cmd_gc(args: argparse.Namespace) -> int:
    """Expire unfinished uploads idle for ``[uploads] expire_after_hours`` now and say which.

    Safe beside a running hub: the hub and this command decide in the database which of a
    resumed PATCH and the expiry wins, so a live upload is never cut.
    """
    from provisioning.hub.expiry import expire_idle_uploads
    from provisioning.hub.spool import Spool

    s = _settings(args)
    with _open_db(s) as db:
        expired = expire_idle_uploads(
            db.uploads, Spool(s.spool_dir), s.uploads.expire_after, by="cli"
        )
    if args.json:
        print(json.dumps([e.as_json() for e in expired], ensure_ascii=False, indent=2))
        return 0
    hours = f"{s.uploads.expire_after_hours:g} h"
    if not expired:
        print(f"Không có lượt gửi dở nào quá hạn / no unfinished upload idle for over {hours}")
        return 0
    print(f"{'upload':<34} {'kiosk':<20} {'received':>21} {'idle since':<17} document")
    for e in expired:
        got = f"{e.offset}/{e.length}"
        print(f"{e.id:<34} {e.kiosk_id:<20} {got:>21} {_when(e.idle_since)} {e.document_id}")
    freed = sum(e.length for e in expired)
    print(
        f"Đã hủy {len(expired)} lượt gửi dở quá {hours} / expired {len(expired)} unfinished "
        f"uploads idle for over {hours}; quota freed: {freed} bytes"
    )
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """The newest entries of the hub's event log, for IT: who enrolled, what was revoked,
    which addresses were blocked from enrolling, which uploads expired."""
    with _open_db(_settings(args)) as db:
        rows = db.events.events(args.kind, kiosk_id=args.kiosk, last=args.last)
    if _print_json_or_empty(rows, args.json, "Chưa có sự kiện nào / no events"):
        return 0
    print(f"{'time':<16} {'event':<18} {'kiosk':<20} detail")
    for r in rows:
        detail = " ".join(f"{k}={v}" for k, v in sorted(r["detail"].items()))
        print(f"{_when(r['at'])} {r['kind']:<18} {r['kiosk_id'] or '-':<20} {detail}")
    return 0


@contextlib.contextmanager
def _open_db(settings: Any) -> Iterator[Any]:
    """The hub's database for one command (schema brought up to date, closed after)."""
    from provisioning.hub.hub_db import HubDB

    db = HubDB(settings.database_url)
    try:
        db.create_schema()
        yield db
    finally:
        db.close()


def _print_json_or_empty(rows: list[Any], as_json: bool, empty: str) -> bool:
    """Print ``rows`` as JSON, or ``empty`` when there are none; True if that said it all."""
    if as_json:
        print(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
        return True
    if not rows:
        print(empty)
        return True
    return False


def _operator() -> str:
    """Who ran the command, for the event log (the login name; sudo's caller if any)."""
    import getpass

    return os.environ.get("SUDO_USER") or getpass.getuser()


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else "-".ljust(16)


def register(sub: Any) -> None:
    """Add ``hub`` and its sub-commands to the ``sohoa`` parser."""
    hub = sub.add_parser("hub", help="fleet hub: init, run, enrollment tokens, devices, gc, events")
    hub.add_argument("--dir", help="hub directory (or SOHOA_HUB_DIR)")
    hub.add_argument("--host", help="run: listen address")
    hub.add_argument("--port", type=int, help="run: HTTPS port")
    hub.set_defaults(func=cmd_run)
    hs = hub.add_subparsers(dest="hub_command")

    def sub_parser(name: str, help_: str) -> argparse.ArgumentParser:
        p = hs.add_parser(name, help=help_)
        p.add_argument("--dir", default=argparse.SUPPRESS, help="hub directory")
        return p

    i = sub_parser("init", "create a hub directory: fleet CA, certificates, hub.toml")
    i.add_argument("--name", default="sohoa-hub", help="hub id (written into receipts)")
    i.add_argument(
        "--san",
        action="append",
        help="extra name or IP kiosks reach the hub by (repeatable; localhost and "
        "127.0.0.1 are always included)",
    )
    i.add_argument("--host", default=argparse.SUPPRESS, help="listen address for hub.toml")
    i.add_argument("--port", type=int, default=argparse.SUPPRESS, help="port for hub.toml")
    i.add_argument("--public-url", help="URL kiosks use (default https://host:port)")
    i.set_defaults(func=cmd_init)

    r = sub_parser("run", "serve the hub (HTTPS with client certificates)")
    r.add_argument("--host", default=argparse.SUPPRESS, help="listen address")
    r.add_argument("--port", type=int, default=argparse.SUPPRESS, help="HTTPS port")
    r.set_defaults(func=cmd_run)

    t = sub_parser("token", "enrollment tokens")
    t.add_argument("action", choices=["new"])
    t.add_argument("--group", required=True, help="device group the kiosk will join")
    t.add_argument("--hub-url", help="https URL written into the QR (default from hub.toml)")
    t.add_argument("--days", type=float, help="validity (default [certs] token_days)")
    t.add_argument("--png", help="also write the QR as a PNG file")
    t.add_argument("--json", action="store_true", help="print JSON instead of text and QR")
    t.set_defaults(func=cmd_token_new)

    d = sub_parser("device", "enrolled devices")
    d.add_argument(
        "action",
        choices=["list", "revoke", "reinstate"],
        help="reinstate: allow one new enrollment of a revoked kiosk id (audited)",
    )
    d.add_argument("id", nargs="?", help="revoke/reinstate: kiosk id")
    d.add_argument("--reason", help="revoke/reinstate: why (kept in the hub's event log)")
    d.add_argument("--json", action="store_true", help="list: JSON")
    d.set_defaults(func=cmd_device)

    g = sub_parser(
        "gc", "expire unfinished uploads idle for [uploads] expire_after_hours, print them"
    )
    g.add_argument("--json", action="store_true", help="print the expired uploads as JSON")
    g.set_defaults(func=cmd_gc)

    e = sub_parser("events", "the hub's event log, newest last")
    e.add_argument("--kind", help="only this kind, e.g. enroll_blocked, upload_expired, revoked")
    e.add_argument("--kiosk", help="only events of this kiosk id")
    e.add_argument("--last", type=int, default=50, help="how many of the newest (default 50)")
    e.add_argument("--json", action="store_true", help="JSON")
    e.set_defaults(func=cmd_events)

    from provisioning.hub import rollout_cli

    rollout_cli.register(sub_parser, _settings, _open_db)
