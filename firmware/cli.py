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

from firmware.config import ConfigError, Settings, explain, load_settings
from firmware.errors import KioskError


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return load_settings(getattr(args, "config", None), **overrides)


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
    settings = _settings(
        args, camera=camera_over, pedal={"backend": "none"}, leds={"backend": "none"}
    )
    scanner = camera = None
    if args.scanner:
        from drivers.scanner import SaneScanner, ScannerError
        from firmware.devices import scan_settings

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
        doc = kiosk.seal(doc["id"], "cli", title=args.title)
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        pdf = out_dir / Path(doc["pdf_path"]).name
        shutil.copyfile(doc["pdf_path"], pdf)
        shutil.copyfile(kiosk.paths.sealed_sidecar(doc["id"]), pdf.with_suffix(".json"))
        if problems:
            for p in problems:
                print(p, file=sys.stderr)
        print(pdf)
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
    from firmware.catalog import Catalog
    from firmware.paths import DataPaths

    settings = _settings(args)
    path = DataPaths(Path(settings.data_dir)).catalog
    if not path.exists():
        print(f"no catalog at {path}", file=sys.stderr)
        return 2
    cat = Catalog(path)
    try:
        if args.action == "verify":
            v = cat.verify_audit()
            if v.ok:
                print(f"OK: {v.records} records, head {v.head}")
                return 0
            print(f"BROKEN at record {v.bad_seq}: {v.problem}", file=sys.stderr)
            return 1
        for r in cat.audit_records(doc_id=args.doc, limit=args.limit):
            print(json.dumps(r, ensure_ascii=False))
        return 0
    finally:
        cat.close()


def cmd_config(args: argparse.Namespace) -> int:
    if args.explain:
        sys.stdout.write(explain())
        return 0
    settings = _settings(args)
    print(json.dumps(settings.model_dump(mode="json"), indent=2, ensure_ascii=False))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from firmware.doctor import print_report, run_checks

    settings = _settings(args)
    checks = run_checks(settings)
    print_report(checks, lang=args.lang or settings.language)
    return 0 if all(c.ok for c in checks) else 1


def cmd_recover(args: argparse.Namespace) -> int:
    from firmware.kiosk import Kiosk
    from firmware.recovery import recover

    settings = _settings(args)
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
        from firmware.demo_export import export_overrides

        data_dir = args.data_dir or "./var/demo"
        overrides.update(
            data_dir=data_dir,
            camera={"backend": "sim"},
            pedal={"backend": "mock"},
            leds={"backend": "mock"},
            export=export_overrides(data_dir),
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

    from firmware.catalog import Catalog
    from firmware.operators import Operators
    from firmware.paths import DataPaths

    settings = _settings(args)
    cat = Catalog(DataPaths(Path(settings.data_dir)).ensure().catalog)
    try:
        ops = Operators(cat)
        if args.action == "list":
            for o in ops.list():
                print(f"{o.code}\t{o.role}\t{o.name}" + ("\t(disabled)" if o.disabled else ""))
            return 0
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
    a.add_argument("action", choices=["verify", "show"])
    a.add_argument("--doc", help="show: only this document")
    a.add_argument("--limit", type=int)
    a.set_defaults(func=cmd_audit)

    c = sub.add_parser("config", help="show the effective configuration")
    c.add_argument("--explain", action="store_true", help="print every setting, documented")
    c.set_defaults(func=cmd_config)

    dr = sub.add_parser("doctor", help="check camera, pedal, LEDs, OCR data, disk")
    dr.add_argument("--lang", choices=["vi", "en"])
    dr.set_defaults(func=cmd_doctor)

    op = sub.add_parser("operator", help="touchscreen operator accounts (code + PIN)")
    op.add_argument("action", choices=["add", "list"])
    op.add_argument("code", nargs="?", help="add: staff code (3-12 digits)")
    op.add_argument("--name", help="add: full name")
    op.add_argument("--role", choices=["operator", "archivist", "maintainer"], default="operator")
    op.set_defaults(func=cmd_operator)

    for module in (
        "firmware.cli_export",
        "firmware.cli_metadata",
        "firmware.cli_uplink",
        "firmware.cli_register",
        "firmware.cli_hub",
        "firmware.cli_coversheet",
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
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
