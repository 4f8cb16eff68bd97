"""Demo registers for ``sohoa demo``: a few hundred plausible entries of an incoming and an
outgoing register (2020-2025), plus the entries of the documents the demo itself sealed
(read from the sim camera's ground truth), so the Progress screen shows real matches.

The incoming register is written as a CSV into the data directory's ``import/`` folder
and imported from there, the way an archivist would; the file stays for the import picker.
"""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

from firmware.register import matching
from firmware.register.hooks import choose_entry
from firmware.register.importer import import_register
from firmware.store.states import DOC_DIGITIZED
from sohoa_common.atomic import atomic_write_bytes

HEADER = [
    "Số đến",
    "Số, ký hiệu",
    "Ngày văn bản",
    "Cơ quan ban hành",
    "Trích yếu",
    "Loại văn bản",
    "Độ mật",
]
_TYPES = [
    ("Công văn", "{n}-CV/TU", "V/v triển khai công tác {t}"),
    ("Nghị quyết", "{n}-NQ/TU", "Nghị quyết về {t}"),
    ("Quyết định", "{n}/QĐ-UBND", "Quyết định về {t}"),
    ("Báo cáo", "{n}-BC/TU", "Báo cáo kết quả {t}"),
    ("Kế hoạch", "{n}-KH/TU", "Kế hoạch thực hiện {t}"),
    ("Thông báo", "{n}-TB/TU", "Thông báo kết luận về {t}"),
]
_TOPICS = [
    "số hóa tài liệu lưu trữ",
    "kiểm tra, giám sát năm",
    "xây dựng Đảng",
    "cải cách hành chính",
    "phát triển kinh tế - xã hội",
    "công tác cán bộ",
]
_ISSUERS = ["Tỉnh ủy Nam Định", "Ban Tổ chức Tỉnh ủy", "UBND tỉnh Nam Định", "Văn phòng Tỉnh ủy"]


def _rows(n: int, seed: int, years: tuple[int, int]) -> list[list[Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        name, fmt, subject = rng.choice(_TYPES)
        year = rng.randint(*years)
        rows.append(
            [
                i,
                fmt.format(n=rng.randint(1, 400)),
                f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{year}",
                rng.choice(_ISSUERS),
                subject.format(t=rng.choice(_TOPICS)),
                name,
                "Mật" if rng.random() < 0.05 else "Thường",
            ]
        )
    return rows


def _sealed_truth(kiosk: Any) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for doc in kiosk.catalog.list_documents(sorted(DOC_DIGITIZED)):
        pages = kiosk.catalog.pages(doc["id"])
        truth = kiosk.paths.frame_truth(doc["id"], pages[0]["id"]) if pages else None
        if truth is None or not truth.exists():
            continue
        fields = json.loads(truth.read_text(encoding="utf-8")).get("fields") or {}
        if fields.get("number_symbol") and fields.get("date"):
            out.append((doc["id"], fields))
    return out


def _csv(rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


def seed_demo_register(kiosk: Any) -> None:
    """Import the demo registers once and link the demo's sealed documents to them."""
    cat = kiosk.catalog
    if cat.db.execute("SELECT 1 FROM registers LIMIT 1").fetchone():
        return
    sealed = _sealed_truth(kiosk)
    incoming = _rows(360, 4, (2020, 2025))
    for _doc_id, f in sealed:
        d = f["date"].split("-")
        incoming.append(
            [
                len(incoming) + 1,
                f["number_symbol"],
                f"{d[2]}/{d[1]}/{d[0]}",
                f.get("issuer", ""),
                f.get("subject", ""),
                f.get("type", ""),
                "Thường",
            ]
        )
    folder = Path(kiosk.settings.data_dir) / "import"
    den = atomic_write_bytes(folder / "so-van-ban-den-2020-2025.csv", _csv(incoming))
    di = atomic_write_bytes(
        folder / "so-van-ban-di-2020-2025.csv", _csv(_rows(140, 5, (2020, 2025)))
    )
    types = kiosk.settings.metadata.document_types
    import_register(cat, den, name="Sổ văn bản đến", direction="in", actor="demo", types=types)
    import_register(cat, di, name="Sổ văn bản đi", direction="out", actor="demo", types=types)
    for doc_id, f in sealed:  # the demo plays the clerk who confirms the entry
        found = [
            c
            for c in matching.candidates(cat, number_symbol=f["number_symbol"], date=f["date"])
            if c.exact
        ]
        if found and found[0].entry["document_id"] is None:
            choose_entry(cat, doc_id, found[0].entry["id"], "demo")
