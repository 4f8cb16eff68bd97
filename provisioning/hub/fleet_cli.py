"""``sohoa fleet``: the offline key ceremony and publishing signed configuration.

- ``sohoa fleet keys init --keys DIR --dir HUB [--root-keys 3 --threshold 2]``: offline root
  and targets keys into DIR (keep it offline), online keys and the first metadata into the
  hub's repository.
- ``sohoa fleet keys rotate --keys DIR --dir HUB --role root|targets|timestamp|snapshot``.
- ``sohoa fleet config publish --dir HUB (--fleet | --group G | --kiosk K) [--file F.json]
  [--set section.key=value ...]``: sign a new version of that document.
- ``sohoa fleet config show --dir HUB [--group G | --kiosk K]``.
- ``sohoa fleet admin add USER [--reset] | list | unlock USER --dir HUB``: the admin page's
  accounts (``--reset`` to change an existing one; ``unlock`` after wrong passwords).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from firmware.errors import KioskError
from provisioning.fleet_schemas import COMMAND_KINDS
from provisioning.hub.admin import ROLES


def _hub(args: argparse.Namespace) -> Any:
    from provisioning.hub.config import load_hub_settings

    hub_dir = args.dir or __import__("os").environ.get("SOHOA_HUB_DIR")
    if not hub_dir:
        raise KioskError(
            "hub_dir_missing", "Which hub? --dir HUB_DIR", "Máy chủ nào? --dir THƯ_MỤC_MÁY_CHỦ"
        )
    return load_hub_settings(Path(hub_dir))


def _repo_error(exc: Exception) -> KioskError:
    return KioskError(
        "fleet_repo", f"Signed configuration: {exc}", f"Cấu hình được ký: {exc}", status=400
    )


def cmd_keys(args: argparse.Namespace) -> int:
    from provisioning.hub.config_publisher import repository_for
    from provisioning.hub.fleet_keys import init_keys, rotate
    from provisioning.hub.tuf_repo import RepoError

    repo = repository_for(_hub(args))
    keys = Path(args.keys)
    try:
        if args.action == "init":
            root = init_keys(keys, repo, root_keys=args.root_keys, threshold=args.threshold)
            print(
                f"Đã tạo khóa gốc / root keys: {len(root.signed.roles['root'].keyids)} "
                f"(cần {root.signed.roles['root'].threshold} chữ ký / threshold) in {keys}\n"
                "Hãy cất thư mục này ngoại tuyến / keep this directory offline."
            )
        else:
            version = rotate(keys, repo, args.role)
            print(f"Đã thay khóa {args.role} / rotated {args.role}: root v{version}")
    except RepoError as exc:
        raise _repo_error(exc) from None
    return 0


def _parse_set(items: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        section, dot, key = name.partition(".")
        if not sep or not dot:
            raise KioskError(
                "bad_setting",
                f"--set wants section.key=value, got {item!r}",
                f"--set cần dạng mục.khóa=giá_trị, nhận được {item!r}",
                status=400,
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(section, {})[key] = value
    return out


def cmd_config(args: argparse.Namespace) -> int:
    from provisioning.hub.config_publisher import ConfigPublisher, PublishError, scope_of

    settings = _hub(args)
    publisher = ConfigPublisher.open(settings)
    try:
        scope = scope_of(args.fleet, args.group, args.kiosk)
        if args.action == "show":
            print(json.dumps(publisher.document(scope), ensure_ascii=False, indent=2))
            return 0
        values: dict[str, Any] = {}
        if args.file:
            values = json.loads(Path(args.file).read_text(encoding="utf-8"))
        for section, kv in _parse_set(args.set or []).items():
            values.setdefault(section, {}).update(kv)
        pub = publisher.publish(scope, values, by="cli", replace=bool(args.file))
    except PublishError as exc:
        raise _repo_error(exc) from None
    finally:
        publisher.close()
    print(f"Đã ký và công bố / published {scope}: version {pub.version}")
    return 0


def cmd_command(args: argparse.Namespace) -> int:
    """Queue a remote command for a kiosk (it runs at the kiosk's next heartbeat), or list."""
    from datetime import timedelta

    from provisioning.hub.commands import CommandService
    from provisioning.hub.hub_db import HubDB

    settings = _hub(args)
    db = HubDB(settings.database_url)
    try:
        db.create_schema()
        service = CommandService(db)
        if args.action == "list":
            rows = service.list(args.kiosk)
            print(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
            return 0
        if not args.kiosk or not args.kind:
            raise KioskError(
                "command_incomplete",
                "send needs --kiosk and --kind",
                "Cần --kiosk và --kind",
                status=400,
            )
        row = service.create(  # a CommandError is printed as every CLI error is
            args.kiosk,
            args.kind,
            by=args.by,
            expires_in=timedelta(minutes=args.expires_min),
        )
    finally:
        db.close()
    print(f"Đã xếp lệnh / queued {row['kind']} for {row['kiosk_id']}: id {row['id']}")
    return 0


def cmd_admin(args: argparse.Namespace) -> int:
    """Accounts of the hub's admin page (viewer, operator, administrator).

    ``add`` creates an account and refuses an existing one unless ``--reset`` (it used to
    overwrite it silently); ``unlock`` clears a lock wrong passwords left, which anyone who
    knows a user name can cause. Both are recorded in the hub's event log, like ``add``.
    """
    import getpass

    from provisioning.hub.admin.accounts import (
        AccountError,
        Accounts,
        account_exists,
        unknown_user,
    )
    from provisioning.hub.hub_db import HubDB

    def refused(exc: AccountError) -> KioskError:
        status = 404 if exc.code == "unknown_user" else 400
        return KioskError(exc.code, exc.en, exc.vi, status=status)

    settings = _hub(args)
    db = HubDB(settings.database_url)
    try:
        db.create_schema()
        acc = Accounts(db.engine)
        if args.action == "list":
            print(json.dumps(acc.list(), default=str, ensure_ascii=False, indent=2))
            return 0
        if not args.username:
            raise KioskError("username_missing", "Which user?", "Tài khoản nào?", status=400)
        if args.action == "unlock":
            try:
                was_locked = acc.unlock(args.username)
            except AccountError as exc:
                raise refused(exc) from None
            db.events.event("admin_unlock", None, username=args.username, was_locked=was_locked)
            note = "" if was_locked else " (không bị khóa / was not locked)"
            print(f"Đã mở khóa tài khoản / unlocked account {args.username}{note}")
            return 0
        # before asking for a password: refuse now what add() would refuse after the prompt
        exists = acc.exists(args.username)
        if exists and not args.reset:
            raise refused(account_exists(args.username))
        if args.reset and not exists:
            raise refused(unknown_user(args.username))
        if args.password_file:
            password = Path(args.password_file).read_text(encoding="utf-8").strip()
        else:
            password = getpass.getpass("Mật khẩu / password: ")
        try:
            if args.reset:
                acc.add(args.username, args.name, args.role, password, reset=True)
            else:
                acc.add(args.username, args.name or args.username, args.role or ROLES[0], password)
        except AccountError as exc:
            raise refused(exc) from None
        role = next(a["role"] for a in acc.list() if a["username"] == args.username)
        if args.reset:
            db.events.event("admin_account", None, username=args.username, role=role, reset=True)
        else:
            db.events.event("admin_account", None, username=args.username, role=role)
    finally:
        db.close()
    if args.reset:
        print(
            f"Đã đặt lại mật khẩu và mở khóa tài khoản / reset the password and cleared the "
            f"lock of {args.username} ({role})"
        )
    else:
        print(f"Đã lưu tài khoản / saved account {args.username} ({role})")
    return 0


def register(sub: Any) -> None:
    f = sub.add_parser("fleet", help="signed fleet configuration: keys, publish")
    fs = f.add_subparsers(dest="fleet_command", required=True)
    k = fs.add_parser("keys", help="offline root keys: init, rotate")
    k.add_argument("action", choices=["init", "rotate"])
    k.add_argument("--keys", required=True, help="directory of the offline keys")
    k.add_argument("--dir", help="hub directory")
    k.add_argument("--root-keys", type=int, default=3, help="init: how many root keys")
    k.add_argument("--threshold", type=int, default=2, help="init: root signatures required")
    k.add_argument("--role", default="root", choices=["root", "targets", "timestamp", "snapshot"])
    k.set_defaults(func=cmd_keys)
    c = fs.add_parser("config", help="publish or show a signed configuration document")
    c.add_argument("action", choices=["publish", "show"])
    c.add_argument("--dir", help="hub directory")
    who = c.add_mutually_exclusive_group(required=True)
    who.add_argument("--fleet", action="store_true", help="the fleet-wide document")
    who.add_argument("--group", help="a group's document")
    who.add_argument("--kiosk", help="one kiosk's document")
    c.add_argument("--file", help="publish: JSON object {section: {key: value}} (replaces)")
    c.add_argument("--set", action="append", help="publish: section.key=value (repeatable)")
    c.set_defaults(func=cmd_config)
    m = fs.add_parser("command", help="remote commands: send, list")
    m.add_argument("action", choices=["send", "list"])
    m.add_argument("--dir", help="hub directory")
    m.add_argument("--kiosk", help="kiosk id")
    m.add_argument(
        "--kind",
        choices=sorted(COMMAND_KINDS),
    )
    m.add_argument("--expires-min", type=float, default=24 * 60, help="validity (minutes)")
    m.add_argument("--by", default="cli", help="who asked (kept in the event log)")
    m.set_defaults(func=cmd_command)
    a = fs.add_parser("admin", help="accounts of the hub's admin page")
    a.add_argument("action", choices=["add", "list", "unlock"])
    a.add_argument("username", nargs="?")
    a.add_argument("--dir", help="hub directory")
    a.add_argument("--name", help="full name (with --reset: kept unless given)")
    a.add_argument(
        "--reset",
        action="store_true",
        help="add: change the password (role, name) of an existing account, clear its lock",
    )
    a.add_argument(
        "--role", choices=ROLES, help="add: default viewer; with --reset: kept unless given"
    )
    a.add_argument("--password-file", help="read the password from this file (else prompt)")
    a.set_defaults(func=cmd_admin)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)
