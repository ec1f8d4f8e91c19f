"""The chapters read like a book: short cells, one setup call, numbers and figures glued into the prose.

Static checks of the committed notebooks (the executed ones are checked by nbval and the browser walk).
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_CELL_LINES, MAX_MEDIAN_LINES = 25, 6
MAX_LINE = 90  # characters of code that fit the book's page without a sideways scroll

GLUE_FIGURE = re.compile(r"```\{glue:figure\}\s+(\S+)\n(.*?)```", re.S)
GLUE_ROLE = re.compile(r"\{glue(?::text|:)?\}`([^`:]+)")


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_are_short(nb_path):
    """Median code cell at most 6 lines, none over 25 (d2l's cells are about 4)."""
    nb = nbformat.read(nb_path, as_version=4)
    sizes = [len(c.source.strip().splitlines()) for c in _code(nb)]
    long = {i: n for i, n in enumerate(sizes) if n > MAX_CELL_LINES}
    assert not long, f"code cells over {MAX_CELL_LINES} lines (index: lines): {long}"
    assert statistics.median(sizes) <= MAX_MEDIAN_LINES, f"median code cell {statistics.median(sizes)} lines"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_lines_fit_the_page(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    wide = [(i, line) for i, c in enumerate(_code(nb)) for line in c.source.splitlines() if len(line) > MAX_LINE]
    assert not wide, f"code lines wider than {MAX_LINE} characters: {wide[:3]}"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_setup_call_and_hidden_plumbing(nb_path):
    """The first code cell is the papermill parameters cell, the second calls ``setup`` once; both are hidden in
    the HTML (``hide-cell`` / ``hide-input``), and the chapter ends by saving its results."""
    nb = nbformat.read(nb_path, as_version=4)
    code = _code(nb)
    tags = [set(c.metadata.get("tags", [])) for c in code]
    assert "parameters" in tags[0] and tags[0] & {"hide-cell", "remove-cell"}, "parameters cell: tag hide-cell"
    assert f'setup("{nb_path.stem}"' in code[1].source, "the second code cell calls setup(<chapter>, ...)"
    assert tags[1] & {"hide-input", "hide-cell", "remove-input"}, "setup cell: tag hide-input"
    src = "\n".join(c.source for c in code)
    assert src.count("setup(") == 1 and "Results(" not in src, "the chapter's Results come from setup()"
    assert ".finish()" in src, "the chapter must write book/results/<stem>.json (ch.finish())"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_markdown_assembled_in_code(nb_path):
    """Prose is Markdown with glued numbers, never Markdown built from f-strings in a code cell."""
    nb = nbformat.read(nb_path, as_version=4)
    for i, c in enumerate(_code(nb)):
        assert "Markdown(" not in c.source, f"code cell {i} builds Markdown; glue the numbers instead"
        assert "_locally_linear" not in c.source, f"code cell {i} imports scikit-learn's private module"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_figures_are_glued_named_captioned_and_referenced(nb_path):
    """Each figure is glued (``ch.figure("name", fig)``), shown by a ``{glue:figure}`` directive with a ``:name:``
    and a caption that says which data and how many runs (both glued from the run), and referenced by
    ``{numref}`` in the prose; no figure is drawn outside that path."""
    nb = nbformat.read(nb_path, as_version=4)
    code = "\n".join(c.source for c in _code(nb))
    md = _markdown(nb)
    glued = re.findall(r'ch\.figure\(\s*"([^"]+)"', code)
    assert glued, "the chapter has no figure"
    assert "plt.show()" not in code, "figures are glued (ch.figure), not shown in the code cell"
    directives = {name: body for name, body in GLUE_FIGURE.findall(md)}
    for name in glued:
        assert name in directives, f"figure {name!r} is glued but no {{glue:figure}} directive shows it"
        body = directives[name]
        assert re.search(rf":name:\s*\"?{re.escape(name)}\"?\s*$", body, re.M), f"figure {name!r}: add ':name: {name}'"
        for what in ("Data:", "Runs:"):
            tail = body.split(what, 1)[1] if what in body else ""
            assert GLUE_ROLE.search(tail.split("\n")[0]), f"figure {name!r}: caption needs '{what}' + a glued value"
        assert f"{{numref}}`{name}`" in md, f"figure {name!r} is never referenced with {{numref}}"
    assert set(directives) <= set(glued), f"directives without a glued figure: {set(directives) - set(glued)}"
