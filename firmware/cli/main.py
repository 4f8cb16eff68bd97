"""The ``sohoa`` command: run the kiosk, scan headless, check the box, verify the audit log.

Every command exits non-zero with a plain sentence (no traceback) when something a person
can fix is wrong: a bad config file, a missing camera, missing language data.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from firmware.cli.args import settings_from_args
from firmware.config import ConfigError, Settings, explain, load_settings
from firmware.errors import KioskError


def cmd_scan(args: argparse.Namespace) -> int:
    """Capture a whole document headless, process it and seal it; print the PDF path."""
    from firmware.kiosk import Kiosk

    camera_over: dict[str, Any] = {}
    if args.camera:
        camera_over["backend"] = args.camera
    if args.source:
        camera_over["source"] = str(args.source)
    if args.seed is not None:
        camera_over["seed"] = args.seed
    settings = settings_from_args(
        args, camera=camera_over, pedal={"backend": "none"}, leds={"backend": "none"}
    )
    scanner = camera = None
    if args.scanner:
        from drivers.scanner import SaneScanner, ScannerError
        from firmware.capture.devices import scan_settings

        source = "adf-duplex" if args.duplex else "adf" if args.adf else "flatbed"
        try:
            settings_for_scan = scan_settings(settings, source=source, dpi=args.dpi)
        except ScannerError as exc:
            raise KioskError(f"scanner_{exc.code}", exc.message, exc.message_vi) from exc
        scanner = SaneScanner(args.scanner, settings_for_scan)
    else:
        from drivers.camera import open_camera

        camera = open_camera(settings.camera)
    kiosk = Kiosk(settings, camera=camera, scanner=scanner)
    kiosk.start()
    try:
        doc = kiosk.new_document("cli", source="scanner" if args.scanner else "camera")
        problems: list[str] = []
        if scanner is not None:
            for out in kiosk.scan_batch("cli", doc["id"]):
                _report_page(out, problems)
        else:
            count = args.pages if args.camera != "folder" else None
            n = 0
            while count is None or n < count:
                try:
                    out = kiosk.capture("cli", doc["id"])
                except KioskError as exc:
                    if exc.code == "no_more_frames":
                        break
                    raise
                n += 1
                _report_page(out, problems)
        pages = kiosk.catalog.pages(doc["id"])
        if not pages:
            print("Không có trang nào / no pages captured", file=sys.stderr)
            return 3
        for page in pages:
            if page["state"] == "rejected":
                if args.force:
                    try:
                        kiosk.accept_page(page["id"], "cli")
                    except KioskError:
                        kiosk.delete_page(page["id"], "cli")
                else:
                    kiosk.delete_page(page["id"], "cli")
        if not kiosk.catalog.pages(doc["id"]):
            print("Mọi trang đều hỏng / every page failed the quality checks", file=sys.stderr)
            return 3
        kiosk.finish(doc["id"], "cli")
        kiosk.wait_idle()
        doc = kiosk.catalog.get_document(doc["id"])
        if doc["state"] != "review":
            print(
                f"document {doc['id']} is {doc['state']}: {doc.get('error_message')}",
                file=sys.stderr,
            )
            return 4
        doc = kiosk.seal(doc["id"], "cli", title=args.title, level=args.level, source="cli")
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        pdf = out_dir / Path(doc["pdf_path"]).name
        shutil.copyfile(doc["pdf_path"], pdf)
        shutil.copyfile(kiosk.paths.sealed_sidecar(doc["id"]), pdf.with_suffix(".json"))
        if problems:
            for p in problems:
                print(p, file=sys.stderr)
        print(pdf)
        from firmware.routing import route_for

        print(f"route: {route_for(doc).value} ({doc['confidentiality']})", file=sys.stderr)
        return 0 if not problems or args.force else 2
    finally:
        kiosk.stop()


def _report_page(out: Any, problems: list[str]) -> None:
    issues = [i for i in out.quality.get("issues", []) if i.get("severity") == "error"]
    if issues:
        problems.append(
            f"page {out.page['seq']}: "
            + "; ".join(f"{i['message_vi']} ({i['code']})" for i in issues)
        )


def cmd_audit(args: argparse.Namespace) -> int:
    """``verify``: the chain and its signed checkpoints (``--hub``: and the hub's anchor);
    ``checkpoint``: sign the current head now; ``show``: the records as JSON lines."""
    from firmware.store.audit_anchor import AuditAnchors, verify_anchored
    from firmware.store.catalog import Catalog
    from firmware.store.paths import DataPaths

    settings = settings_from_args(args)
    paths = DataPaths(Path(settings.data_dir))
    if not paths.catalog.exists():
        print(f"no catalog at {paths.catalog}", file=sys.stderr)
        return 2
    cat = Catalog(paths.catalog)
    try:
        if args.action == "verify":
            hub_anchor = _hub_anchor(paths, settings) if args.hub else None
            v = verify_anchored(cat, paths, hub_anchor)
            if not v.ok:
                print(f"BROKEN at record {v.bad_seq}: {v.problem}", file=sys.stderr)
                return 1
            print(f"OK: {v.records} records, head {v.head}")
            if v.checkpoint is not None:
                print(f"  signed checkpoint: record {v.checkpoint.seq} at {v.checkpoint.at}")
            else:
                print("  no signed checkpoint yet (sohoa audit checkpoint)")
            if v.hub_anchor is not None:
                print(f"  hub anchor: record {v.hub_anchor['seq']} ({v.hub_anchor['received_at']})")
            return 0
        if args.action == "checkpoint":
            cp = AuditAnchors(cat, paths, settings.kiosk_id).sign_head()
            if cp is None:
                print("the audit log is empty: nothing to sign")
                return 0
            print(f"signed checkpoint: record {cp.seq}, head {cp.head}, at {cp.at}")
            return 0
        for r in cat.audit_records(doc_id=args.doc, limit=args.limit):
            print(json.dumps(r, ensure_ascii=False))
        return 0
    finally:
        cat.close()


def _hub_anchor(paths: Any, settings: Any) -> dict[str, Any] | None:
    """The hub's last anchor for this kiosk (``audit verify --hub``); None if it has none."""
    from firmware.uplink.identity import fetch_audit_anchor, load_identity

    ident = load_identity(paths)
    if ident is None:
        raise KioskError(
            "not_enrolled",
            "This kiosk is not enrolled with a hub; verify without --hub.",
            "Máy chưa đăng ký với trung tâm; hãy kiểm tra không kèm --hub.",
            status=400,
        )
    return fetch_audit_anchor(ident, hub_url=settings.uplink.hub_url or None)


def cmd_config(args: argparse.Namespace) -> int:
    if args.explain:
        sys.stdout.write(explain())
        return 0
    settings = settings_from_args(args)
    print(json.dumps(settings.model_dump(mode="json"), indent=2, ensure_ascii=False))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from firmware.doctor import print_report, run_checks

    settings = settings_from_args(args)
    print(f"Thư mục dữ liệu / data directory: {Path(settings.data_dir).resolve()}")
    checks = run_checks(settings)
    print_report(checks, lang=args.lang or settings.language)
    return 0 if all(c.ok for c in checks) else 1


def cmd_selftest(args: argparse.Namespace) -> int:
    """Exit 0 when this release can do the kiosk's job; else 1 and the first reason."""
    from firmware.selftest import run_selftest

    checks = run_selftest(settings_from_args(args))
    failed = [c for c in checks if not c.ok]
    for c in failed:
        print(f"{c.name}: {c.reason_vi} / {c.reason_en}")
    if not failed:
        print("selftest: ok (" + ", ".join(c.name for c in checks) + ")")
    return 1 if failed else 0


def cmd_recover(args: argparse.Namespace) -> int:
    from firmware.capture.recovery import recover
    from firmware.kiosk import Kiosk

    settings = settings_from_args(args)
    kiosk = Kiosk(settings)
    kiosk.start(recover=False)
    try:
        summary = recover(kiosk)
        kiosk.wait_idle()
        print(json.dumps(summary, ensure_ascii=False))
        return 0
    finally:
        kiosk.stop()


def cmd_run(args: argparse.Namespace, demo: bool = False) -> int:
    from firmware.service import run_service

    overrides: dict[str, Any] = {}
    if demo:
        from firmware.demo.export import export_overrides
        from firmware.demo.signing import signing_overrides

        data_dir = args.data_dir or "./var/demo"
        overrides.update(
            data_dir=data_dir,
            camera={"backend": "sim"},
            pedal={"backend": "mock"},
            leds={"backend": "mock"},
            export=export_overrides(data_dir),
            signing=signing_overrides(data_dir),  # the demo seals signed
        )
    if args.port:
        overrides["ui"] = {"port": args.port}
    settings = load_settings(getattr(args, "config", None), **overrides)
    if not demo and args.data_dir:
        settings = settings.model_copy(update={"data_dir": Path(args.data_dir)})
    return run_service(settings, demo=demo)


def cmd_operator(args: argparse.Namespace) -> int:
    """Add or list touchscreen operators; the PIN is read from the terminal or stdin."""
    import getpass

    from firmware.store.catalog import Catalog
    from firmware.store.operators import Operators
    from firmware.store.paths import DataPaths

    settings = settings_from_args(args)
    cat = Catalog(DataPaths(Path(settings.data_dir)).ensure().catalog)
    try:
        ops = Operators(cat)
        if args.action == "list":
            for o in ops.list():
                print(f"{o.code}\t{o.role}\t{o.name}" + ("\t(disabled)" if o.disabled else ""))
            return 0
        if args.action in ("disable", "enable", "unlock", "reset-pin"):
            return _operator_change(ops, args)
        if not args.code or not args.name:
            print("sohoa operator add CODE --name NAME [--role ROLE]", file=sys.stderr)
            return 2
        if sys.stdin.isatty():
            pin = getpass.getpass("Mã PIN / PIN: ")
            if getpass.getpass("Nhập lại / again: ") != pin:
                print("Hai lần nhập không khớp / the PINs differ", file=sys.stderr)
                return 2
        else:
            pin = sys.stdin.readline().strip()
        op = ops.add(args.code, args.name, args.role, pin, "cli")
        print(f"{op.code}\t{op.role}\t{op.name}")
        return 0
    finally:
        cat.close()


def _operator_change(ops: Any, args: argparse.Namespace) -> int:
    """disable / enable / unlock / reset-pin CODE (audited as the CLI, like add)."""
    import secrets

    from firmware.errors import KioskError

    if not args.code or ops.get(args.code) is None:
        print(f"Không có người dùng mã {args.code} / no operator {args.code}", file=sys.stderr)
        return 2
    try:
        if args.action == "unlock":
            ops.unlock(args.code, "cli")
        elif args.action in ("disable", "enable"):
            ops.set_disabled(args.code, args.action == "disable", "cli")
        else:
            pin = sys.stdin.readline().strip() if not sys.stdin.isatty() else ""
            pin = pin or f"{secrets.randbelow(10**6):06d}"
            ops.reset_pin(args.code, pin, "cli")
            print(f"{args.code}\tPIN {pin}")
            return 0
    except KioskError as exc:
        print(f"{exc.message_vi} / {exc.message_en}", file=sys.stderr)
        return 2
    print(f"{args.code}\t{args.action}: ok")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sohoa", description="Sohoa document-scanner kiosk")
    p.add_argument("--config", help="TOML configuration file (default /etc/sohoa/sohoa.toml)")
    p.add_argument("--data-dir", help="data directory (overrides the configuration)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("scan", help="capture, process and seal one document headless")
    s.add_argument("--camera", choices=["sim", "folder", "opencv", "picamera2"])
    s.add_argument("--scanner", help="SANE device, e.g. test:0 (instead of a camera)")
    s.add_argument("--adf", action="store_true", help="scanner: use the document feeder")
    s.add_argument("--duplex", action="store_true", help="scanner: both sides")
    s.add_argument("--dpi", type=int, default=300, help="scanner resolution")
    s.add_argument("--source", type=Path, help="folder camera: directory of images")
    s.add_argument("--pages", type=int, default=3, help="sim/opencv: pages to capture")
    s.add_argument("--seed", type=int, help="sim: document seed")
    s.add_argument("--title", help="document title (default: date and time)")
    s.add_argument(
        "--level",
        choices=["thuong", "mat", "toi_mat", "tuyet_mat"],
        help="confidentiality level (độ mật); mat/toi_mat never go over the network, "
        "tuyet_mat is refused",
    )
    s.add_argument("--out", required=True, type=Path, help="where to copy the sealed PDF")
    s.add_argument(
        "--force",
        action="store_true",
        help="keep pages that fail a quality check instead of dropping them",
    )
    s.set_defaults(func=cmd_scan)

    r = sub.add_parser("run", help="start the kiosk service (UI on loopback)")
    r.add_argument("--port", type=int)
    r.set_defaults(func=lambda a: cmd_run(a, demo=False))

    d = sub.add_parser("demo", help="kiosk on simulated hardware with demo data")
    d.add_argument("--port", type=int)
    d.set_defaults(func=lambda a: cmd_run(a, demo=True))

    a = sub.add_parser("audit", help="audit log")
    a.add_argument("action", choices=["verify", "checkpoint", "show"])
    a.add_argument("--hub", action="store_true", help="verify: also against the hub's anchor")
    a.add_argument("--doc", help="show: only this document")
    a.add_argument("--limit", type=int)
    a.set_defaults(func=cmd_audit)

    c = sub.add_parser("config", help="show the effective configuration")
    c.add_argument("--explain", action="store_true", help="print every setting, documented")
    c.set_defaults(func=cmd_config)

    dr = sub.add_parser("doctor", help="check camera, pedal, LEDs, OCR data, disk")
    dr.add_argument("--lang", choices=["vi", "en"])
    dr.set_defaults(func=cmd_doctor)

    st = sub.add_parser("selftest", help="can this release work: catalog, capture, OCR, disk")
    st.set_defaults(func=cmd_selftest)

    op = sub.add_parser("operator", help="touchscreen operator accounts (code + PIN)")
    op.add_argument("action", choices=["add", "list", "disable", "enable", "unlock", "reset-pin"])
    op.add_argument("code", nargs="?", help="staff code (3-12 digits)")
    op.add_argument("--name", help="add: full name")
    op.add_argument("--role", choices=["operator", "archivist", "maintainer"], default="operator")
    op.set_defaults(func=cmd_operator)

    for module in (
        "firmware.cli.export",
        "firmware.cli.metadata",
        "firmware.cli.uplink",
        "firmware.cli.register",
        "provisioning.hub.cli",
        "firmware.cli.coversheet",
        "provisioning.agent.cli",
        "provisioning.release.cli",
        "provisioning.hub.fleet_cli",
    ):
        try:
            mod = __import__(module, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.register(sub)

    rc = sub.add_parser("recover", help="repair after a power cut and finish interrupted work")
    rc.set_defaults(func=cmd_recover)
    return p


#: Commands that read or write the kiosk's data directory without being the kiosk itself.
#: Only ``run``, ``demo`` and ``scan`` may start a new one (issue 16: run from another
#: folder, ``sohoa doctor`` quietly created ./var and reported all fine).
DATA_COMMANDS = {
    "audit",
    "doctor",
    "operator",
    "recover",
    "register",
    "progress",
    "enroll",
    "queue",
    "export",
}


def refuse_missing_default_data_dir(args: argparse.Namespace) -> str:
    """The refusal (naming the directory) when a data command would create the default
    ``./var`` here; empty when the command may go on. A data directory named by
    ``--data-dir``, ``SOHOA_DATA_DIR`` or a configuration file is the operator's choice."""
    if args.command not in DATA_COMMANDS:
        return ""
    settings = settings_from_args(args)
    default = Settings.model_fields["data_dir"].default
    where = Path(settings.data_dir).resolve()
    if Path(settings.data_dir) != Path(default) or where.exists():
        return ""
    return (
        f"Không có thư mục dữ liệu {where} (mặc định ./var của thư mục hiện tại); hãy chỉ rõ "
        f"bằng --data-dir hoặc --config, hoặc chạy trong thư mục của máy.\n"
        f"No data directory {where} (the default ./var of the current folder); name it with "
        f"--data-dir or --config, or run from the kiosk's folder. Nothing was created."
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        refused = refuse_missing_default_data_dir(args)
        if refused:
            print(refused, file=sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"Cấu hình sai / configuration error: {exc}", file=sys.stderr)
        return 2
    except KioskError as exc:
        print(f"{exc.message_vi}\n{exc.message_en} [{exc.code}]", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
