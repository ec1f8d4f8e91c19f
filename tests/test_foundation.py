"""The book's plumbing: results records, atomic writes, profiles, notebook hygiene, CDN detection."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest
import yaml

from lpa_utils import config, io
from lpa_utils.report import results
from lpa_utils.report.tables import md_table
from tools import book
from tools import pages as report


def test_summarize_matches_numpy_sample_std():
    vals = [0.31, 0.35, 0.29]
    mean, std, n = results.summarize(vals)
    assert n == 3
    assert mean == pytest.approx(np.mean(vals))
    assert std == pytest.approx(np.std(vals, ddof=1))
    assert results.summarize([2.0]) == (2.0, 0.0, 1)
    with pytest.raises(ValueError):
        results.summarize([])


def test_results_file_per_profile_and_clean_json(tmp_path, monkeypatch):
    monkeypatch.setenv("LPA_RESULTS_DIR", str(tmp_path))
    full = results.Results("99_test", profile="full", params={"k": 10})
    full.add("P@1", data="toy", method="MSE", values=[0.5, 0.7], paper=39.67, paper_ref="Table 1a")
    full.add("coverage", data="toy", method="-", mean=float("nan"))
    full.add_table("neighbours", [{"word": "windows", "rank": 1, "neighbour": "nt"}])
    p = full.save()
    assert p.name == "99_test.json"
    doc = json.loads(p.read_text())
    rec = doc["records"][0]
    assert rec["mean"] == pytest.approx(0.6) and rec["runs"] == 2 and rec["paper"] == 39.67
    assert doc["records"][1]["mean"] is None  # NaN is written as null, never as invalid JSON
    assert doc["tables"]["neighbours"][0]["neighbour"] == "nt"
    smoke = results.Results("99_test", profile="smoke")
    smoke.add("x", data="d", method="m", mean=1.0)
    assert smoke.save().name == "99_test.smoke.json"
    assert results.load("99_test")["params"] == {"k": 10}
    with pytest.raises(FileNotFoundError, match="98_missing"):
        results.load("98_missing")
    with pytest.raises(ValueError):
        full.add("bad", data="d", method="m")


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "cache" / "vectors.npy"
    with pytest.raises(RuntimeError):
        with io.atomic_open(target, "wb") as fh:
            fh.write(b"half")
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []
    io.write_json(target.with_suffix(".json"), {"a": np.float32(1.5), "b": np.arange(2)})
    assert json.loads(target.with_suffix(".json").read_text()) == {"a": 1.5, "b": [0, 1]}


def test_profile_and_device(monkeypatch):
    monkeypatch.delenv("LPA_PROFILE", raising=False)
    assert config.resolve_profile(None) == "full"
    monkeypatch.setenv("LPA_PROFILE", "smoke")
    assert config.resolve_profile(None) == "smoke"
    assert config.resolve_profile("full") == "full"
    with pytest.raises(ValueError, match="profile"):
        config.resolve_profile("huge")
    assert config.resolve_device("cpu").type == "cpu"


def test_external_resources_detects_loads_not_links():
    html = (
        '<script src="https://unpkg.com/thebe.js"></script><link rel="stylesheet" href="//cdn.x.org/a.css">'
        '<a href="https://papermill.readthedocs.io">docs</a><script>const U = "https://unpkg.com/x";</script>'
        '<img src="../_images/fig.png"><div style="background: url(https://fonts.example/f.woff)"></div>'
    )
    # a URL written into an inline script (sphinx-thebe's THEBE_JS_URL) counts: the book must name no CDN at all
    assert book.external_resources(html) == [
        "https://unpkg.com/thebe.js",
        "//cdn.x.org/a.css",
        "https://fonts.example/f.woff",
        "https://unpkg.com/x",
    ]


def test_strip_keeps_only_checked_outputs(tmp_path):
    nb = nbformat.v4.new_notebook()
    checked = nbformat.v4.new_code_cell("print(1)", metadata={"tags": [book.CHECK_TAG]})
    other = nbformat.v4.new_code_cell("print(2)")
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), checked, other]
    src = tmp_path / "01_x.ipynb"
    nbformat.write(nb, src)
    executed = nbformat.v4.new_notebook()
    out = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    executed.cells = [
        nbformat.v4.new_markdown_cell("# t"),
        nbformat.v4.new_code_cell("print(1)", outputs=out, execution_count=1),
        nbformat.v4.new_code_cell(
            "print(2)", outputs=[nbformat.v4.new_output("stream", name="stdout", text="2\n")], execution_count=2
        ),
    ]
    book.strip(src, executed)
    got = nbformat.read(src, as_version=4)
    assert got.cells[1].outputs[0]["text"] == "1\n"
    assert got.cells[2].outputs == [] and got.cells[2].execution_count is None


def test_md_table_formats_and_escapes():
    import pandas as pd

    t = md_table(pd.DataFrame({"a": [1.23456, float("nan")], "b": ["x|y", None]}))
    assert t.splitlines()[0] == "| a | b |"
    assert "1.23" in t and "x\\|y" in t


# -- the committed notebooks -----------------------------------------------------------------------------

NOTEBOOKS = book.chapters()


def test_toc_lists_every_chapter_in_order():
    toc = yaml.safe_load((config.REPO_ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"] if c["file"].startswith("notebooks/")]
    assert files == [f"notebooks/{nb.stem}" for nb in NOTEBOOKS]
    assert [nb.stem for nb in NOTEBOOKS] == list(report.CHAPTERS)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_hygiene(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("# ")
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters' (papermill)"
    assert "profile = None" in params[0].source
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if book.CHECK_TAG in cell.metadata.get("tags", []):
            assert cell.outputs, f"cell {i} is tagged {book.CHECK_TAG} but has no stored output to compare"
        else:
            assert not cell.outputs, f"cell {i} has committed outputs; run `python -m tools.book strip`"
    assert any(book.CHECK_TAG in c.metadata.get("tags", []) for c in nb.cells), "no nbval-checked cell"
    src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "setup(" in src and ".finish()" in src, "the chapter must write book/results/<stem>.json"


def test_drop_widgets_keeps_text(tmp_path):
    nb = nbformat.v4.new_notebook()
    bar = nbformat.v4.new_output(
        "display_data",
        data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0},
            "text/plain": "fit: 100%|##########| 3/3",
        },
    )
    only_widget = nbformat.v4.new_output(
        "display_data",
        data={"application/vnd.jupyter.widget-view+json": {"model_id": "y", "version_major": 2, "version_minor": 0}},
    )
    nb.cells = [nbformat.v4.new_code_cell("fit()", outputs=[bar, only_widget])]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    p = tmp_path / "x.ipynb"
    nbformat.write(nb, p)
    assert book.drop_widgets(p) == 2
    got = nbformat.read(p, as_version=4)
    assert "widgets" not in got.metadata
    assert [o["data"] for o in got.cells[0].outputs] == [{"text/plain": "fit: 100%|##########| 3/3"}]


def test_execute_chapter_names_the_failing_cell(tmp_path, capfd):
    """A cell that raises stops the chapter with the notebook's name, the cell and the error; a chapter that runs
    leaves its executed copy. Kernels talk over IPC, so ipykernel prints no TCP warning into the progress lines."""
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}}
    )
    nb.cells = [
        nbformat.v4.new_code_cell("profile = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1 + 1"),
        nbformat.v4.new_code_cell("raise ValueError('bad vectors file')"),
    ]
    src = tmp_path / "09_broken.ipynb"
    nbformat.write(nb, src)
    with pytest.raises(book.ChapterFailed, match=r"09_broken.ipynb: cell \d+ .*ValueError: bad vectors file"):
        book.execute_chapter(src, tmp_path / "out" / src.name, "smoke")
    del nb.cells[2]
    nbformat.write(nb, src)
    book.execute_chapter(src, tmp_path / "out" / src.name, "smoke")
    ran = nbformat.read(tmp_path / "out" / src.name, as_version=4)
    assert any('profile = "smoke"' in c.source for c in ran.cells), "the profile parameter was not injected"
    assert "without encryption" not in capfd.readouterr().err


def test_json_log_appends_and_survives_a_damaged_file(tmp_path):
    from lpa_utils.io import append_json_log, read_json_log

    p = tmp_path / "sub" / "log.json"
    assert read_json_log(p) == []
    append_json_log(p, {"a": 1})
    assert append_json_log(p, {"a": 2}) == [{"a": 1}, {"a": 2}] == read_json_log(p)
    p.write_text('[{"a": 1}, {"a"')  # a file cut short by a crash elsewhere
    assert read_json_log(p) == []
    assert append_json_log(p, {"a": 3}) == [{"a": 3}]
    assert [q.name for q in p.parent.iterdir()] == ["log.json"]  # no temporary file left behind


def test_expected_times_extrapolate_a_power_law():
    sizes = [1000, 2000, 4000]
    assert report.extrapolate_power_law(sizes, [1.0, 4.0, 16.0], 8000) == pytest.approx(64.0)  # t ~ n^2
    assert report.extrapolate_power_law(sizes, [1.0, 2.0, 4.0], 40000) == pytest.approx(40.0)  # linear
    assert report.extrapolate_power_law(sizes, [1.0, 2.0, 4.0], 2000) == 2.0  # measured
    assert report.extrapolate_power_law([500], [3.0], 1000) == pytest.approx(6.0)
    with pytest.raises(ValueError):
        report.extrapolate_power_law([0, 10], [1.0, 2.0], 20)
    assert report._duration(4.234) == "4.2 s" and report._duration(3122.4) == "3,122 s (about 52 min)"


def test_expected_times_page_from_results(tmp_path, monkeypatch):
    monkeypatch.setenv("LPA_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("LPA_DATA", str(tmp_path / "cache"))
    assert "No scaling" in report.expected_times_markdown("full")
    rows = [
        {"task": "CSLS retrieval (1,500 queries)", "size label": "target words", "size": n, "seconds": n / 1e5}
        for n in (50_000, 100_000)
    ]
    (tmp_path / "scaling.json").write_text(json.dumps({"params": {"threads": 2}, "tables": {"scaling": rows}}))
    md = report.expected_times_markdown("full")
    assert "CSLS retrieval of 1,500 test words" in md and "| 2 s |" in md and "GPU" in md


def test_make_lab_serves_the_project_kernel(tmp_path):
    """`make lab` starts JupyterLab on 127.0.0.1 (as root too) with the venv's python3 kernel."""
    import os
    import shutil
    import signal
    import socket
    import subprocess
    import time
    import urllib.request

    if not (config.REPO_ROOT / ".venv" / "bin" / "jupyter").exists() or shutil.which("make") is None:
        pytest.skip("needs the project's .venv (make venv) and make")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JUPYTER_TOKEN": "lpa-test", "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        ["make", "-s", "lab", f"LAB_PORT={port}"],
        cwd=config.REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        specs, deadline = None, time.time() + 60
        while specs is None and time.time() < deadline and proc.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/api/kernelspecs?token=lpa-test"
                specs = json.loads(urllib.request.urlopen(url, timeout=2).read())
            except OSError:
                time.sleep(0.5)
        assert specs is not None, f"JupyterLab did not answer on 127.0.0.1:{port} (exit code {proc.poll()})"
        argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
        assert str(config.REPO_ROOT / ".venv") in argv[0], argv
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_effect_verdict_by_hand():
    from lpa_utils.report.results import effect_verdict

    assert effect_verdict(1.27, 0.76, 3, 3) == "yes"  # EN-ES: beyond the spread, every seed
    assert effect_verdict(0.60, 2.00, 2, 3) == "no"  # EN-IT: inside the spread, one seed against
    assert effect_verdict(0.60, 2.00, 3, 3) == "partly"  # every seed agrees but the spread is large
    assert effect_verdict(1.50, 0.50, 2, 3) == "partly"  # beyond the spread, one seed against
    assert effect_verdict(-0.16, 0.14, 0, 3) == "no"
    assert effect_verdict(0.05, 0.01, 3, 3, min_gain=0.1) == "partly"  # real but smaller than required
    assert effect_verdict(0.3, float("nan"), 1, 1) == "yes"  # one run: no spread to stand out of


def test_redirect_page_names_the_icon(tmp_path):
    """The redirect stub index.html gets the book's icon once, so no browser asks for a missing /favicon.ico."""
    page = tmp_path / "index.html"
    page.write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />\n')
    book.name_the_icon(page)
    book.name_the_icon(page)
    text = page.read_text()
    assert text.count('rel="icon"') == 1 and 'href="data:,"' in text and "url=book/intro.html" in text
