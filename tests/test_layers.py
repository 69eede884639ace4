"""The house keeps its shape: imports between naiad's packages only point down the layers of
docs/architecture.md, and no modules import each other in a circle.

Every import counts, at the top of a module or inside a function (a deferred import is still a
dependency), and under ``TYPE_CHECKING`` too (a type is a dependency of the code that names it)."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "naiad"

# bottom to top; a package may import its own modules and those of lower layers, nothing else
LAYERS: list[set[str]] = [
    {"errors", "config", "version"},        # 0: the exception tree, the settings table, the version
    {"core"},                               # 1: fields, ops, the op log, the query language
    {"store"},                              # 2: the store protocol and its backends
    {"tracking"},                           # 3: the SDK
    {"data", "neptune_compat"},             # 4: data profiles and drift; neptune's module names
    {"registry"},                           # 5
    {"monitoring"},                         # 6
    {"gate"},                               # 7
    {"importers", "integrations"},          # 8
    {"server"},                             # 9
    {"", "cli", "__main__"},                # 10: naiad itself (the public API) and the command line over it
]
# packages of one layer that may import each other: layer 0, and the command line with the public API
GROUP = {"errors": "base", "config": "base", "version": "base", "": "api", "cli": "api", "__main__": "api"}

# imports that point up a layer on purpose: documented plug-in points (docs/architecture.md)
PLUG_INS: set[tuple[str, str]] = set()


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the naiad modules it imports (``from naiad.x import name`` counts as naiad.x, or as
    naiad.x.name when that is a module)."""
    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else [base, *subs]
            for target in targets:
                found = resolve(target) if target.startswith("naiad") else None
                if found and found != mod:
                    edges[mod].add(found)
    return edges


def top(mod: str) -> str:
    """naiad.store.sql → store; naiad.errors → errors; naiad → ''."""
    return mod.split(".")[1] if "." in mod else ""


def layer_of(mod: str) -> int:
    for i, packages in enumerate(LAYERS):
        if top(mod) in packages:
            return i
    raise AssertionError(f"{mod} is in no layer: add its package to LAYERS (and docs/architecture.md)")


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_is_in_a_layer() -> None:
    for mod in modules():
        layer_of(mod)


def test_imports_only_point_down_the_layers() -> None:
    up = []
    for mod, targets in sorted(imports(modules()).items()):
        for target in sorted(targets):
            same = GROUP.get(top(mod), top(mod)) == GROUP.get(top(target), top(target))
            if not same and layer_of(target) >= layer_of(mod) and (mod, target) not in PLUG_INS:
                up.append(f"{mod} (layer {layer_of(mod)}) imports {target} (layer {layer_of(target)})")
    assert not up, "imports that do not point down a layer:\n  " + "\n  ".join(up)


def test_no_import_cycles() -> None:
    found = cycles(imports(modules()))
    assert not found, "import cycles:\n  " + "\n  ".join(" ↔ ".join(sorted(c)) for c in found)


def test_the_check_sees_cycles_and_climbs() -> None:
    # the checker itself: a made-up graph with one cycle and one import up a layer
    edges = {"naiad.core.a": {"naiad.core.b"}, "naiad.core.b": {"naiad.core.a", "naiad.store.x"}}
    assert cycles(edges) == [{"naiad.core.a", "naiad.core.b"}]
    assert layer_of("naiad.store.x") > layer_of("naiad.core.b")


UI = PACKAGE.parent.parent / "ui" / "src"
UI_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s+["'](\.{1,2}/[^"']+)["']""", re.M | re.S)


def ui_imports() -> dict[str, set[str]]:
    """The web UI's modules (ui/src, relative to it, without the extension) → those they import."""
    sources = {p.relative_to(UI).with_suffix("").as_posix(): p for p in UI.rglob("*.ts*")}
    edges: dict[str, set[str]] = defaultdict(set)
    for mod, path in sources.items():
        for spec in UI_IMPORT.findall(path.read_text()):
            target = (path.parent / spec).resolve().relative_to(UI.resolve()).as_posix()
            assert target in sources, f"ui/src/{mod} imports {spec}, which is no module of ui/src"
            edges[mod].add(target)
    return edges


def test_ui_has_no_import_cycles_and_pages_stand_apart() -> None:
    # the web UI keeps the same shape: api/format/router/hooks at the bottom, components over
    # them, pages over components, App over pages; no circle, and no page imports another page
    edges = ui_imports()
    assert "pages/Runs" in edges and "api" in edges["pages/Runs"]  # the parser sees the UI's imports
    found = cycles(edges)
    assert not found, "web UI import cycles:\n  " + "\n  ".join(" ↔ ".join(sorted(c)) for c in found)
    crossing = [f"{m} imports {t}" for m, ts in sorted(edges.items()) for t in sorted(ts)
                if (m.startswith("components/") and t.startswith("pages/"))
                or (m.startswith("pages/") and t.startswith("pages/"))]
    assert not crossing, "web UI imports that cross its layers:\n  " + "\n  ".join(crossing)


ADAPTERS = ("naiad.server.neptune", "naiad.server.mlflow")  # protocol adapters: docs/architecture.md


def test_protocol_adapters_stand_apart() -> None:
    # an adapter speaks one tool's wire protocol over the store; it never reaches into another adapter
    mods = modules()
    assert all(a in mods for a in ADAPTERS), "a protocol adapter's package is gone: update ADAPTERS"

    def adapter(mod: str) -> str | None:
        return next((a for a in ADAPTERS if mod == a or mod.startswith(a + ".")), None)

    crossing = [f"{m} imports {t}" for m, ts in sorted(imports(mods).items()) for t in sorted(ts)
                if adapter(m) and adapter(t) and adapter(m) != adapter(t)]
    assert not crossing, "protocol adapters importing each other:\n  " + "\n  ".join(crossing)


MAX_LINES = 550  # a module past this does more than one thing: split it by concern


def test_no_god_modules() -> None:
    big = {mod: n for mod, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines (split them by concern): {big}"
    # "utils" names no concern; the one so named is neptune's module name (naiad.utils), kept for its users
    assert [m for m in modules() if m.rsplit(".", 1)[-1] == "utils"] == ["naiad.neptune_compat.utils"]
