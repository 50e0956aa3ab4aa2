"""The shape of app/ (issue 16.8), read from the source:

- imports point down the layers of tests/data/architecture.yaml (web -> services -> meta / storage /
  query / events), with no cycle between units of one layer and none between app's packages, but for the
  known exceptions listed there (the to-do list, each naming its owner);
- no module in app/ is over 500 lines;
- `ruff check app`, `ruff format --check app` and `mypy` (configured in pyproject.toml) exit 0 —
  skipped when the tools are not installed, except in CI (PLATLOGS_CI=1), where that fails.

Imports are read with ast, every one of them: at the top, inside functions, under TYPE_CHECKING."""
from __future__ import annotations

import ast
import fnmatch
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
TABLE = Path(__file__).parent / "data" / "architecture.yaml"
MAX_LINES = 500


@dataclass(frozen=True)
class Import:
    source: str      # the importing module, "app.web.views"
    target: str      # the imported module, "app.search.service" (a name imported from a module resolves to it)
    line: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line} -> {self.target}"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(APP.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


@cache
def imports() -> tuple[Import, ...]:
    """Every import of app/ by app/, resolved to the module it names."""
    mods = modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:       # `from .x import y`: y is a module or a name in x
            name = name.rpartition(".")[0]
        return name or None

    found = []
    for name, path in mods.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[:len(package) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                # `from x import y`: y is the module x.y when there is one, else a name in x
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in mods else module for a in node.names]
            else:
                continue
            for target in targets:
                if target == "app" or target.startswith("app."):
                    resolved = resolve(target)
                    if resolved and resolved != name:
                        found.append(Import(name, resolved, node.lineno))
    return tuple(sorted(set(found), key=lambda i: (i.source, i.line, i.target)))


@cache
def table() -> dict:
    return yaml.safe_load(TABLE.read_text(encoding="utf-8"))


def short(module: str) -> str:
    return "app" if module == "app" else module.removeprefix("app.")


def unit_of(module: str) -> tuple[str, int]:
    """The unit a module belongs to (the longest matching name) and its layer's rank (0 = top)."""
    name, best = short(module), None
    for rank, layer in enumerate(table()["layers"]):
        for unit in layer["units"]:
            if name == unit or name.startswith(unit + ".") or fnmatch.fnmatch(name, unit):
                length = len(unit.rstrip("*"))
                if best is None or length > best[0]:
                    best = (length, unit, rank)
    assert best is not None, f"{module} is in no layer of {TABLE.name}: add its package to a layer"
    return best[1], best[2]


def excused(imp: Import, entries: list[dict]) -> dict | None:
    for entry in entries:
        if imp.source == entry["from"] and (imp.target == entry["to"]
                                            or (entry["to"].endswith(".*")
                                                and imp.target.startswith(entry["to"][:-1]))):
            return entry
    return None


def upward(imp: Import) -> bool:
    (su, sr), (tu, tr) = unit_of(imp.source), unit_of(imp.target)
    return su != tu and tr < sr


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "app"


# --- the layers -------------------------------------------------------------------------------------

def test_the_reader_sees_imports_inside_functions_and_relative_ones():
    found = {(i.source, i.target) for i in imports()}
    # a relative import inside a function body (app/ingest/status.py's lag_text reads search.figures lazily)
    assert ("app.ingest.status", "app.search.figures") in found
    # `from ..storage import LogStore` resolves to the package, `from ..storage.base import X` to the module
    assert ("app.services", "app.storage") in found


def test_every_module_is_in_a_layer():
    for module in modules():
        unit_of(module)


def test_no_import_points_up_a_layer():
    wrong = [f"{i}  ({unit_of(i.source)[0]} may not import {unit_of(i.target)[0]})"
             for i in imports() if upward(i) and not excused(i, table()["known_exceptions"])]
    assert not wrong, "imports up the layers of tests/data/architecture.yaml:\n  " + "\n  ".join(wrong)


def test_no_cycle_between_units():
    edges: dict[str, set[str]] = defaultdict(set)
    for i in imports():
        if upward(i) or excused(i, table()["known_exceptions"]):
            continue                # an upward import is test_no_import_points_up_a_layer's to report
        su, tu = unit_of(i.source)[0], unit_of(i.target)[0]
        if su != tu:
            edges[su].add(tu)
    assert not cycles(edges), f"import cycles between units: {cycles(edges)}"


def test_no_cycle_between_packages():
    accepted = table()["known_package_cycles"]
    edges: dict[str, set[str]] = defaultdict(set)
    for i in imports():
        if excused(i, accepted):
            continue
        s, t = package(i.source), package(i.target)
        if s != t and t != "app":          # app/__init__ (create_app) is the top; `from app import x` is its own
            edges[s].add(t)
    found = cycles(edges)
    detail = [f"{c}: " + "; ".join(str(i) for i in imports()
                                    if package(i.source) in c and package(i.target) in c
                                    and package(i.source) != package(i.target)) for c in found]
    assert not found, "import cycles between app's packages:\n  " + "\n  ".join(detail)


def test_every_known_exception_still_matches_an_import():
    """An exception whose import is gone is removed from the list (it is the to-do list)."""
    stale = [e for e in table()["known_exceptions"] + table()["known_package_cycles"]
             if not any(excused(i, [e]) for i in imports())]
    assert not stale, f"remove from {TABLE.name}: {stale}"


def test_the_layer_rules_would_catch_an_upward_import():
    assert upward(Import("app.storage.sqlite", "app.web.views", 1))
    assert upward(Import("app.meta.db", "app.alerts.actions", 1))
    assert upward(Import("app.events.convert", "app.services", 1))
    assert not upward(Import("app.web.views", "app.search.service", 1))
    assert not upward(Import("app.alerts.actions", "app.meta.db", 1))
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# --- size -------------------------------------------------------------------------------------------

def test_no_module_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in modules().values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split by responsibility): {long}"


# --- ruff and mypy ----------------------------------------------------------------------------------

def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        if os.environ.get("PLATLOGS_CI") == "1":
            pytest.fail(f"{name} is not installed (pip install -e '.[test]')")
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return found


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_check_is_clean():
    done = run(tool("ruff"), "check", "--no-cache", "app")
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-2000:]


def test_ruff_format_is_clean():
    """app/ is as `ruff format` writes it ([tool.ruff.format]): run `ruff format app` and commit."""
    done = run(tool("ruff"), "format", "--check", "--no-cache", "app")
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-2000:]


def test_mypy_is_clean():
    done = run(tool("mypy"))           # packages and options: [tool.mypy] in pyproject.toml
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-2000:]


def test_no_module_is_exempt_from_the_checkers():
    """ruff and mypy pass on all of app/ with the same rules: pyproject.toml exempts no file from a
    ruff rule and no module from mypy's errors (a finding is fixed, or its line carries a `noqa` /
    `type: ignore[code]` with its reason, where a reader sees it)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    ruff, mypy = config["tool"]["ruff"], config["tool"]["mypy"]
    assert not ruff.get("lint", {}).get("per-file-ignores"), "per-file-ignores in [tool.ruff.lint]"
    assert not ruff.get("lint", {}).get("ignore"), "rules ignored everywhere in [tool.ruff.lint]"
    assert not ruff.get("exclude") and set(ruff.get("extend-exclude", [])) <= {"var", "native"}, "app/ excluded from ruff"
    exempt = [o["module"] for o in mypy.get("overrides", []) if o.get("ignore_errors")]
    assert not exempt and not mypy.get("ignore_errors"), f"mypy ignores the errors of {exempt or 'everything'}"
    assert mypy.get("packages") == ["app"] and not mypy.get("exclude"), "mypy does not check all of app/"
