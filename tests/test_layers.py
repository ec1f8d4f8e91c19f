"""The package's layers: imports point down only, at the top of their files, and form no circle.

Layers, lowest first (a module may import its own layer and the layers below it):

    base      lpa_utils, lpa_utils.config, lpa_utils.io, lpa_utils.checks
    data      lpa_utils.data.*
    maths     lpa_utils.maths.*
    align     lpa_utils.align.*
    models    lpa_utils.models.*
    report    lpa_utils.report.*
    chapters  lpa_utils.chapters.*
    tools     tools.*   (never imported by lpa_utils)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["base", "data", "maths", "align", "models", "report", "chapters", "tools"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "tools":
        return "tools"
    if len(parts) == 1 or parts[1] in ("config", "io", "checks"):
        return "base"
    return parts[1]


def package_imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, at top level) for every import of ``lpa_utils`` / ``tools`` in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    pkg = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [f"{mod}.{a.name}" for a in node.names]  # a submodule if it is one, else resolves to mod
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("lpa_utils", "tools"):
                found.append((name, node.lineno, id(node) in top))
    return found


def resolve(name: str) -> str | None:
    """The module a dotted import name refers to (``lpa_utils.align.SGDAligner`` -> ``lpa_utils.align``)."""
    parts = name.split(".")
    while parts:
        cand = ROOT.joinpath(*parts)
        if cand.with_suffix(".py").exists() or (cand / "__init__.py").exists():
            return ".".join(parts)
        parts = parts[:-1]
    return None


SOURCES = sorted(p for d in ("lpa_utils", "tools") for p in (ROOT / d).rglob("*.py"))


def graph() -> dict[str, set[str]]:
    g = {}
    for path in SOURCES:
        me = module_name(path)
        g[me] = {m for name, _, _ in package_imports(path) if (m := resolve(name)) and m != me}
    return g


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_and_sit_at_the_top(path):
    me = module_name(path)
    for name, line, at_top in package_imports(path):
        target = resolve(name)
        assert target, f"{me}:{line} imports {name}, which does not exist"
        assert LAYERS.index(layer(target)) <= LAYERS.index(layer(me)), (
            f"{me}:{line} ({layer(me)}) imports {target} ({layer(target)}), a layer above it"
        )
        if not at_top:
            src = path.read_text(encoding="utf-8").splitlines()[line - 1]
            assert "# reason:" in src, f"{me}:{line} imports {name} inside a function without '# reason:'"


def test_no_import_circles():
    g = graph()
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if state.get(nxt) is None:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])


def test_the_checker_sees_an_upward_import_and_a_circle(tmp_path, monkeypatch):
    """The checks above can fail: a planted upward import and a planted circle are both caught."""
    pkg = tmp_path / "lpa_utils"
    (pkg / "maths").mkdir(parents=True)
    (pkg / "chapters").mkdir()
    for d in (pkg, pkg / "maths", pkg / "chapters"):
        (d / "__init__.py").write_text("")
    (pkg / "maths" / "a.py").write_text("from lpa_utils.chapters import b\n")
    (pkg / "chapters" / "b.py").write_text("from lpa_utils.maths import a\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    path = pkg / "maths" / "a.py"
    with pytest.raises(AssertionError, match="a layer above it"):
        test_imports_point_down_and_sit_at_the_top(path)
    monkeypatch.setattr(__import__(__name__), "SOURCES", [pkg / "maths" / "a.py", pkg / "chapters" / "b.py"])
    with pytest.raises(AssertionError, match="import circle"):
        test_no_import_circles()
