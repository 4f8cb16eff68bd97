"""``sohoa register ...`` and ``sohoa progress``: the register, selection rules, custody and
progress for archivists, from a terminal.

``register import`` prints a progress bar on stderr (tqdm) and the report on stdout: the
summary, then one line per rejected row ("dòng 12: Ngày không có thật / no such date").
Exit status: 0 every row taken, 3 some rows rejected (the others imported), 1 the file
was refused as a whole (nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from firmware.cli.args import settings_from_args
from firmware.config import Settings
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths


def _catalog(settings: Settings) -> Catalog:
    return Catalog(DataPaths(Path(settings.data_dir)).ensure().catalog)


class _Bar:
    """tqdm bar over rows read, then rows written (stderr, only for terminals)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar: Any = None
        self.phase = ""

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if phase != self.phase:
            self.close()
            desc = "Đọc tệp / reading" if phase == "read" else "Ghi sổ / writing"
            self.bar = tqdm(total=total, desc=desc, unit=" dòng", file=sys.stderr)
            self.phase = phase
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_import(args: argparse.Namespace) -> int:
    from firmware.metadata.party_codes import PartyCodesError, load_party_codes
    from firmware.register.importer import import_register

    settings = settings_from_args(args)
    codes = None
    if settings.metadata.party_codes_file:
        try:
            codes = load_party_codes(settings.metadata.party_codes_file)
        except PartyCodesError as exc:
            print(f"{exc.message_vi}\n{exc.message_en}", file=sys.stderr)
            return 1
    cat = _catalog(settings)
    bar = _Bar(sys.stderr.isatty() and not args.json)
    try:
        report = import_register(
            cat,
            args.file,
            name=args.name,
            direction=args.direction,
            mapping=args.map,
            dry_run=args.dry_run,
            actor="cli",
            types=settings.metadata.document_types,
            party_codes=codes,
            progress=bar,
        )
    finally:
        bar.close()
        cat.close()
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(report.summary("vi"))
        print(report.summary("en"))
        print(
            f"Tệp / file: {report.file} ({report.kind}, {report.encoding}), "
            f"tiêu đề cột ở dòng / header on line {report.header_line}; "
            f"{report.seconds:.2f} s"
        )
        for r in report.rejected:
            print(f"dòng {r.line}: {r.reason_vi} / line {r.line}: {r.reason_en}")
    return 3 if report.rejected else 0


def cmd_list(args: argparse.Namespace) -> int:
    from firmware.register.history import registers

    settings = settings_from_args(args)
    cat = _catalog(settings)
    try:
        rows = registers(cat)
    finally:
        cat.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("Chưa có sổ đăng ký nào / no register imported yet")
    for r in rows:
        way = "đến/in" if r["direction"] == "in" else "đi/out"
        print(
            f"{r['id']}\t{r['name']}\t{way}\t{r['entries']} dòng/entries\t"
            f"{r['matched']} đã khớp/matched\t{r['source_name']}\t{r['imported_at']}"
        )
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    from firmware.register import selection

    settings = settings_from_args(args)
    cat = _catalog(settings)
    try:
        if args.action == "add":
            rule = selection.add_rule(
                cat,
                "cli",
                date_from=args.date_from or "",
                date_to=args.date_to or "",
                doc_types=",".join(args.type or []),
                direction=args.direction,
                types=settings.metadata.document_types,
            )
            print(f"{rule.id}\t{rule.describe('vi')}")
            return 0
        if args.action == "remove":
            if args.id is None:
                print("sohoa register select remove ID", file=sys.stderr)
                return 2
            selection.remove_rule(cat, "cli", args.id)
            return 0
        rules = selection.all_rules(cat, settings)
    finally:
        cat.close()
    if not rules:
        print("Không có quy tắc: mọi văn bản đều được chọn / no rule: everything is selected")
    for r in rules:
        print(f"{r.id if r.id is not None else '-'}\t{r.source}\t{r.describe('vi')}")
    return 0


def cmd_custody(args: argparse.Namespace) -> int:
    from firmware.register.custody import check_out_entry, return_entry

    settings = settings_from_args(args)
    cat = _catalog(settings)
    try:
        if args.action == "checkout":
            check_out_entry(cat, args.entry, "cli")
        else:
            if return_entry(cat, args.entry, "cli") == 0:
                print("Bản gốc này không đang được mượn / not checked out", file=sys.stderr)
                return 1
    finally:
        cat.close()
    return 0


def _custody_lines(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in rows:
        who = r["out_by_name"] or r["out_by"]
        what = r["title"] or r["document_id"] or ""
        if r["number_symbol"]:
            what = f"{r['number_symbol']} ({r['register']}) {what}".strip()
        out.append(f"{r['out_at'][:16].replace('T', ' ')}\t{who}\t{what}")
    return out


def cmd_progress(args: argparse.Namespace) -> int:
    from firmware.register import selection
    from firmware.register.custody import not_returned
    from firmware.register.progress import register_progress

    settings = settings_from_args(args)
    cat = _catalog(settings)
    try:
        data = register_progress(
            cat,
            register=args.register,
            year_from=args.year_from,
            year_to=args.year_to,
            rules=selection.all_rules(cat, settings),
        )
        custody = not_returned(cat) if args.custody else None
    finally:
        cat.close()
    if args.json:
        if custody is not None:
            data["custody_not_returned"] = custody
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    if args.custody:
        if not custody:
            print("Mọi bản gốc đã được trả / every original is back")
        else:
            print(f"{len(custody)} bản gốc chưa trả / originals not returned:")
            for line in _custody_lines(custody):
                print("  " + line)
        return 0
    if not data["registers"]:
        print("Chưa có sổ đăng ký nào / no register imported yet (sohoa register import)")
        return 0
    print(data["summary_vi"])
    print(data["summary_en"])
    for reg in data["registers"]:
        way = "văn bản đến" if reg["direction"] == "in" else "văn bản đi"
        print(
            f"\n{reg['name']} ({way}): {reg['digitized']}/{reg['total']}, "
            f"còn lại / remaining {reg['remaining']} "
            f"(trong danh mục chọn / in the selection: {reg['selected_remaining']})"
        )
        for y in reg["years"]:
            print(f"  {y['year']}\t{y['digitized']}/{y['total']}\tcòn / left {y['remaining']}")
        for t in reg["types"]:
            name = t["doc_type"] or "(không rõ loại / no type)"
            print(f"  {name}\t{t['digitized']}/{t['total']}\tcòn / left {t['remaining']}")
    if data["top_secret_not_digitized"]:
        print(
            f"\n{data['top_secret_not_digitized']} văn bản Tuyệt mật không số hóa / "
            "top-secret entries are not digitized"
        )
    return 0


def register(sub: Any) -> None:
    """Add ``register`` and ``progress`` to the ``sohoa`` sub-commands."""
    from firmware.register.columns import FIELDS

    reg = sub.add_parser("register", help="document register: import, list, selection, custody")
    rs = reg.add_subparsers(dest="register_command", required=True)

    imp = rs.add_parser("import", help="import a register (CSV or XLSX)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--name", required=True, help="register name, e.g. 'Sổ văn bản đến'")
    imp.add_argument("--direction", required=True, choices=["in", "out"])
    imp.add_argument(
        "--map",
        action="append",
        metavar="FIELD=HEADER",
        help=f"column of a field when its header is not recognised; fields: {', '.join(FIELDS)}",
    )
    imp.add_argument("--dry-run", action="store_true", help="check the file, write nothing")
    imp.add_argument("--json", action="store_true", help="the report as JSON")
    imp.set_defaults(func=cmd_import)

    ls = rs.add_parser("list", help="registers with their entries and matches")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    sel = rs.add_parser("select", help="selection rules: which periods and types to digitize")
    sel.add_argument("action", choices=["add", "list", "remove"])
    sel.add_argument("id", nargs="?", type=int, help="remove: rule id")
    sel.add_argument("--from", dest="date_from", help="YYYY or YYYY-MM-DD")
    sel.add_argument("--to", dest="date_to", help="YYYY or YYYY-MM-DD")
    sel.add_argument("--type", action="append", help="document type code (repeatable)")
    sel.add_argument("--direction", choices=["in", "out"])
    sel.set_defaults(func=cmd_select)

    for action, text in (
        ("checkout", "take the original of a register entry out to the kiosk"),
        ("return", "return the original of a register entry to the archive"),
    ):
        c = rs.add_parser(action, help=text)
        c.add_argument("entry", type=int, help="register entry id")
        c.set_defaults(func=cmd_custody, action=action)

    pr = sub.add_parser("progress", help="digitized / total per register, year and type")
    pr.add_argument("--register", help="only this register (name)")
    pr.add_argument("--from", dest="year_from", type=int, metavar="YYYY")
    pr.add_argument("--to", dest="year_to", type=int, metavar="YYYY")
    pr.add_argument("--json", action="store_true")
    pr.add_argument("--custody", action="store_true", help="originals not returned")
    pr.set_defaults(func=cmd_progress)
