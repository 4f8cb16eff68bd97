"""``sohoa agent``: run the fleet agent, or one poll of it, or re-key now.

``sohoa agent`` is what the systemd unit runs (``image-build/systemd/sohoa-agent.service``);
``sohoa agent --once`` does one poll and prints what happened (for IT at the console);
``sohoa agent rekey`` asks the hub for a certificate on a fresh key at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
from typing import Any

from firmware.config import load_settings
from firmware.errors import KioskError

log = logging.getLogger("sohoa.agent")


def _settings(args: argparse.Namespace) -> Any:
    over: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        over["data_dir"] = args.data_dir
    return load_settings(getattr(args, "config", None), **over)


def build_agent(settings: Any, **kw: Any) -> Any:
    """The agent with every duty it has (the one place that lists them)."""
    from provisioning.agent.agent import Agent

    return Agent(settings, **kw)


def refuse_other_owner(settings: Any) -> None:
    """Refuse to act on the agent's directory as another user than its owner (IT at the
    console as root): files it would leave there (state, journals, 0600) would be the wrong
    user's and the agent could no longer read them."""
    import os

    from firmware.fleet.link import agent_state_dir

    state = agent_state_dir(settings)
    try:
        owner = state.stat().st_uid
    except OSError:
        return  # not made yet: whoever runs first makes it (development)
    if owner != os.geteuid():
        raise KioskError(
            "agent_wrong_user",
            f"{state} belongs to uid {owner}: run this as the agent's user, e.g. "
            "runuser -u sohoa-agent -- sohoa agent ...",
            f"Thư mục {state} thuộc người dùng khác (uid {owner}): hãy chạy lệnh bằng người "
            "dùng của tác nhân, ví dụ runuser -u sohoa-agent -- sohoa agent ...",
        )


def cmd_agent(args: argparse.Namespace) -> int:
    from firmware.uplink.identity import load_identity

    settings = _settings(args)
    refuse_other_owner(settings)
    agent = build_agent(settings, child_args=global_args(args))
    action = getattr(args, "agent_action", None) or "run"
    if action == "rekey":
        ident = load_identity(agent.paths)
        if ident is None:
            raise KioskError(
                "not_enrolled",
                "This kiosk is not enrolled; nothing to re-key.",
                "Máy chưa đăng ký nên không thể đổi khóa.",
            )
        fresh = agent.renewal.rekey(ident)
        print(f"Đã đổi khóa / re-keyed: certificate until {fresh.not_after:%d/%m/%Y %H:%M} UTC")
        return 0
    if action == "update":
        return cmd_update(args, agent)
    if args.once:
        wait = agent.step()
        agent.close()
        print(json.dumps({**agent.describe(), "next_in_s": round(wait, 1)}, ensure_ascii=False))
        return 0 if agent.status == "ok" else 1
    from provisioning.agent.updates.duty import recover_at_start

    recover_at_start(agent)  # an update cut by a power failure ends on one release first
    signal.signal(signal.SIGTERM, lambda *_: agent.stop())
    logging.getLogger().setLevel(logging.INFO)
    log.info("agent started for %s", settings.kiosk_id)
    try:
        agent.run()
    except KeyboardInterrupt:
        agent.stop()
    return 0


def global_args(args: argparse.Namespace) -> list[str]:
    """The options a child ``sohoa`` needs to read the same configuration."""
    out: list[str] = []
    if getattr(args, "config", None):
        out += ["--config", str(args.config)]
    if getattr(args, "data_dir", None):
        out += ["--data-dir", str(args.data_dir)]
    return out


def cmd_update(args: argparse.Namespace, agent: Any) -> int:
    """``sohoa agent update``: install a release artifact now (or only recover)."""
    from pathlib import Path

    from firmware.uplink.identity import load_identity
    from provisioning.agent.updates.artifact import Expected
    from provisioning.agent.updates.duty import build_updater, copy_from, download_from, run_update

    updater = build_updater(
        agent.settings, global_args=global_args(args), audit=agent.audit_log.audit
    )
    try:
        if args.recover:
            journal = updater.recover()
        else:
            if not (args.version and (args.artifact or args.url) and args.sha256 and args.length):
                raise KioskError(
                    "usage",
                    "give --version, --artifact or --url, --sha256 and --length (the signed target)",
                    "Cần --version, --artifact hoặc --url, --sha256 và --length.",
                )
            source = args.artifact or args.url
            expected = Expected(args.length, args.sha256, Path(source).name)
            if args.artifact:
                fetch = copy_from(Path(args.artifact))
            else:
                ident = load_identity(agent.paths)
                if ident is None:
                    raise KioskError(
                        "not_enrolled",
                        "This kiosk is not enrolled; it cannot download from the hub.",
                        "Máy chưa đăng ký nên không tải được từ trung tâm.",
                    )
                fetch = download_from(agent, ident, args.url, args.length)
            journal = run_update(updater, agent.paths, args.version, fetch, expected)
    finally:
        stop = getattr(updater.supervisor, "stop", None)
        if stop is not None:
            stop()
        agent.close()
    current = updater.layout.current()
    print(
        json.dumps(
            {
                "current": current,
                "outcome": journal.outcome,
                "reason": journal.reason,
                "step": journal.step,
                "install_s": round(updater.timings.install_s, 2),
                "gate_s": round(updater.timings.gate_s, 2),
                "unreported": len(journal.unreported),
            },
            ensure_ascii=False,
        )
    )
    return 0 if journal.outcome in ("committed", None) else 1


def register(sub: Any) -> None:
    a = sub.add_parser("agent", help="fleet agent: heartbeat, certificate renewal, signed config")
    a.add_argument("--once", action="store_true", help="one poll, print the outcome as JSON")
    a.set_defaults(func=cmd_agent)
    acts = a.add_subparsers(dest="agent_action")
    r = acts.add_parser("rekey", help="new device key and certificate now")
    r.set_defaults(func=cmd_agent)
    u = acts.add_parser("update", help="install a release artifact now, with the health gate")
    u.add_argument("--version", help="the release version (as its TUF target names it)")
    u.add_argument("--artifact", help="the release artifact file (sohoa release build)")
    u.add_argument("--url", help="or download it from the hub (path on the hub, resumable)")
    u.add_argument("--sha256", help="SHA-256 of the artifact from its signed target")
    u.add_argument("--length", type=int, help="length in bytes from its signed target")
    u.add_argument("--recover", action="store_true", help="only finish an interrupted update")
    u.set_defaults(func=cmd_agent)
