"""Reading a TOML settings file so that every error names ``file:line: reason``.

A person fixes a settings file by opening it at a line. The kiosk (``sohoa.toml``) and the
fleet hub (``hub.toml``) both validate their files with pydantic; this module turns TOML
syntax errors and pydantic's first validation error into one :class:`ConfigError` that carries
the file, the line of the offending key (or of its section), and a plain reason.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError


class ConfigError(Exception):
    """A configuration problem a person can fix: carries file, line and reason."""

    def __init__(self, message: str, path: Path | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line
        self.reason = message


def line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of the key at ``loc`` (e.g. ('camera', 'backend')).

    Falls back to the line of the key's section, so an error is never without a place when
    the section is in the file.
    """
    keys = [str(k) for k in loc if not isinstance(k, int)]
    if not keys:
        return None
    want_section, want_key = (keys[0], keys[1]) if len(keys) > 1 else (None, keys[0])
    section: str | None = None
    section_line = None
    for i, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        m = re.match(r"^\[([^\]]+)\]", line)
        if m:
            section = m.group(1).strip()
            if section == want_section or (want_section is None and section == want_key):
                section_line = i  # a whole-section problem points at its header
            continue
        m = re.match(r"^([A-Za-z0-9_\-\"']+)\s*=", line)
        if m and m.group(1).strip("\"'") == want_key and section == want_section:
            return i
    return section_line


def read_toml(path: Path, missing_hint: str = "") -> tuple[dict[str, Any], str]:
    """Parse ``path``; return its data and its text (for :func:`line_of`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("configuration file not found" + missing_hint, path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", path) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(m.group(1)) if m else None
        raise ConfigError(f"TOML syntax error: {exc}", path, line) from None


def merge_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Apply keyword overrides over the file's data, section by section."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def validation_error(
    exc: ValidationError, path: Path | None, text: str, unknown_hint: str = ""
) -> ConfigError:
    """The first pydantic error as a :class:`ConfigError` at its line in ``text``."""
    err = exc.errors()[0]
    loc = tuple(err.get("loc", ()))
    dotted = ".".join(str(x) for x in loc)
    msg = err.get("msg", "invalid value")
    if err.get("type") == "extra_forbidden":
        msg = f"unknown setting (check the spelling{unknown_hint})"
    line = line_of(text, loc) if text else None
    if path is not None and line is None:  # not in the file: it came from elsewhere
        msg += " (set in the environment or on the command line, not in this file)"
    return ConfigError(f"{dotted}: {msg}", path, line)
