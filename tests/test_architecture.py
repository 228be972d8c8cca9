"""The layout is the architecture: each folder may import only what its rule allows (issue 15).

core/ is pure: it imports no edge, command, report or shell module, and none of the libraries that
do I/O. No import cycle among bricksync modules at module level. Read from the source with ast, so
a lazy import inside a function counts for the folder rule too (it would still couple core to I/O).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "bricksync"
ALLOWED = {  # folder -> the folders its modules may import
    "core": {"core"},
    "edges": {"core", "edges"},
    "commands": {"core", "edges", "commands"},
    "reports": {"core", "reports"},
    "emulator": {"emulator", "core"},  # the fake service may reuse pure tables (schema, references)
}
SHELLS = {"cli", "demo", "project"}  # top-level modules: may import anything; no folder imports them
# libraries that do I/O (or drive a terminal / the network); core must not import them
CORE_FORBIDDEN = ("databricks", "git", "subprocess", "requests", "socket", "http", "urllib.request", "shutil",
                  "tempfile", "multiprocessing", "click", "rich", "concurrent")
CORE_ALLOWED_PREFIXES = ("databricks.sdk.service.",)  # generated types only (schema.py), never the client
CORE_FORBIDDEN_NAMES = {("pathlib", "Path")}  # PurePath/PurePosixPath are fine; Path reads and writes


def module_name(path: Path) -> tuple[str, bool]:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(source: str, mod: str, is_pkg: bool, known: set[str]) -> list[tuple[str, int, bool, str | None]]:
    """(imported module, line, at module level, imported name) for every import outside TYPE_CHECKING."""
    out: list[tuple[str, int, bool, str | None]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for sub in child.orelse:
                    visit(sub, top)
                continue
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, top, None) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    parts = parts[:len(parts) - (child.level - 1)]
                    base = ".".join(parts + ([child.module] if child.module else []))
                for a in child.names:
                    sub = f"{base}.{a.name}"
                    out.append((sub if sub in known else base, child.lineno, top, a.name))
            inner_top = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, inner_top)

    visit(ast.parse(source), True)
    return out


def load(root: Path = SRC) -> dict[str, tuple[str, bool]]:
    mods = {}
    for path in sorted(root.rglob("*.py")):
        name, is_pkg = module_name(path)
        mods[name] = (path.read_text(), is_pkg)
    return mods


def folder_of(mod: str) -> str | None:
    parts = mod.split(".")
    if len(parts) >= 2 and parts[1] in ALLOWED:
        return parts[1]
    return None


def layer_violations(mods: dict[str, tuple[str, bool]]) -> list[str]:
    known = set(mods)
    bad = []
    for mod, (source, is_pkg) in mods.items():
        folder = folder_of(mod)
        if folder is None:
            continue  # a shell (cli, demo, project) or the package itself
        for target, line, _top, name in imports(source, mod, is_pkg, known):
            where = f"{mod}:{line} imports {target}"
            if target == "bricksync" or target.startswith("bricksync."):
                if target == "bricksync" and name not in {m.split(".")[-1] for m in known}:
                    continue  # `from .. import __version__`
                other = folder_of(target)
                if other is None:
                    bad.append(f"{where}: a folder module must not import a shell ({', '.join(sorted(SHELLS))})")
                elif other not in ALLOWED[folder]:
                    bad.append(f"{where}: {folder}/ may import only {', '.join(sorted(ALLOWED[folder]))}")
            elif folder == "core":
                if target.startswith(CORE_ALLOWED_PREFIXES):
                    continue
                if any(target == f or target.startswith(f + ".") for f in CORE_FORBIDDEN) or (
                        (target, name) in CORE_FORBIDDEN_NAMES):
                    bad.append(f"{where}{'.' + name if name else ''}: core is pure (no I/O libraries)")
    return bad


def cycles(mods: dict[str, tuple[str, bool]], *, module_level_only: bool = True) -> list[list[str]]:
    known = set(mods)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, (source, is_pkg) in mods.items():
        for target, _line, top, _name in imports(source, mod, is_pkg, known):
            if target in known and target != mod and (top or not module_level_only):
                graph[mod].add(target)
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for mod in sorted(graph):
        if mod not in state:
            dfs(mod)
    return found


def test_each_folder_imports_only_what_its_rule_allows():
    assert layer_violations(load()) == []


def test_no_import_cycle_at_module_level():
    assert cycles(load()) == []


def test_no_import_cycle_even_through_lazy_imports():
    assert cycles(load(), module_level_only=False) == []


def test_the_checks_can_fail():
    fake = {
        "bricksync": ("", True),
        "bricksync.core": ("", True),
        "bricksync.edges": ("", True),
        "bricksync.core.pure": ("from ..edges import state\n", False),
        "bricksync.core.lazy": ("def f():\n    from ..edges.state import x\n", False),
        "bricksync.core.io": ("import subprocess\nfrom pathlib import Path\n", False),
        "bricksync.core.typed": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                 "    from ..edges.state import x\n", False),
        "bricksync.edges.state": ("from ..cli import main\n", False),
        "bricksync.cli": ("from .core import a\n", False),
        "bricksync.core.a": ("from . import b\n", False),
        "bricksync.core.b": ("from .a import x\n", False),
    }
    bad = layer_violations(fake)
    assert any(v.startswith("bricksync.core.pure:1 imports bricksync.edges.state") for v in bad)
    assert any(v.startswith("bricksync.core.lazy:2 ") for v in bad)
    assert any("subprocess" in v for v in bad) and any("Path" in v for v in bad)
    assert not any("core.typed" in v for v in bad)
    assert any("must not import a shell" in v for v in bad)
    assert ["bricksync.core.a", "bricksync.core.b", "bricksync.core.a"] in cycles(fake)
