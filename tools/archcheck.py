"""Check the habits of the code's architecture: no import circles, no cross-module private calls.

    python tools/archcheck.py            # prints every finding, exits 1 if there is one

Import circles are looked for among the project's modules, counting imports inside
functions too (an import moved into a function to dodge a circle is still a circle). A
private name (``_x``) may be used only inside the module that defines it: ``from m import _x``
from another module, or ``obj._x`` on anything but ``self``/``cls``, is a finding.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("firmware", "drivers", "kiosk_ui", "provisioning", "sohoa_common")
# Private-looking names that are public API of the standard library or of libraries.
ALLOWED_ATTRS = {
    "_replace",
    "_asdict",
    "_fields",
    "_make",
    "_field_defaults",  # namedtuple
    "_exit",
    "_getframe",
    "_current_frames",  # os / sys
    "_value_",
    "_name_",
    "_missing_",
    "_member_map_",  # enum
    "_",  # gettext: tr._("...") is the conventional translation call
    "_Element",  # lxml: etree._Element is its public element type
}


@dataclass(frozen=True)
class Finding:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _resolve(current: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (annotations only, no runtime import)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) in (
                "TYPE_CHECKING",
                "typing.TYPE_CHECKING",
            ):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def imports_of(
    name: str, path: Path, known: dict[str, Path]
) -> Iterator[tuple[str, int, list[str]]]:
    """(imported module, line, names imported from it) for every import in the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, node.lineno, []
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_pkg, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    yield sub, node.lineno, []
                elif base in known:
                    yield base, node.lineno, [alias.name]


def import_cycles(known: dict[str, Path]) -> list[Finding]:
    graph: dict[str, set[str]] = {m: set() for m in known}
    for name, path in known.items():
        for target, _, _ in imports_of(name, path, known):
            # a package's own __init__ importing its submodules is how packages work
            if target != name and not (name and target.startswith(name + ".")):
                graph[name].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    sccs: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:  # Tarjan, iterative enough for this graph's depth
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            strong(v)
    return [Finding("import circle", " <-> ".join(c)) for c in sccs]


def private_uses(known: dict[str, Path]) -> list[Finding]:
    out: list[Finding] = []
    for name, path in known.items():
        rel = path.relative_to(ROOT)
        for target, line, names in imports_of(name, path, known):
            for n in names:
                if n.startswith("_") and not n.startswith("__") and target != name:
                    out.append(Finding(f"{rel}:{line}", f"imports private {target}.{n}"))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            attr = node.attr
            if not attr.startswith("_") or attr.startswith("__") or attr in ALLOWED_ATTRS:
                continue
            base = node.value
            if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                continue
            if (
                isinstance(base, ast.Call)
                and isinstance(base.func, ast.Name)
                and base.func.id == "super"
            ):
                continue
            out.append(
                Finding(f"{rel}:{node.lineno}", f"uses private .{attr} of {ast.unparse(base)}")
            )
    return out


def findings() -> list[Finding]:
    known = modules()
    return import_cycles(known) + private_uses(known)


def key(f: Finding) -> str:
    """A finding without its line number, as listed in the baseline file."""
    return f"{f.where.split(':')[0]}: {f.what}"


BASELINE = Path(__file__).with_name("archcheck-baseline.txt")


def baseline() -> set[str]:
    """Findings known when the check was introduced, each to be removed once fixed."""
    lines = BASELINE.read_text(encoding="utf-8").splitlines() if BASELINE.exists() else []
    return {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}


def main() -> int:
    found = findings()
    for f in found:
        print(f)
    print(f"{len(found)} finding(s) in {len(modules())} modules")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
