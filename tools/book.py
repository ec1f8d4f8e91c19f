"""Execute the chapters with papermill and render the book with Jupyter Book 1.

``python -m tools.book build [--profile full|smoke] [--only 03_word_alignment ...] [--no-render]``
    Executes every ``notebooks/NN_*.ipynb`` in order (fresh kernel each, ``profile`` parameter injected),
    into a staging copy of the book under ``_build/``, then renders it with Jupyter Book execution *off*, so the
    HTML always shows what the current code computed in this run (nothing stale, nothing re-executed).
    Full profile -> ``_build/html``; smoke profile -> ``_build/smoke/_build/html``.
``python -m tools.book refresh-checked notebooks/NN_x.ipynb ...``
    Runs the notebook in the smoke profile and stores in the *source* notebook only the outputs of the cells
    tagged ``nbval-check-output`` (what nbval compares); every other output is stripped.
``python -m tools.book strip notebooks/NN_x.ipynb ...``
    Strips outputs except those of ``nbval-check-output`` cells (what is committed).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import papermill as pm
from papermill.exceptions import PapermillExecutionError
from traitlets.config import Config

from lpa_utils.config import REPO_ROOT, data_dir, resolve_profile
from lpa_utils.io import atomic_path
from tools.budget import (  # noqa: F401
    BENCH_STEP,
    BUDGETS,
    budget_line,
    budget_table,
    estimate_left,
    fmt_duration,
    step_label,
    write_budget,
)
from tools.pages import write_generated_pages
from tools.paths import results_dir

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
CHECK_TAG = "nbval-check-output"
#: top-level files and folders copied into the staging book
BOOK_FILES = ("_config.yml", "_toc.yml", "book")


class ChapterFailed(RuntimeError):
    """A notebook cell raised while executing a chapter."""


def chapters(notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """The chapter notebooks in reading order (``NN_name.ipynb``, sorted by number)."""
    return sorted(p for p in notebook_dir.glob("[0-9][0-9]_*.ipynb"))


def build_paths(profile: str) -> dict[str, Path]:
    """Folders of a build: ``root`` (staging ``src`` lives in it) and ``out`` (Jupyter Book's --path-output).

    full: staging ``_build/src``, HTML ``_build/html``; smoke: staging ``_build/smoke/src``, HTML
    ``_build/smoke/_build/html``.
    """
    root = REPO_ROOT / "_build" if profile == "full" else REPO_ROOT / "_build" / profile
    out = REPO_ROOT if profile == "full" else root
    return {"root": root, "src": root / "src", "out": out, "html": out / "_build" / "html"}


def _fmt(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{seconds:.1f}s"


def execute_chapter(
    nb: Path, out: Path, profile: str, *, parameters: dict | None = None, log_output: bool = False
) -> float:
    """Execute ``nb`` with papermill into ``out`` (cwd = the notebooks folder); returns the wall time in s.

    Raises :class:`ChapterFailed` naming the notebook, the failing cell and the error.
    """

    params = {"profile": profile, **(parameters or {})}
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    env_profile, env_results = os.environ.get("LPA_PROFILE"), os.environ.get("LPA_RESULTS_DIR")
    os.environ["LPA_PROFILE"] = profile  # so helper processes started by the notebook agree
    os.environ["LPA_RESULTS_DIR"] = str(results_dir())  # the book's results: only the build writes them

    # the kernel talks over local IPC sockets, not TCP ports: nothing listens on the network, and ipykernel has
    # no reason to print its "running over TCP without encryption" warning into the build's progress lines
    ipc = Config()
    ipc.KernelManager.transport = "ipc"
    try:
        pm.execute_notebook(
            str(nb),
            str(out),
            parameters=params,
            kernel_name="python3",
            cwd=str(nb.parent),
            progress_bar=False,
            log_output=log_output,
            request_save_on_cell_execute=True,
            config=ipc,
        )
    except PapermillExecutionError as exc:
        raise ChapterFailed(
            f"{nb.name}: cell {exc.cell_index} (execution count {exc.exec_count}) raised {exc.ename}: {exc.evalue}\n"
            f"  the partly executed notebook is {out}"
        ) from None
    finally:
        for key, old in (("LPA_PROFILE", env_profile), ("LPA_RESULTS_DIR", env_results)):
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
    return time.perf_counter() - t0


#: MathJax 3 from the npm registry (reachable here), pinned by version and checksum; served from the book itself
MATHJAX_URL = "https://registry.npmjs.org/mathjax/-/mathjax-3.2.2.tgz"
MATHJAX_SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"


def ensure_mathjax() -> Path:
    """The ``es5`` folder of MathJax 3.2.2, downloaded once into the data cache (checksum verified)."""

    dest = data_dir() / "mathjax-3.2.2"
    if (dest / "tex-chtml-full.js").exists():
        return dest
    print(f"==> downloading MathJax 3.2.2 from {MATHJAX_URL} (6 MB, once)", flush=True)
    try:
        blob = urllib.request.urlopen(MATHJAX_URL, timeout=60).read()
    except OSError as exc:
        raise SystemExit(
            f"cannot download {MATHJAX_URL} ({exc}); the book serves MathJax itself. Download that "
            f"file by hand and unpack its package/es5 folder to {dest}"
        ) from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != MATHJAX_SHA256:
        raise SystemExit(f"{MATHJAX_URL}: sha256 {digest} does not match the expected {MATHJAX_SHA256}")
    with atomic_path(dest) as tmp, tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("package/es5/")]
        for m in members:
            m.name = m.name[len("package/es5/") :]
        tar.extractall(tmp, members=members, filter="data")
    return dest


def drop_widgets(nb_path: Path) -> int:
    """Remove ipywidgets state from an executed notebook (tqdm.auto progress bars in Jupyter are widgets).

    myst-nb renders widget state with require.js and the widget manager from a CDN; the book must load nothing
    from another host, and a progress bar carries no content. Widget views keep their ``text/plain`` form.
    Also collapses papermill's ``injected-parameters`` cell in the HTML (tag ``hide-cell``), as the chapter's own
    parameters cell is, so that a page opens with its story. Returns the number of widget views removed.
    """
    nb = nbformat.read(str(nb_path), as_version=4)
    removed = 0
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "hide-cell" not in tags:
            cell["metadata"]["tags"] = [*tags, "hide-cell"]
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data and "application/vnd.jupyter.widget-view+json" in data:
                data.pop("application/vnd.jupyter.widget-view+json")
                removed += 1
        cell["outputs"] = [o for o in cell.get("outputs", []) if not ("data" in o and not o["data"])]
    nbformat.write(nb, str(nb_path))
    return removed


def _stage(src: Path) -> None:
    """Copy the book's prose, config and local MathJax into the staging folder ``src``."""
    mathjax = ensure_mathjax()
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name in BOOK_FILES:
        p = REPO_ROOT / name
        (shutil.copytree if p.is_dir() else shutil.copy2)(p, src / name)
    shutil.copytree(mathjax, src / "_extra" / "mathjax")


def render(src: Path, output_root: Path, profile: str = "full") -> Path:
    """Run ``jupyter-book build`` on the staged ``src`` (warnings are errors); returns the html folder."""

    write_generated_pages(src / "book" / "_generated", profile)
    cmd = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(src),
        "--path-output",
        str(output_root),
        "-W",
        "--keep-going",
        "-q",
    ]
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-6000:] + proc.stderr[-6000:])
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}); see the messages above")
    html = output_root / "_build" / "html"
    name_the_icon(html / "index.html")
    check_no_cdn(html)
    return html


def name_the_icon(redirect: Path) -> None:
    """Give Jupyter Book's redirect page (``index.html``: one ``<meta http-equiv="Refresh">``) an icon of its own.

    Without a ``<link rel="icon">`` a browser asks for ``/favicon.ico``, which the book does not have, and any icon
    it fetches races the redirect (a 404 or an aborted request on a busy machine). An empty ``data:`` icon makes
    no request at all; the pages the redirect leads to carry the book's real icon."""
    if not redirect.exists():
        return
    text = redirect.read_text(encoding="utf-8")
    if 'http-equiv="Refresh"' in text and 'rel="icon"' not in text:
        redirect.write_text('<link rel="icon" href="data:," />\n' + text, encoding="utf-8")


def external_resources(page_html: str) -> list[str]:
    """URLs of resources a page *loads* or *names for loading* from another host: ``src``/``href`` of script,
    link (stylesheet, font, preload), img, iframe, ``url(...)`` in inline styles, and URLs written inside inline
    scripts (such as sphinx-thebe's ``THEBE_JS_URL``, which the book's extension removes). Plain hyperlinks
    (``<a href>``) are not loads."""
    urls = []
    for tag in re.finditer(r"<(script|link|img|iframe|source)\b[^>]*>", page_html, flags=re.I):
        for m in re.finditer(r"\b(?:src|href)\s*=\s*[\"']((?:https?:)?//[^\"']+)", tag.group(0), flags=re.I):
            urls.append(m.group(1))
    urls += re.findall(r"url\(\s*[\"']?((?:https?:)?//[^)\"']+)", page_html)
    for body in re.findall(r"<script\b[^>]*>(.*?)</script>", page_html, flags=re.I | re.S):
        urls += re.findall(r"[\"'](https?://[^\"']+)[\"']", body)
    return [u for u in urls if "127.0.0.1" not in u and "localhost" not in u]


def check_no_cdn(html: Path) -> None:
    """Raise if any rendered page or stylesheet loads a script, style or font from another host (a CDN)."""
    offenders = []
    for page in list(html.rglob("*.html")) + list(html.rglob("*.css")):
        if "mathjax" in page.relative_to(html).parts:
            continue
        text = page.read_text(encoding="utf-8", errors="replace")
        if page.suffix == ".css":
            found = re.findall(r"url\(\s*[\"']?((?:https?:)?//[^)\"']+)", text)
        else:
            found = external_resources(text)
        offenders += [f"{page.relative_to(html)}: {u}" for u in found]
    if offenders:
        raise RuntimeError("the rendered book loads resources from another host:\n  " + "\n  ".join(offenders[:20]))


def build(profile: str | None = None, only: list[str] | None = None, render_html: bool = True) -> Path:
    """Execute the chapters (all, or ``only`` those stems) and render the book. Returns the html folder."""
    profile = resolve_profile(profile)
    paths = build_paths(profile)
    t_start = time.perf_counter()
    nbs = chapters()
    if only:
        nbs = [nb for nb in nbs if nb.stem in only or nb.name in only]
    staging = paths["src"]
    _stage(staging)
    executed_dir = staging / "notebooks"
    executed_dir.mkdir(parents=True, exist_ok=True)
    budgets = BUDGETS.get(profile, {})
    steps = [nb.stem for nb in nbs] + ([] if only else [BENCH_STEP])
    measured: dict[str, float] = {}
    print(
        f"==> executing {len(nbs)} chapters with papermill (profile={profile}; budget "
        f"{fmt_duration(sum(budgets.get(k, 0) for k in steps))} in all)",
        flush=True,
    )

    def done_step(step: str, dt: float) -> None:
        measured[step] = dt
        todo = steps[steps.index(step) + 1 :]
        print("    " + budget_line(step, dt, budgets.get(step), estimate_left(measured, todo, budgets)), flush=True)
        write_budget(profile, measured)

    for i, nb in enumerate(nbs, 1):
        print(f"[{i}/{len(nbs)}] {nb.name} ...", end=" ", flush=True)
        try:
            dt = execute_chapter(nb, executed_dir / nb.name, profile)
        except ChapterFailed as exc:
            print("FAILED", flush=True)
            raise SystemExit(f"ERROR: chapter failed: {exc}") from None
        drop_widgets(executed_dir / nb.name)
        print(f"done in {_fmt(dt)} (elapsed {_fmt(time.perf_counter() - t_start)})", flush=True)
        done_step(nb.stem, dt)
    if not only:
        print("==> benchmark of lpa_utils against reference implementations (python -m tools.bench)", flush=True)
        t0 = time.perf_counter()
        env = {**os.environ, "LPA_PROFILE": profile, "LPA_RESULTS_DIR": str(results_dir())}
        cmd = [sys.executable, "-m", "tools.bench"] + (["--quick"] if profile == "smoke" else [])
        if subprocess.run(cmd, cwd=REPO_ROOT, env=env).returncode != 0:
            raise SystemExit("ERROR: the benchmark failed (python -m tools.bench); see the messages above")
        cmd = [sys.executable, "-m", "tools.scaling"] + (["--quick"] if profile == "smoke" else [])
        if subprocess.run(cmd, cwd=REPO_ROOT, env=env).returncode != 0:
            raise SystemExit("ERROR: the scaling measurement failed (python -m tools.scaling)")
        print(f"    benchmark and scaling done in {_fmt(time.perf_counter() - t0)}", flush=True)
        done_step(BENCH_STEP, time.perf_counter() - t0)
    for nb in chapters():  # chapters not executed this time still need a page: copy the source
        if not (executed_dir / nb.name).exists():
            shutil.copy2(nb, executed_dir / nb.name)
    if not render_html:
        return executed_dir
    print("==> rendering the HTML book with Jupyter Book (execution off, warnings are errors)", flush=True)
    html = render(staging, paths["out"], profile)
    total = time.perf_counter() - t_start
    print(f"==> the book is at {html / 'index.html'}  (total {_fmt(total)})", flush=True)
    return html


# -- committed notebooks: keep only the outputs nbval checks ---------------------------------------------


def _is_checked(cell) -> bool:
    return CHECK_TAG in cell.get("metadata", {}).get("tags", [])


def strip(nb_path: Path, executed=None) -> None:
    """Rewrite ``nb_path`` keeping outputs only of ``nbval-check-output`` cells (taken from ``executed``)."""

    nb = nbformat.read(str(nb_path), as_version=4)
    ex_cells = None
    if executed is not None:
        ex_cells = [c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
        if len(ex_cells) != len(nb.cells):
            raise RuntimeError(f"{nb_path}: executed copy has {len(ex_cells)} cells, source {len(nb.cells)}")
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        if _is_checked(cell) and ex_cells is not None:
            cell.outputs = ex_cells[i].outputs
            cell.execution_count = ex_cells[i].execution_count
        elif not _is_checked(cell):
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("papermill", None)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (lpa)", "language": "python"}
    nbformat.write(nb, str(nb_path))


def refresh_checked(nb_path: Path) -> None:
    """Execute ``nb_path`` in the smoke profile and store the checked cells' outputs in the source."""

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / nb_path.name
        print(f"executing {nb_path.name} (smoke) ...", flush=True)
        dt = execute_chapter(nb_path, out, "smoke")
        strip(nb_path, nbformat.read(str(out), as_version=4))
        print(f"{nb_path}: checked outputs refreshed ({_fmt(dt)})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tools.book", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="execute the chapters and render the HTML book")
    b.add_argument("--profile", default=None, choices=["full", "smoke"])
    b.add_argument("--only", nargs="*", help="execute only these chapters (stems); the others show their sources")
    b.add_argument("--no-render", action="store_true", help="execute only, do not run Jupyter Book")
    r = sub.add_parser("refresh-checked", help="store fresh outputs of nbval-check-output cells")
    r.add_argument("notebooks", nargs="+", type=Path)
    s = sub.add_parser("strip", help="strip outputs except nbval-check-output cells")
    s.add_argument("notebooks", nargs="+", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "build":
        build(args.profile, args.only, render_html=not args.no_render)
    elif args.cmd == "refresh-checked":
        for nb in args.notebooks:
            try:
                refresh_checked(nb.resolve())
            except ChapterFailed as exc:
                raise SystemExit(f"ERROR: {exc}") from None
    elif args.cmd == "strip":
        for nb in args.notebooks:
            strip(nb.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
