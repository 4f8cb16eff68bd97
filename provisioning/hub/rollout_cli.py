"""``sohoa hub rollout``: staged release rollouts from the command line.

- ``create --version V [--target T --sha256 H --length N] [--group G] [--tag T] [--kiosk K]``
  (with only ``--version``, the release is the target the offline release role signed for
  that version, from ``sohoa release publish``;
  ``[--waves 1:1h,10:2h,50:4h,100:1h] [--success 0.95] [--failure 0.05]
  [--previous-version ... [--previous-target ... --previous-sha256 ... --previous-length ...]]``
- ``list``, ``show ID``, ``pause ID``, ``resume ID``, ``advance ID``, ``abort ID``
- ``window GROUP 22:00-05:00 [--tz Asia/Ho_Chi_Minh]`` or ``window GROUP --clear``
- ``tag KIOSK [TAG ...]`` (the tags a rollout's ``--tag`` selects)

It works on the hub's database directly, beside a running hub: every change is one
conditional update, so the CLI and the admin page cannot both advance the same wave.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provisioning.hub.rollouts import RolloutService

# The rollout service (SQLAlchemy, the hub's extra) is imported when a command runs, not
# when the parser is built: the kiosk's own `sohoa` registers these commands too, and a
# kiosk has no SQLAlchemy (the image's twin build failed on exactly that).

SettingsOf = Callable[[argparse.Namespace], Any]
OpenDB = Callable[[Any], contextlib.AbstractContextManager[Any]]


@contextlib.contextmanager
def _service(args: argparse.Namespace) -> Iterator[RolloutService]:
    """The service over the hub's database (a refusal is already the CLI's two-language
    error: :class:`provisioning.hub.refusals.Refusal`)."""
    from provisioning.hub.rollouts import RolloutService

    with args.open_db(args.settings_of(args)) as db:
        yield RolloutService(db)


def _release(args: argparse.Namespace, prefix: str) -> dict[str, Any] | None:
    values = {k: getattr(args, f"{prefix}{k}") for k in ("version", "target", "sha256", "length")}
    if prefix and not any(values.values()):
        return None
    if values["version"] and not any(values[k] for k in ("target", "sha256", "length")):
        return _published(args, values["version"])
    return values


def _published(args: argparse.Namespace, version: str) -> dict[str, Any]:
    """The signed target of ``version`` in the hub's repository (``sohoa release publish``)."""
    from provisioning.hub.rollouts import RolloutError
    from provisioning.hub.tuf_repo import ConfigRepository

    found = ConfigRepository(args.settings_of(args).dir / "tuf").releases().get(version)
    if found is None:
        raise RolloutError(
            "rollout_release_unpublished",
            f"Release {version} is not signed by the release role; publish it first "
            "(sohoa release publish), or give --target, --sha256 and --length.",
            f"Bản phát hành {version} chưa được ký bằng khóa phát hành; hãy công bố trước "
            "(sohoa release publish) hoặc nêu --target, --sha256 và --length.",
        )
    return found


def print_status(st: dict[str, Any]) -> None:
    from provisioning.hub.rollouts import STATE_VI

    rel = st["release"]
    print(
        f"{st['id']}  {rel['version']}  {STATE_VI[st['state']]} / {st['state']}  "
        f"đợt / wave {st['wave'] + 1}/{len(st['waves'])}  {st['targeted']} máy / kiosks"
    )
    if st.get("reason"):
        print(f"  lý do / reason: {st['reason']}")
    print(
        f"  {'wave':<5} {'%':>5} {'kiosks':>7} {'committed':>10} {'rolled back':>12} "
        f"{'pending':>8}  soak"
    )
    for w in st["wave_status"]:
        mark = "*" if w["current"] else " "
        print(
            f" {mark}{w['index'] + 1:<5} {w['percent']:>5g} {w['size']:>7} {w['committed']:>10} "
            f"{w['rolled_back']:>12} {w['pending']:>8}  {w['soak_s'] / 3600:g} h"
        )
    for reason, n in st["rollback_reasons"]:
        print(f"  rolled back ×{n}: {reason}")


def cmd_rollout(args: argparse.Namespace) -> int:
    from provisioning.hub.rollouts import parse_waves

    with _service(args) as svc:
        action = args.action
        if action == "create":
            waves = [
                dataclasses.replace(w, success=args.success, failure=args.failure)
                for w in parse_waves(args.waves)
            ]
            rid = svc.create(
                _release(args, ""),  # type: ignore[arg-type]
                previous=_release(args, "previous_"),
                groups=args.group,
                tags=args.tag,
                kiosks=args.kiosk,
                waves=waves,
                by="cli",
            )
            print(f"Đã tạo đợt triển khai / rollout created: {rid}")
        elif action == "list":
            rows = svc.list()
            if args.json:
                print(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
            elif not rows:
                print("Chưa có đợt triển khai nào / no rollouts")
            for r in [] if args.json else rows:
                print(
                    f"{r['id']:<22} {r['release']['version']:<10} {r['state']:<10} "
                    f"wave {r['wave'] + 1}/{len(r['waves'])}  {r['created_at']:%d/%m/%Y %H:%M}"
                )
        elif action == "show":
            svc.evaluate(args.id)
            st = svc.status(args.id)
            if args.json:
                print(json.dumps(st, default=str, ensure_ascii=False, indent=2))
            else:
                print_status(st)
        elif action == "pause":
            svc.pause(args.id, by="cli", reason=args.reason or "")
            print(f"Đã tạm dừng / paused: {args.id}")
        elif action == "resume":
            svc.resume(args.id, by="cli")
            print(f"Đã tiếp tục / resumed: {args.id}")
        elif action == "advance":
            state = svc.advance(args.id, by="cli")
            ro = svc.get(args.id)
            print(f"Đã chuyển đợt / advanced: {args.id} wave {ro['wave'] + 1} ({state})")
        elif action == "abort":
            svc.abort(args.id, by="cli", reason=args.reason or "")
            print(f"Đã hủy, trả về bản trước / aborted, previous release assigned: {args.id}")
    return 0


def cmd_window(args: argparse.Namespace) -> int:
    with _service(args) as svc:
        svc.set_window(args.group, None if args.clear else args.window, args.tz)
    said = "mọi lúc / any time" if args.clear else f"{args.window} ({args.tz})"
    print(f"Khung giờ bảo trì / maintenance window {args.group}: {said}")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    with _service(args) as svc:
        svc.set_tags(args.kiosk, set(args.tags))
    print(f"{args.kiosk}: {', '.join(sorted(args.tags)) or '-'}")
    return 0


def register(
    sub_parser: Callable[[str, str], argparse.ArgumentParser],
    settings_of: SettingsOf,
    open_db: OpenDB,
) -> None:
    """Add ``rollout``, ``window`` and ``tag`` under ``sohoa hub``."""
    common = {"settings_of": settings_of, "open_db": open_db}
    r = sub_parser("rollout", "staged release rollouts: create, list, show, pause, resume, ...")
    r.add_argument(
        "action", choices=["create", "list", "show", "pause", "resume", "advance", "abort"]
    )
    r.add_argument("id", nargs="?", help="rollout id (all but create and list)")
    for prefix, what in (("", "release"), ("previous-", "previous release (abort returns to it)")):
        r.add_argument(f"--{prefix}version", help=f"{what}: version")
        r.add_argument(f"--{prefix}target", help=f"{what}: TUF target name")
        r.add_argument(f"--{prefix}sha256", help=f"{what}: SHA-256 of the target")
        r.add_argument(f"--{prefix}length", type=int, help=f"{what}: length in bytes")
    r.add_argument("--group", action="append", help="target this group (repeatable)")
    r.add_argument("--tag", action="append", help="target kiosks with this tag (repeatable)")
    r.add_argument("--kiosk", action="append", help="target this kiosk (repeatable)")
    r.add_argument("--waves", default="1:1h,10:2h,50:4h,100:1h", help="percent[:soak],...")
    r.add_argument("--success", type=float, default=0.95, help="share committed to advance")
    r.add_argument("--failure", type=float, default=0.05, help="share rolled back to pause")
    r.add_argument("--reason", help="pause/abort: why (kept in the event log)")
    r.add_argument("--json", action="store_true", help="list/show: JSON")
    r.set_defaults(func=_checked(cmd_rollout), **common)

    w = sub_parser("window", "maintenance window of a group (releases offered only inside)")
    w.add_argument("group")
    w.add_argument("window", nargs="?", help="HH:MM-HH:MM local time, e.g. 22:00-05:00")
    w.add_argument("--tz", default="Asia/Ho_Chi_Minh", help="time zone of the window")
    w.add_argument("--clear", action="store_true", help="no window: any time")
    w.set_defaults(func=cmd_window, **common)

    t = sub_parser("tag", "set a kiosk's tags (rollout --tag selects them)")
    t.add_argument("kiosk")
    t.add_argument("tags", nargs="*")
    t.set_defaults(func=cmd_tag, **common)


def _checked(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Say what is missing before touching the database."""
    from firmware.errors import KioskError

    def run(args: argparse.Namespace) -> int:
        if args.action not in ("create", "list") and not args.id:
            raise KioskError(
                "rollout_id_missing",
                f"Which rollout? sohoa hub rollout {args.action} ID",
                f"Đợt triển khai nào? sohoa hub rollout {args.action} MÃ",
                status=400,
            )
        given = (args.target, args.sha256, args.length)
        if args.action == "create" and not (args.version and (all(given) or not any(given))):
            raise KioskError(
                "rollout_release_missing",
                "create needs --version (a published release), or --version, --target, "
                "--sha256 and --length.",
                "Cần --version (bản đã công bố), hoặc --version, --target, --sha256 và --length.",
                status=400,
            )
        return func(args)

    return run
