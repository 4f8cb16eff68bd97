"""The shapes of identifiers that end up in paths, file names and generated files.

Why one module: a document id becomes a folder name on the receiving office's disk, a kiosk
id is written into USBGuard rules and certificate names. Every place that accepts one from
outside (a manifest, the configuration, a request) checks it here, against one strict
pattern, instead of trusting that whoever made it used :func:`firmware.store.catalog.new_id`.
"""

from __future__ import annotations

import re
from pathlib import Path

#: Document, page and export ids (``D20250410-101500123-ab12``): letters, digits, ``-``, ``_``.
DOC_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
#: A plain file name inside an export folder (``<id>.p7m``, ``README.txt``): no separators,
#: no leading dot, so never ``.``, ``..`` or a hidden file.
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: A kiosk id (``xa-an-binh-01``): lower-case letters, digits and inner ``-``/``.``/``_``.
KIOSK_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")


def is_doc_id(value: object) -> bool:
    return isinstance(value, str) and bool(DOC_ID_RE.fullmatch(value))


def is_file_name(value: object) -> bool:
    return isinstance(value, str) and bool(FILE_NAME_RE.fullmatch(value)) and ".." not in value


def is_kiosk_id(value: object) -> bool:
    return isinstance(value, str) and bool(KIOSK_ID_RE.fullmatch(value))


def inside(root: Path, name: str) -> Path:
    """``root / name`` resolved, proven to lie inside ``root`` (resolved); ValueError if not.

    Checking the pattern is not enough on its own (a symlink planted in ``root`` points
    anywhere), so the resolved path is compared too."""
    base = root.resolve()
    path = (base / name).resolve()
    if path == base or not path.is_relative_to(base):
        raise ValueError(f"{name!r} would lie outside {base}")
    return path
