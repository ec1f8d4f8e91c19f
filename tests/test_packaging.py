"""Packaging: every third-party import is declared in pyproject.toml at the right level, and pinned in the lock.

``pip install .`` gives the library (``lpa_utils.align``, ``maths``, ``data``, ``models``) with its runtime
dependencies; the extras add the dataset builders (``data``), the book (``book``) and the tests (``test``).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
#: import name -> distribution name, where they differ
DIST = {
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "myst_nb": "myst-nb",
    "IPython": "ipython",
    "sentence_transformers": "sentence-transformers",
}
LIBRARY = ("checks.py", "config.py", "io.py", "__init__.py", "data", "maths", "align", "models")


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].strip().lower().replace("_", "-")


def _declared(*extras: str) -> set[str]:
    names = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    for extra in extras:
        names |= {_name(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]}
    return names


def _imports(paths) -> dict[str, str]:
    """Third-party top-level import names -> a file that imports it."""
    found = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("lpa_utils", "tools", "tests", "__future__"):
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _missing(paths, declared: set[str]) -> dict[str, str]:
    return {m: f for m, f in _imports(paths).items() if DIST.get(m, m).lower().replace("_", "-") not in declared}


def test_library_imports_are_runtime_dependencies_or_the_data_extra():
    pkg = ROOT / "lpa_utils"
    paths = [p for part in LIBRARY for p in ([pkg / part] if part.endswith(".py") else (pkg / part).rglob("*.py"))]
    assert not _missing(paths, _declared("data")), "declare these in pyproject.toml"


def test_book_and_tools_imports_are_in_the_book_and_test_extras():
    paths = list((ROOT / "lpa_utils").rglob("*.py")) + list((ROOT / "tools").rglob("*.py"))
    assert not _missing(paths, _declared("data", "book", "test"))
    assert not _missing(list((ROOT / "tests").rglob("*.py")), _declared("data", "book", "test"))


def test_the_runtime_core_needs_no_book_package():
    """The core imports only the runtime dependencies at module level (dataset builders import lazily)."""
    pkg = ROOT / "lpa_utils"
    paths = [
        p
        for part in ("checks.py", "config.py", "io.py", "maths", "align")
        for p in ([pkg / part] if part.endswith(".py") else (pkg / part).rglob("*.py"))
    ]
    assert not _missing(paths, _declared())


def test_every_declared_requirement_is_pinned_in_the_lock():
    lock = {
        _name(line)
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    declared = _declared("data", "book", "test") - {"lpa-utils"}
    assert declared <= lock, f"not pinned in requirements.txt: {sorted(declared - lock)}"
    assert any(line == "torch==2.13.0" for line in (ROOT / "requirements.txt").read_text().splitlines())
    assert any(line.startswith("jupyter-book==1.") for line in (ROOT / "requirements.txt").read_text().splitlines())


def test_the_checker_sees_an_undeclared_import(tmp_path):
    (tmp_path / "m.py").write_text("import numpy\nimport notapackage.sub\n")
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        assert set(_missing([tmp_path / "m.py"], {"numpy"})) == {"notapackage"}
    finally:
        ROOT = old
