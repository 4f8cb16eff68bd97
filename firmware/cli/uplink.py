"""``sohoa enroll`` and ``sohoa queue``: the uplink from the command line.

``sohoa enroll --qr IMAGE`` reads the token QR from a photo or the PNG that
``sohoa hub token new`` wrote; ``--token T --hub URL [--ca-sha256 HEX]`` is the typed
form. ``sohoa queue`` lists what waits, what was delivered and why something is stuck;
``sohoa queue retry ID`` asks for an attempt now; ``sohoa queue send`` runs the uploader in
the foreground (a kiosk without the service, or IT on the console).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from firmware.cli.args import settings_from_args
from firmware.config import Settings
from firmware.errors import KioskError


def _open(args: argparse.Namespace) -> tuple[Settings, Any, Any]:
    from firmware.store.catalog import Catalog
    from firmware.store.paths import DataPaths

    settings = settings_from_args(args)
    paths = DataPaths(Path(settings.data_dir)).ensure()
    return settings, paths, Catalog(paths.catalog)


def cmd_enroll(args: argparse.Namespace) -> int:
    from firmware.uplink.identity import enroll
    from firmware.uplink.qr import EnrollTicket, check_ca_sha256, check_hub_url, ticket_from_file

    if args.qr:
        ticket = ticket_from_file(args.qr)
    else:
        if not (args.token and args.hub):
            raise KioskError(
                "enroll_usage",
                "Give --qr IMAGE, or --token T with --hub URL.",
                "Hãy cho ảnh mã QR (--qr), hoặc mã đăng ký (--token) cùng địa chỉ trung tâm "
                "(--hub).",
                status=400,
            )
        if not args.ca_sha256 and not args.trust_first_use:
            raise KioskError(
                "enroll_ca_unpinned",
                "Give --ca-sha256 (the fleet CA fingerprint printed with the token), or "
                "--trust-first-use to accept the CA the hub presents and compare it by hand.",
                "Hãy nhập dấu vân tay CA (--ca-sha256) in kèm mã đăng ký, hoặc dùng "
                "--trust-first-use rồi tự đối chiếu mã CA với trung tâm.",
                status=400,
            )
        ticket = EnrollTicket(
            hub=check_hub_url(args.hub),
            token=args.token,
            ca_sha256=check_ca_sha256(args.ca_sha256) if args.ca_sha256 else None,
        )
    settings, paths, catalog = _open(args)
    try:
        ident = enroll(paths, settings.kiosk_id, ticket, catalog=catalog, actor="cli")
    finally:
        catalog.close()
    out = {"kiosk_id": settings.kiosk_id, **ident.to_status()}
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(f"Đã đăng ký với trung tâm / enrolled with {ident.hub_url}")
    print(f"  máy / kiosk: {settings.kiosk_id}")
    print(f"  chứng thư hết hạn / certificate valid until: {ident.not_after:%Y-%m-%d %H:%M} UTC")
    print(f"  CA SHA-256: {ident.ca_sha256}")
    if ticket.ca_sha256 is None:
        print(
            "  CHÚ Ý / NOTE: không có dấu vân tay CA để đối chiếu; hãy so mã CA ở trên với "
            "trung tâm / no CA fingerprint was given: compare the one above with the hub's.",
        )
    return 0


def _line(row: dict[str, Any], reason: dict[str, Any] | None) -> str:
    size_kb = row["size"] // 1024
    if row["delivered_at"]:
        r = row["receipt"] or {}
        dup = " (đã có sẵn / already there)" if r.get("duplicate") else ""
        return f"{row['document_id']}  đã gửi / delivered {row['delivered_at']}{dup}"
    done = f"{row['offset'] * 100 // max(1, row['size'])}%"
    text = f"{row['document_id']}  chờ gửi / waiting  {size_kb} KB  {done}"
    if reason:
        text += f"\n    {reason['message_vi']}\n    {reason['message_en']} [{reason['code']}]"
        if row["attempts"]:
            text += f"\n    lần thử / attempts: {row['attempts']}, lần tới / next: "
            text += row["next_attempt_at"]
    return text


def cmd_queue(args: argparse.Namespace) -> int:
    from firmware.uplink.identity import load_identity
    from firmware.uplink.outbox import Outbox
    from firmware.uplink.status import blocking_reason, row_reason, uplink_status

    settings, paths, catalog = _open(args)
    try:
        box = Outbox(catalog)
        if args.action == "retry":
            if not args.doc:
                raise KioskError(
                    "doc_required",
                    "Name the document: sohoa queue retry ID.",
                    "Hãy ghi mã tài liệu: sohoa queue retry MÃ.",
                    status=400,
                )
            try:
                box.retry(args.doc, "cli")
            except KeyError:
                raise KioskError(
                    "not_in_queue",
                    f"Document {args.doc} is not in the upload queue.",
                    f"Tài liệu {args.doc} không có trong hàng chờ gửi.",
                    status=404,
                ) from None
            print(f"Sẽ gửi lại ngay / will be retried now: {args.doc}")
            return 0
        if args.action == "send":
            return _send(settings, paths, catalog, args)
        blocked = blocking_reason(settings.uplink, load_identity(paths))
        rows = box.rows()
        items = []
        for row in rows:
            reason = row_reason(row, blocked)
            items.append(
                {
                    "document_id": row["document_id"],
                    "state": "delivered"
                    if row["delivered_at"]
                    else ("failing" if row["last_error_code"] else "waiting"),
                    "size": row["size"],
                    "offset": row["offset"],
                    "attempts": row["attempts"],
                    "queued_at": row["queued_at"],
                    "next_attempt_at": None if row["delivered_at"] else row["next_attempt_at"],
                    "delivered_at": row["delivered_at"],
                    "reason": reason,
                    "receipt": row["receipt"],
                }
            )
        status = uplink_status(catalog, paths, settings.uplink)
        if args.json:
            print(json.dumps({"status": status, "documents": items}, ensure_ascii=False, indent=2))
            return 0
        print(status["summary_vi"])
        print(status["summary_en"])
        if status["last_success"]:
            print(f"Gửi thành công lần cuối / last delivery: {status['last_success']}")
        for row, item in zip(rows, items, strict=True):
            print(_line(row, item["reason"]))
        return 0
    finally:
        catalog.close()


def _send(settings: Settings, paths: Any, catalog: Any, args: argparse.Namespace) -> int:
    """Run the uploader until the queue is empty or it would wait longer than --max-wait."""
    from firmware.uplink.worker import UplinkWorker

    worker = UplinkWorker(catalog, paths, settings)
    try:
        while True:
            wait = worker.step()
            status = worker.status()
            if status["waiting"] == 0:
                print(f"Đã gửi hết / all sent ({status['delivered']} delivered)")
                return 0
            if worker.state in ("not_enrolled", "disabled", "certificate_expired") or (
                wait > args.max_wait
            ):
                print(status["summary_vi"], file=sys.stderr)
                print(status["summary_en"], file=sys.stderr)
                return 1
            if wait > 0:
                time.sleep(wait)
    finally:
        worker.stop()


def register(sub: Any) -> None:
    """Add ``enroll`` and ``queue`` to the ``sohoa`` sub-command parser."""
    e = sub.add_parser("enroll", help="enroll this kiosk with the provincial hub")
    g = e.add_mutually_exclusive_group(required=True)
    g.add_argument("--qr", type=Path, help="image (photo or PNG) of the enrollment QR code")
    g.add_argument("--token", help="one-time enrollment token (with --hub)")
    e.add_argument("--hub", help="hub address, https://... (with --token)")
    e.add_argument("--ca-sha256", help="fleet CA fingerprint (64 hex digits) to pin")
    e.add_argument(
        "--trust-first-use",
        action="store_true",
        help="with --token and no --ca-sha256: accept the hub's CA and print its fingerprint",
    )
    e.add_argument("--json", action="store_true", help="machine-readable output")
    e.set_defaults(func=cmd_enroll)

    q = sub.add_parser("queue", help="the upload queue: list, retry ID, send")
    q.add_argument("action", nargs="?", choices=["list", "retry", "send"], default="list")
    q.add_argument("doc", nargs="?", help="retry: the document id")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.add_argument(
        "--max-wait",
        type=float,
        default=0,
        help="send: keep going through backoff waits up to this many seconds each",
    )
    q.set_defaults(func=cmd_queue)
