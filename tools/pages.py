"""Pages generated at build time from the data registry and ``book/results/*.json``.

The book's prose pages include these files (``book/_generated/*.inc``), so that every number on a page comes
from the run that built it, never typed by hand. :func:`write_generated_pages` is called by
``tools.book`` on the staged copy of the book before Jupyter Book renders it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd

from lpa_utils.config import REPO_ROOT
from lpa_utils.data import sources as S
from lpa_utils.data.encoders import encode_log
from lpa_utils.data.fetch import fetch_log, info_table
from lpa_utils.report.claims import claims_markdown
from lpa_utils.report.papers import DATA_SIZES
from lpa_utils.report.results import load_all
from lpa_utils.report.tables import md_table
from tools import report_pages
from tools.bench import bench_markdown as bench_table
from tools.budget import BUDGETS, fmt_duration
from tools.paths import results_dir
from tools.scaling import plot as plot_scaling
from tools.scaling import plot_runs

CHAPTERS = (
    "01_manifolds",
    "02_lle_weights",
    "03_word_alignment",
    "04_nli_regularisation",
    "05_adversarial_autoencoder",
)


def datasets_markdown() -> str:
    """The table of datasets (name, kind, source, licence, chapters, rows/dims, status) from the data registry."""

    t = info_table().fillna("")
    return md_table(t[["name", "kind", "source", "licence", "chapters", "rows / dims", "status"]])


def chapter_timing_markdown(profile: str, executed_dir: Path | None = None) -> str:
    """Wall time of each chapter in this build: papermill's duration of the executed notebook (the whole
    notebook), and the finish time from the chapter's results file."""

    docs = load_all(profile, results_dir())
    rows = []
    for ch in CHAPTERS:
        duration = None
        if executed_dir is not None and (executed_dir / f"{ch}.ipynb").exists():
            meta = nbformat.read(executed_dir / f"{ch}.ipynb", as_version=4).metadata.get("papermill", {})
            duration = meta.get("duration")
        rows.append(
            {
                "chapter": ch,
                "profile": profile,
                "executed in (s)": duration,
                "results written (UTC)": docs.get(ch, {}).get("finished", "missing"),
            }
        )
    return md_table(pd.DataFrame(rows), floatfmt=".0f")


def records_markdown(profile: str) -> str:
    """Every record of every chapter: quantity, data, method, mean +- std (runs), the paper's figure."""
    docs = load_all(profile, results_dir())
    parts = []
    for ch in CHAPTERS:
        if ch not in docs:
            parts.append(f"### {ch}\n\n*No results file in this build.*\n")
            continue
        recs = pd.DataFrame(docs[ch].get("records", []))
        if recs.empty:
            parts.append(f"### {ch}\n\n*No records.*\n")
            continue
        recs["ours"] = [
            f"{m:.4g}" + (f" ± {s:.2g}" if r > 1 else "") + f" ({r} run{'s' if r > 1 else ''})"
            for m, s, r in zip(recs["mean"], recs["std"], recs["runs"])
        ]
        cols = [c for c in ["quantity", "data", "method", "ours", "paper", "paper_ref"] if c in recs]
        parts.append(f"### {ch}\n\n" + md_table(recs[cols]))
    return "\n".join(parts)


def bench_markdown(profile: str) -> str:
    """The benchmark table (``book/results/bench[.smoke].json``, written by ``python -m tools.bench``)."""
    if "bench" not in load_all(profile, results_dir()):
        return "*No benchmark results in this build (run `python -m tools.bench`).*\n"

    return bench_table(profile)


def budget_markdown(profile: str) -> str:
    """Each build step's measured time against its budget (``budget[.smoke].json``, written by ``tools.book``
    as the build goes), with the total; steps over budget are marked."""
    path = results_dir() / f"budget{'' if profile == 'full' else '.' + profile}.json"
    budgets = BUDGETS.get(profile, {})
    if not path.exists():
        rows = [
            {"step": k, "budget": fmt_duration(v), "measured": "not run", "measured / budget": ""}
            for k, v in budgets.items()
        ]
        return "*No timed build in this profile yet.* The budgets:\n\n" + md_table(pd.DataFrame(rows)) + "\n"
    doc = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for r in doc.get("steps", []):
        sec, bud = r.get("seconds"), r.get("budget_s")
        rows.append(
            {
                "step": r.get("label", r.get("step")),
                "budget": fmt_duration(bud) if bud else "",
                "measured": "not run" if sec is None else fmt_duration(sec),
                "measured / budget": "" if r.get("ratio") is None else f"{r['ratio']:.2f}",
                "within budget": "" if r.get("over") is None else ("**no**" if r["over"] else "yes"),
            }
        )
    head = (
        f"Build of {doc.get('finished', '?')} ({doc.get('profile')} profile, {doc.get('cpus', '?')} CPUs): "
        f"**{fmt_duration(doc.get('total_s', 0))}** for the timed steps against a budget of "
        f"{fmt_duration(doc.get('total_budget_s', 0))}. `make book` prints each line as it goes, with an estimate "
        "of what is left; a step over its budget is a warning, not a failure.\n\n"
    )
    return head + md_table(pd.DataFrame(rows)) + "\n"


def runs_markdown(profile: str, out_dir: Path) -> str:
    """The time of R SGD alignment runs trained as one batched model against R (``tools.scaling``'s ``runs``
    table, from ``tools.bench_runs.time_vs_runs``): a plot and its table."""
    docs = load_all(profile, results_dir())
    table = docs.get("scaling", {}).get("tables", {}).get("runs")
    if not table:
        return "*No time-against-runs measurement in this build (run `python -m tools.scaling`).*\n"
    df = pd.DataFrame(table)
    plot_runs(df, out_dir / "runs.png")
    return (
        "```{figure} _generated/runs.png\n:alt: seconds against the number of runs trained as one batched model\n\n"
        "Wall time of R alignment runs trained as one batched model against R (dots), and R independent runs "
        "(the dashed line through one run), measured in this build.\n```\n\n" + md_table(df, ".3g")
    )


def _largest_encoding(log: list[dict], encoder: str | None = None, min_texts: int = 10_000) -> dict | None:
    """The encode-log entry with the most texts (at least ``min_texts``, of ``encoder`` if given), or None."""
    big = [e for e in log if e.get("texts", 0) >= min_texts and encoder in (None, e.get("encoder"))]
    return max(big, key=lambda e: e["texts"]) if big else None


def data_cost_markdown() -> str:
    """First-fetch time and disk use of the data cache (from ``<cache>/fetch-log.json`` and the cache itself)."""

    log = fetch_log()
    disk = S.dir_size(S.data_dir()) / 1e6
    lines = [
        f"The data cache `{S.data_dir().name}/` holds **{disk:,.0f} MB** now "
        f"(downloads {S.dir_size(S.downloads_dir()) / 1e6:,.0f} MB)."
    ]
    first = [e for e in log if e.get("first_fetch")]
    if first:
        e = first[-1]
        lines.append(
            f"The last first-time fetch of every offline default took **{e['seconds']:.0f} s** "
            f"({e['finished']}, {e.get('cpus')} CPUs) and left {e['disk_mb']:,.0f} MB."
        )
    if log:
        lines.append("")
        lines.append(md_table(pd.DataFrame([{**e, "prepared": len(e["prepared"])} for e in log[-8:]]), floatfmt=".1f"))
    else:
        lines.append("No fetch has been recorded in this cache (it was prepared before fetches were logged).")
    enc = encode_log()
    lines.append("")
    e = _largest_encoding(enc)
    if e is not None:
        lines.append(
            f"Chapter 04 encodes its sentences once into the cache: the largest encoding recorded, "
            f"**{e['texts']:,} new sentences** with `{e['encoder']}`, took **{e['seconds']:,.0f} s** "
            f"({e['texts_per_s']:,.0f} sentences/s on {e['device']}, {e['threads']} threads; "
            f"{e['finished']})."
        )
    if enc:
        lines.append("")
        lines.append(md_table(pd.DataFrame(enc[-8:]), floatfmt=".1f"))
    else:
        lines.append(
            "No sentence encoding has been recorded in this cache (it was filled before encodings were "
            "logged, or chapter 04 has not run)."
        )
    return "\n".join(lines) + "\n"


def scaling_markdown(profile: str, out_dir: Path) -> str:
    """The scaling plot (written next to the generated pages) and its table."""
    docs = load_all(profile, results_dir())
    if "scaling" not in docs:
        return "*No scaling measurements in this build (run `python -m tools.scaling`).*\n"

    df = pd.DataFrame(docs["scaling"]["tables"]["scaling"])
    plot_scaling(df, out_dir / "scaling.png")
    wide = df.pivot_table(index=["task", "size label"], columns="size", values="seconds").reset_index()
    wide.columns = [str(c) for c in wide.columns]
    return (
        "```{figure} _generated/scaling.png\n:alt: seconds against size for each task\n\nSeconds (best of 2) "
        "against size on a log-log scale, measured in this build.\n```\n\n" + md_table(wide, ".3g")
    )


#: sizes of the papers' own data, for the expected-time table of the "How to reproduce" page


def extrapolate_power_law(sizes, seconds, target: float) -> float:
    """Seconds at ``target`` from measurements ``seconds`` at ``sizes``, assuming ``t = a * size^b`` between
    the two largest measured sizes (the slope of the log-log plot there); exact at a measured size."""
    sz, sec = np.asarray(sizes, dtype=float), np.asarray(seconds, dtype=float)
    order = np.argsort(sz)
    sz, sec = sz[order], sec[order]
    if len(sz) == 0 or (sz <= 0).any() or (sec <= 0).any():
        raise ValueError("extrapolate_power_law needs positive sizes and times")
    hit = np.flatnonzero(sz == target)
    if len(hit):
        return float(sec[hit[0]])
    if len(sz) == 1:
        return float(sec[0] * target / sz[0])  # one point: assume linear
    b = np.log(sec[-1] / sec[-2]) / np.log(sz[-1] / sz[-2])
    return float(sec[-1] * (target / sz[-1]) ** b)


def _duration(seconds: float) -> str:
    """``"4.2 s"``, ``"172 s (about 3 min)"``, ``"3,122 s (about 52 min)"``."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    return f"{seconds:,.0f} s" + (f" (about {seconds / 60:,.0f} min)" if seconds >= 120 else "")


def expected_times_markdown(profile: str) -> str:
    """Expected CPU times of the main steps on the papers' own data, extrapolated from this build's scaling
    measurements and sentence-encoding rate (GPU times are not measured anywhere in this book)."""

    docs = load_all(profile, results_dir())
    rows = []
    if "scaling" in docs:
        df = pd.DataFrame(docs["scaling"]["tables"]["scaling"])
        threads = docs["scaling"].get("params", {}).get("threads", "?")
        wanted = [
            (
                "k-NN, brute force (k = 10)",
                "vocabulary",
                "k-NN graph of a whole vocabulary (every word's 10 nearest words, brute force)",
            ),
            ("CSLS retrieval (1,500 queries)", "vocabulary", "CSLS retrieval of 1,500 test words"),
            (
                "LPA epoch (phase 1 + 1 epoch)",
                "train_pairs",
                "LPA phase 1 + one phase-2 epoch (neighbour pool kept at this build's size)",
            ),
        ]
        for task, key, what in wanted:
            g = df[df["task"] == task]
            if g.empty:
                continue
            big = g.loc[g["size"].idxmax()]
            target, label = DATA_SIZES[key]
            rows.append(
                {
                    "step": what,
                    "largest size measured here": f"{int(big['size']):,} {big['size label']}",
                    "time here (s)": float(big["seconds"]),
                    "the papers' size": label,
                    "expected CPU time": _duration(extrapolate_power_law(g["size"], g["seconds"], target)),
                    "threads": threads,
                }
            )
    e = _largest_encoding(encode_log(), encoder="minilm")
    if e is not None:
        for key, what in (
            ("snli_sentences", "MiniLM encoding of the official SNLI (chapter 04)"),
            ("mnli_sentences", "MiniLM encoding of MultiNLI (chapter 04, Figs. 4-5)"),
        ):
            target, label = DATA_SIZES[key]
            rows.append(
                {
                    "step": what,
                    "largest size measured here": f"{e['texts']:,} sentences",
                    "time here (s)": float(e["seconds"]),
                    "the papers' size": label,
                    "expected CPU time": _duration(target / float(e["texts_per_s"])),
                    "threads": e["threads"],
                }
            )
    if not rows:
        return "*No scaling or encoding measurements in this build, so no expected times.*\n"
    table = pd.DataFrame(rows).rename(columns={"step": "step"})
    table["time here (s)"] = table["time here (s)"].map(lambda v: f"{v:,.3g}")
    return (
        md_table(table, floatfmt=".3g") + "\n\nExtrapolated from this build's measurements on its CPU "
        "(power law through the two largest measured sizes; encoding at the measured sentences per second). "
        "None of these has been measured on a GPU.\n"
    )


def write_generated_pages(out_dir: Path, profile: str = "full") -> list[Path]:
    """Write the ``.inc`` files the prose pages include; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = {
        "datasets.inc": datasets_markdown(),
        "timings.inc": chapter_timing_markdown(profile, out_dir.parent.parent / "notebooks"),
        "records.inc": records_markdown(profile),
        "profile.inc": f"This build ran the **{profile}** profile.\n",
    }
    try:
        pages["claims.inc"] = claims_markdown(load_all(profile, results_dir()))
    except ImportError:
        pages["claims.inc"] = "## Results by chapter\n\n" + records_markdown(profile)
    pages["bench.inc"] = bench_markdown(profile)
    pages["budget.inc"] = budget_markdown(profile)
    pages["runs.inc"] = runs_markdown(profile, out_dir)
    pages["data_cost.inc"] = data_cost_markdown()
    pages["scaling.inc"] = scaling_markdown(profile, out_dir)
    pages["expected.inc"] = expected_times_markdown(profile)
    pages["verdict_rule.inc"] = report_pages.verdict_rule_markdown()
    pages["stability.inc"] = report_pages.stability_markdown(profile)
    written = []
    for name, text in pages.items():
        p = out_dir / name
        p.write_text(text, encoding="utf-8")
        written.append(p)
    return written


if __name__ == "__main__":  # pragma: no cover - manual preview
    prof = sys.argv[1] if len(sys.argv) > 1 else "full"
    for p in write_generated_pages(REPO_ROOT / "_build" / "preview", prof):
        print(p)
