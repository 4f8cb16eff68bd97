"""``sohoa export``, ``sohoa decrypt`` and ``sohoa usb``: secure export from the command line.

``register(sub)`` adds the three commands to the ``sohoa`` parser. Each command prints plain
sentences (Vietnamese, then English) and raises :class:`~firmware.errors.KioskError` for
anything a person can fix, which ``sohoa`` turns into a message and exit status 1.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from firmware.cli.args import settings_from_args
from firmware.errors import KioskError


def _print(obj: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))
    else:
        print("\n".join(lines))


def _exporter(args: argparse.Namespace) -> Any:
    from firmware.export.exporter import Exporter
    from firmware.store.catalog import Catalog
    from firmware.store.paths import DataPaths

    settings = settings_from_args(args)
    paths = DataPaths(Path(settings.data_dir)).ensure()
    backend = None
    if getattr(args, "target", None):
        from drivers.usb.sim import SimBackend

        target = Path(args.target).resolve()
        backend = SimBackend(target.parent, only=target.name)
    catalog = Catalog(paths.catalog)
    return Exporter(catalog, paths, settings.export, kiosk_id=settings.kiosk_id, backend=backend)


def _signed_in_role(exporter: Any, code: str) -> str:
    """The operator's role after a PIN check (env ``SOHOA_PIN`` or a prompt)."""
    from firmware.store.operators import Operators

    pin = os.environ.get("SOHOA_PIN")
    if pin is None:
        if not sys.stdin.isatty():
            raise KioskError(
                "pin_required",
                "Give the PIN in SOHOA_PIN or run the command in a terminal.",
                "Hãy nhập mã PIN (biến SOHOA_PIN) hoặc chạy lệnh trong cửa sổ dòng lệnh.",
                status=401,
            )
        pin = getpass.getpass("Mã PIN / PIN: ")
    return Operators(exporter.catalog).authenticate(code, pin).role


def cmd_export(args: argparse.Namespace) -> int:
    exporter = _exporter(args)
    try:
        if args.list:
            docs = exporter.pending()
            _print(
                [{"id": d["id"], "confidentiality": d["confidentiality"]} for d in docs],
                args.json,
                [f"{d['id']}  {d['confidentiality']}" for d in docs]
                or ["Không có tài liệu mật nào chờ xuất / nothing waiting for export"],
            )
            return 0
        if args.purge_due:
            purged = exporter.purge_due(args.operator or "cli")
            _print(
                purged,
                args.json,
                [f"Đã xóa bản lưu / purged: {d}" for d in purged]
                or ["Không có tài liệu nào đến hạn xóa / nothing due"],
            )
            return 0
        if args.check:
            pf = exporter.preflight(args.doc or None, allow_ordinary=args.allow_ordinary)
            _print(pf.to_dict(), args.json, [pf.message_vi, pf.message_en, f"[{pf.status}]"])
            return 0 if pf.ready else 1
        if not args.operator:
            raise KioskError(
                "operator_required",
                "Name the archivist exporting: --operator CODE.",
                "Hãy ghi mã cán bộ lưu trữ thực hiện: --operator MÃ.",
                status=401,
            )
        role = _signed_in_role(exporter, args.operator)

        def progress(ev: dict[str, Any]) -> None:
            if args.json:
                return
            if ev["phase"] == "writing" and ev["doc_state"] == "written":
                print(
                    f"  {ev['index'] + 1}/{ev['count']} {ev['doc_id']} "
                    f"{ev['doc_bytes_done'] / 1_000_000:.1f} MB",
                    file=sys.stderr,
                )
            elif ev["phase"] == "verifying":
                print("  đọc lại để kiểm tra / verifying...", file=sys.stderr)

        result = exporter.export(
            args.operator,
            role,
            args.doc or None,
            allow_ordinary=args.allow_ordinary,
            on_progress=progress,
        )
        lines = [
            f"Đã xuất {len(result.exported)} tài liệu mật / exported {len(result.exported)} "
            f"confidential document(s) to {result.directory}",
        ]
        lines += [f"  bản sao tài liệu thường / ordinary copy: {d}" for d in result.copies]
        lines += [f"  LỖI / FAILED {f['doc_id']}: {f['error']}" for f in result.failed]
        lines += [f"  đã xóa bản lưu / purged: {d}" for d in result.purged]
        lines.append(
            "Có thể rút USB an toàn / safe to remove the USB stick"
            if result.safe_to_remove
            else "Chưa rút USB: không tháo được an toàn / do not remove yet: eject failed"
        )
        _print(result.to_dict(), args.json, lines)
        return 0 if not result.failed else 1
    finally:
        exporter.catalog.close()


def cmd_decrypt(args: argparse.Namespace) -> int:
    from firmware.export import cms
    from firmware.export.decrypt import decrypt_export, trust_from_env

    key: cms.KeyFile | cms.Pkcs11Key
    if args.key:
        key = cms.KeyFile(Path(args.key), Path(args.cert) if args.cert else None)
    else:
        key = cms.Pkcs11Key(
            args.pkcs11,
            module=args.pkcs11_module,
            pin=args.pin or os.environ.get("SOHOA_PKCS11_PIN"),
            cert=Path(args.cert) if args.cert else None,
        )
    export_dir = Path(args.export_dir)
    out = Path(args.out) if args.out else Path.cwd() / f"{export_dir.resolve().name}-decrypted"
    trust = [Path(t) for t in args.trust or []] + trust_from_env()
    report = decrypt_export(export_dir, key, out, trust=trust)
    _print(report.to_dict(), args.json, report.lines())
    return 0 if report.ok else 1


def cmd_usb(args: argparse.Namespace) -> int:
    from drivers.usb import AllowedStick, usbguard_rules

    settings = settings_from_args(args)
    if args.action == "rules":
        allow = [
            AllowedStick(s.vid, s.pid, s.serial, s.label)
            for s in (settings.export.allowed_sticks or [])
        ]
        text = usbguard_rules(allow, kiosk_id=settings.kiosk_id)
        if args.out:
            from sohoa_common.atomic import atomic_write_text

            atomic_write_text(args.out, text, mode=0o600)
        else:
            sys.stdout.write(text)
        return 0
    exporter = _exporter(args)
    try:
        devs = exporter.devices()
    finally:
        exporter.catalog.close()
    lines = []
    for d in devs:
        ident = d["identity"]
        verdict = (
            f"được phép / allowed ({d['allowlist_label']})"
            if d["authorized"]
            else f"BỊ TỪ CHỐI / REJECTED: {d['reason']} {' '.join(d['foreign_interfaces'])}"
        )
        lines.append(
            f"{ident['vid']}:{ident['pid']} serial {ident['serial'] or '-'}  "
            f"{ident['manufacturer']} {ident['product']}  {d['fstype'] or '-'}  {d['node']}  "
            f"-> {verdict}"
        )
    _print(devs, args.json, lines or ["Không có USB nào / no USB storage device"])
    return 0


def register(sub: Any) -> None:
    """Add ``export``, ``decrypt`` and ``usb`` to the ``sohoa`` sub-command parser."""
    e = sub.add_parser("export", help="export confidential documents to a secure USB stick")
    e.add_argument("--doc", action="append", help="document id (repeat; default: all waiting)")
    e.add_argument("--operator", help="archivist's staff code (PIN from SOHOA_PIN or prompt)")
    e.add_argument(
        "--target",
        help="sim backend: directory standing for the mounted stick "
        "(its descriptor is DIR.usb.json beside it)",
    )
    e.add_argument(
        "--allow-ordinary",
        action="store_true",
        help="also copy ordinary documents (they stay queued for the network)",
    )
    e.add_argument("--check", action="store_true", help="only check the stick (preflight)")
    e.add_argument("--list", action="store_true", help="list documents waiting for export")
    e.add_argument(
        "--purge-due",
        action="store_true",
        help="purge exported documents whose retention has run out",
    )
    e.add_argument("--json", action="store_true", help="machine-readable output")
    e.set_defaults(func=cmd_export)

    d = sub.add_parser("decrypt", help="verify and decrypt an export (receiving office)")
    d.add_argument("export_dir", help="the sohoa-export-... folder")
    g = d.add_mutually_exclusive_group(required=True)
    g.add_argument("--key", help="recipient private key (PEM)")
    g.add_argument("--pkcs11", help="PKCS#11 URI of the key, e.g. pkcs11:token=T;object=K")
    d.add_argument("--pkcs11-module", help="PKCS#11 library (default: p11-kit proxy)")
    d.add_argument("--pin", help="token PIN (or SOHOA_PKCS11_PIN)")
    d.add_argument("--cert", help="recipient certificate (selects the recipient)")
    d.add_argument(
        "--trust",
        action="append",
        help="fleet CA (or one kiosk's certificate) the manifest signer must chain to; "
        "required, repeatable; also read from SOHOA_DECRYPT_TRUST (paths joined with ':')",
    )
    d.add_argument("--out", help="where to write the documents (default ./<folder>-decrypted)")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_decrypt)

    u = sub.add_parser("usb", help="USB sticks: list plugged devices, USBGuard rules")
    u.add_argument("action", choices=["list", "rules"])
    u.add_argument("--out", help="rules: write to this file instead of stdout")
    u.add_argument("--target", help=argparse.SUPPRESS)
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=cmd_usb)
