"""Read a device's options from ``scanimage -A`` and turn ScanSettings into arguments.

Backends name the same thing differently: the duplex feeder is "ADF Duplex" (fujitsu,
canon_dr, airscan), "Duplex" (hpaio), or "Automatic Document Feeder" plus
``--adf-mode Duplex`` (epson2); colour is "Color" or "24bit Color" (brother). So the kiosk
never hard-codes option values: it asks the device what it offers and picks from that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from drivers.scanner.base import MIN_DPI, PAPER_MM, ScanSettings
from drivers.scanner.errors import ScannerError

_FLAGS = {"inactive", "advanced", "hardware", "read-only", "emulated", "automatic", "software"}
_OPTION_LINE = re.compile(r"^ {2,6}(?P<name>--?[A-Za-z0-9][\w-]*)(?P<rest>.*)$")
_TRAILING_BRACKET = re.compile(r"\s*\[(?P<inner>[^\[\]]*)\]\s*$")
_RANGE = re.compile(
    r"^(?P<lo>-?\d+(?:\.\d+)?)\.\.(?P<hi>-?\d+(?:\.\d+)?)(?P<unit>[a-z%]*)(?:,\.\.\.)?"
    r"(?:\s+\(in steps of (?P<step>[\d.]+)\))?$"
)
_UNIT_SUFFIX = re.compile(r"^(?P<num>-?\d+(?:\.\d+)?)(?:dpi|mm|pel|bit|us|%)?$")


@dataclass(frozen=True)
class Option:
    """One option line of ``scanimage -A``: its allowed values and current value."""

    name: str
    choices: tuple[str, ...] = ()
    range: tuple[float, float] | None = None
    current: str | None = None
    flags: frozenset[str] = frozenset()

    @property
    def active(self) -> bool:
        return "inactive" not in self.flags

    def numeric_choices(self) -> list[float]:
        values = []
        for choice in self.choices:
            m = _UNIT_SUFFIX.match(choice)
            if m:
                values.append(float(m["num"]))
        return values


@dataclass(frozen=True)
class Capabilities:
    """The options a device offers, keyed by option name without dashes (``source``, ``x``)."""

    options: dict[str, Option] = field(default_factory=dict)

    def get(self, name: str) -> Option | None:
        option = self.options.get(name)
        return option if option is not None and option.active else None


def parse_options(text: str) -> Capabilities:
    """Parse the device-specific part of ``scanimage -d DEV -A`` output."""
    options: dict[str, Option] = {}
    for raw in text.splitlines():
        m = _OPTION_LINE.match(raw)
        if not m:
            continue  # group titles and descriptions (indented 8) do not start with a dash
        name = m["name"].lstrip("-")
        rest = m["rest"]
        rest = re.sub(r"^\[=\((?P<vals>[^)]*)\)\]", lambda b: " " + b["vals"], rest)
        brackets: list[str] = []
        while b := _TRAILING_BRACKET.search(rest):
            brackets.insert(0, b["inner"])
            rest = rest[: b.start()]
        if not brackets:
            continue  # --print-options, or a line we do not understand
        flags = frozenset(x for x in brackets if x in _FLAGS)
        values = [x for x in brackets if x not in _FLAGS]
        constraint = rest.strip()
        choices: tuple[str, ...] = ()
        span: tuple[float, float] | None = None
        if r := _RANGE.match(constraint):
            span = (float(r["lo"]), float(r["hi"]))
        elif "|" in constraint:
            parts = constraint.split("|")
            last = parts[-1]
            if re.match(r"^-?\d+(?:\.\d+)?(dpi|mm|pel|bit|us|%)$", last):
                parts[-1] = re.sub(r"(dpi|mm|pel|bit|us|%)$", "", last)
            choices = tuple(parts)
        options[name] = Option(name, choices, span, values[0] if values else None, flags)
    return Capabilities(options)


@dataclass(frozen=True)
class ScanPlan:
    """The scanimage arguments for one scan and what they mean for the frames."""

    args: tuple[str, ...]
    dpi: int
    duplex: bool
    feeder: bool


def _pick_named(choices: tuple[str, ...], wanted: str, avoid: tuple[str, ...] = ()) -> str | None:
    """Exact (case-insensitive) match, else the shortest choice containing ``wanted``."""
    for choice in choices:
        if choice.lower() == wanted:
            return choice
    hits = [c for c in choices if wanted in c.lower() and not any(a in c.lower() for a in avoid)]
    return min(hits, key=len) if hits else None


def _is_feeder(choice: str) -> bool:
    low = choice.lower()
    return "adf" in low or "feeder" in low or "automatic document" in low


def _source_args(caps: Capabilities, source: str) -> tuple[list[str], bool, bool]:
    """(arguments, duplex, feeder) that select ``source`` on this device."""
    option = caps.get("source")
    if option is None or not option.choices:
        if source == "flatbed":
            return [], False, False
        raise ScannerError(
            "invalid",
            "This scanner has no document feeder: choose the flatbed in the settings.",
            "Máy quét này không có khay nạp giấy, hãy chọn quét trên mặt kính.",
            detail=f"device offers no --source option, cannot select {source}",
        )
    choices = option.choices
    if source == "flatbed":
        pick = next(
            (c for c in choices if any(k in c.lower() for k in ("flatbed", "platen", "table"))),
            None,
        )
        if pick is None:
            raise ScannerError(
                "invalid",
                "This scanner has no flatbed glass: choose the document feeder (ADF).",
                "Máy quét này không có mặt kính, hãy chọn quét bằng khay nạp giấy (ADF).",
                detail=f"no flatbed among sources {list(choices)}",
            )
        return ["--source", pick], False, False
    simplex = [c for c in choices if _is_feeder(c) and "duplex" not in c.lower()]
    simplex = [c for c in simplex if "back" not in c.lower()] or simplex
    if source == "adf":
        if not simplex:
            raise ScannerError(
                "invalid",
                "This scanner has no document feeder: choose the flatbed in the settings.",
                "Máy quét này không có khay nạp giấy, hãy chọn quét trên mặt kính.",
                detail=f"no feeder among sources {list(choices)}",
            )
        front = [c for c in simplex if "front" in c.lower()]
        return ["--source", min(front or simplex, key=len)], False, True
    duplex = [c for c in choices if "duplex" in c.lower()]
    if duplex:
        return ["--source", min(duplex, key=len)], True, True
    # epson2 marks --adf-mode inactive until the feeder is the source; scanimage applies
    # arguments in order, so it is active by the time it is set after --source.
    adf_mode = caps.options.get("adf-mode")
    if simplex and adf_mode is not None:
        mode = _pick_named(adf_mode.choices, "duplex")
        if mode is not None:
            return ["--source", min(simplex, key=len), "--adf-mode", mode], True, True
    raise ScannerError(
        "invalid",
        "This scanner cannot scan both sides: choose one-sided feeder scanning.",
        "Máy quét này không quét được hai mặt, hãy chọn quét một mặt bằng khay nạp giấy.",
        detail=f"no duplex among sources {list(choices)}",
    )


def _resolution(caps: Capabilities, dpi: int) -> int:
    """The device resolution closest to ``dpi`` that is not below it (nor below MIN_DPI)."""
    option = caps.get("resolution")
    if option is None:
        return dpi
    chosen: float = dpi
    if option.range is not None:
        lo, hi = option.range
        chosen = min(max(dpi, lo), hi)
    elif option.choices:
        values = sorted(option.numeric_choices())
        at_least = [v for v in values if v >= dpi]
        chosen = at_least[0] if at_least else values[-1]
    if chosen < MIN_DPI:
        raise ScannerError(
            "invalid",
            detail=f"device resolution tops out at {chosen:g} dpi, archival copies need {MIN_DPI}",
        )
    return int(round(chosen))


def _geometry_args(caps: Capabilities, paper: str) -> list[str]:
    """Scan area = the paper at 100 % scale, clipped to what the device reaches."""
    width, height = PAPER_MM[paper]
    args: list[str] = []
    for name, value in (("page-width", width), ("page-height", height)):
        option = caps.get(name)
        if option is not None and option.range is not None:
            args += [f"--{name}", f"{min(value, option.range[1]):g}"]
    for name, value in (("l", 0.0), ("t", 0.0), ("x", width), ("y", height)):
        option = caps.get(name)
        if option is not None and option.range is not None:
            lo, hi = option.range
            args += [f"-{name}", f"{min(max(value, lo), hi):g}"]
    return args


def plan_scan(caps: Capabilities, settings: ScanSettings) -> ScanPlan:
    """Translate ScanSettings into scanimage arguments this device accepts."""
    args, duplex, feeder = _source_args(caps, settings.source)
    mode = caps.get("mode")
    if mode is not None and mode.choices:
        wanted = "color" if settings.mode == "color" else "gray"
        pick = _pick_named(mode.choices, wanted, avoid=("lineart", "halftone"))
        if pick is None and wanted == "color":
            pick = _pick_named(mode.choices, "colour")
        if pick is None and wanted == "gray":
            pick = _pick_named(mode.choices, "grey")
        if pick is None:
            raise ScannerError("invalid", detail=f"no {wanted} mode among {list(mode.choices)}")
        args += ["--mode", pick]
    depth = caps.get("depth")
    if depth is not None and "8" in depth.choices:
        args += ["--depth", "8"]  # 16-bit PNM is twice the data for no archival gain
    dpi = _resolution(caps, settings.dpi)
    if caps.get("resolution") is not None:
        args += ["--resolution", str(dpi)]
    args += _geometry_args(caps, settings.paper)
    return ScanPlan(tuple(args), dpi, duplex, feeder)
