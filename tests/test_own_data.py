"""Your own embeddings (issue 15): chapter 03 and the command-line aligner on a planted pair under a new pair name,
and every bad data parameter's message.

The end-to-end test writes a tiny planted pair "en-xx" (600 words, 10-d source, 12-d target = an exact linear map
plus noise, a "src tgt" training dictionary and a test dictionary) into ``tmp_path``, runs the chapter with
papermill in the smoke profile (lists and mappings passed as the strings papermill's ``-p`` gives) from
``tmp_path`` as working directory, then the aligner on the same files, and checks labels, the absence of the paper's
figures, where the results went (the book's ``book/results/`` untouched) and the mapped files' format.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import papermill
import pytest
import torch

from lpa_utils.align import cli
from lpa_utils.chapters import ch03_word_alignment as ch03
from lpa_utils.chapters.common import Chapter, check_data_params, list_param, mapping_param
from lpa_utils.config import BOOK_RESULTS
from lpa_utils.report import papers
from lpa_utils.report.results import Results

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "03_word_alignment.ipynb"
N, D_SRC, D_TGT = 600, 10, 12


def _letters(i: int) -> str:
    """0 -> "aa", 1 -> "ab", ...: words made of letters only."""
    return "abcdefghijklmnopqrstuvwxyz"[i // 26] + "abcdefghijklmnopqrstuvwxyz"[i % 26]


def _write_vectors(path: Path, words, vectors) -> None:
    lines = [f"{len(words)} {vectors.shape[1]}"] + [
        w + " " + " ".join(f"{x:.6f}" for x in v) for w, v in zip(words, vectors)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict[str, Path]:
    """Source word "s<ab>" <-> target word "x<ab>"; Y = X M + noise with M (10, 12); training dictionary: words
    0-449, test dictionary: words 500-599."""
    d = tmp_path_factory.mktemp("own")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D_SRC)).astype(np.float32)
    M = rng.normal(size=(D_SRC, D_TGT)) / np.sqrt(D_SRC)
    Y = (X @ M + 0.01 * rng.normal(size=(N, D_TGT))).astype(np.float32)
    src = [f"s{_letters(i)}" for i in range(N)]
    tgt = [f"x{_letters(i)}" for i in range(N)]
    files = {"src": d / "src.vec", "tgt": d / "tgt.vec", "train": d / "train.txt", "test": d / "test.txt"}
    _write_vectors(files["src"], src, X)
    _write_vectors(files["tgt"], tgt, Y)
    files["train"].write_text("".join(f"{src[i]} {tgt[i]}\n" for i in range(450)), encoding="utf-8")
    files["test"].write_text("".join(f"{src[i]} {tgt[i]}\n" for i in range(500, N)), encoding="utf-8")
    return files


def _book_results() -> dict[str, tuple[int, int]]:
    return (
        {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in BOOK_RESULTS.glob("*")}
        if BOOK_RESULTS.exists()
        else {}
    )


def _outputs(nb) -> str:
    """All text the executed code cells show (plain text and HTML)."""
    out = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            out.append(o.get("text", ""))
            data = o.get("data", {})
            out += [data.get("text/plain", ""), data.get("text/html", "")]
    return "\n".join(x if isinstance(x, str) else "".join(x) for x in out)


def test_chapter03_and_aligner_on_a_new_pair(planted, tmp_path, monkeypatch):
    monkeypatch.delenv("LPA_RESULTS_DIR", raising=False)
    before, repo_before = _book_results(), {p.name for p in REPO.iterdir()}
    out_nb = tmp_path / "out.ipynb"
    params = {
        "profile": "smoke",
        "pairs": '["en-xx"]',
        "sweep_pairs": '["en-xx"]',
        "ablation_pair": "en-xx",
        "src_vectors": json.dumps({"en-xx": str(planted["src"])}),  # as papermill's -p passes them
        "tgt_vectors": {"en-xx": str(planted["tgt"])},
        "dictionaries": {"en-xx": str(planted["train"])},
        "test_dictionaries": {"en-xx": str(planted["test"])},
        "max_words": N,
        "n_train": 300,
        "n_val": 50,
        "seeds": "[0]",
        "table2_words": ["saa", "sta"],
    }
    papermill.execute_notebook(
        str(NOTEBOOK), str(out_nb), parameters=params, kernel_name="python3", cwd=str(tmp_path), progress_bar=False
    )
    # results beside the run, the book's own untouched
    res_file = tmp_path / "lpa_results" / "03_word_alignment.smoke.json"
    assert res_file.exists()
    assert _book_results() == before
    assert {p.name for p in REPO.iterdir()} == repo_before  # no lpa_results/ in the repo
    doc = json.loads(res_file.read_text(encoding="utf-8"))
    assert doc["params"]["pairs"] == ["en-xx"] and doc["params"]["not_in_the_paper"] == ["en-xx"]
    # labels: the files' names and EN->XX, never Italian
    recs = doc["records"]
    assert recs and all(r["data"].startswith("src.vec -> tgt.vec EN->XX; dictionary train.txt") for r in recs)
    shown = _outputs(nbformat.read(out_nb, as_version=4))
    assert "EN->XX" in shown and "EN->IT" not in shown and "Bible" not in shown
    spaces = {r["space"] for r in doc["tables"]["table2_en-xx"]}
    assert "source (EN)" in spaces and any(s.startswith("target (XX: x") for s in spaces)
    assert any("[xx]" in r["neighbours"] for r in doc["tables"]["table2_en-xx"])
    # no paper figure beside ours, no verdict against the paper
    assert all(r.get("paper") is None and r.get("paper_ref") is None for r in recs)
    assert {r["en-xx paper"] for r in doc["tables"]["table1a"]} == {ch03.NOT_IN_PAPER}
    claims = doc["tables"]["claims"]
    assert claims and {c["paper"] for c in claims} == {ch03.NOT_IN_PAPER}
    assert {c["verdict"] for c in claims} == {ch03.NO_PAPER_FIGURE}
    assert "not in the paper" in shown
    # the planted map is found: the Procrustes-with-CSLS row on the test dictionary
    t1a = {r["method"]: r for r in doc["tables"]["table1a_runs"]}
    assert t1a["Artetxe 2016"]["p@1"] > 0.9 and t1a["Artetxe 2016"]["n_queries"] == 100

    # the command-line aligner on the same files
    out_src, out_tgt, report = tmp_path / "src.mapped.vec", tmp_path / "tgt.mapped.vec", tmp_path / "report.json"
    rc = cli.main(
        [
            str(planted["src"]),
            str(planted["tgt"]),
            "--train",
            str(planted["train"]),
            "--test",
            str(planted["test"]),
            "--method",
            "lstsq",
            "--out-src",
            str(out_src),
            "--out-tgt",
            str(out_tgt),
            "--report",
            str(report),
            "--quiet",
            "--threads",
            "1",
        ]
    )
    assert rc == 0
    for path, first in ((out_src, "saa"), (out_tgt, "xaa")):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0] == f"{N} {D_TGT}"  # header "n d": mapped to 12-d
        rows = [ln.split(" ") for ln in lines[1:]]
        assert len(rows) == N and rows[0][0] == first and {len(r) for r in rows} == {D_TGT + 1}
        np.asarray([r[1:] for r in rows], dtype=np.float64)  # every value a number
    rep = json.loads(report.read_text(encoding="utf-8"))
    assert rep["source"]["dim"] == D_SRC and rep["target"]["dim"] == D_TGT and rep["pairs"]["test"] == 100
    assert {s["retrieval"]: s["P@1"] for s in rep["scores"]}["csls"] > 90
    assert _book_results() == before


# ------------------------------------------------------------------------------------------ bad parameters
def _chapter() -> Chapter:
    return Chapter(
        name="03_word_alignment",
        profile="smoke",
        device=torch.device("cpu"),
        threads=1,
        results=Results("03_word_alignment", profile="smoke"),
    )


def _files(planted) -> dict:
    return dict(
        src_vectors={"en-xx": str(planted["src"])},
        tgt_vectors={"en-xx": str(planted["tgt"])},
        dictionaries={"en-xx": str(planted["train"])},
    )


def test_unknown_pair_without_files_lists_the_pairs_and_what_to_set():
    with pytest.raises(ValueError) as e:
        ch03.settings(_chapter(), pairs=["en-xx"])
    msg = str(e.value)
    assert msg.startswith("parameter pairs: 'en-xx' is not one of the book's pairs (en-it, en-de, en-es, en-fi, en-fr)")
    assert 'src_vectors={"en-xx": "src.vec"}' in msg and "test_dictionaries" in msg and "optionally" in msg
    assert "src_vectors, tgt_vectors, dictionaries do not give its data" in msg
    with pytest.raises(ValueError, match="dictionaries does not give its data"):
        ch03.settings(
            _chapter(), pairs=["en-xx"], src_vectors={"en-xx": "glove-en-50d"}, tgt_vectors={"en-xx": "glove-en-50d"}
        )
    with pytest.raises(ValueError, match="pair 'en-xx' is not one of the book's pairs"):
        ch03.load_pair("en-xx")


def test_missing_file_names_the_parameter_the_pair_and_the_path(planted, tmp_path):
    nope = tmp_path / "nope.vec"
    for param in ("src_vectors", "tgt_vectors", "dictionaries", "test_dictionaries"):
        kw = {**_files(planted), param: {"en-xx": str(nope)}}
        with pytest.raises(FileNotFoundError) as e:
            ch03.settings(_chapter(), pairs=["en-xx"], **kw)
        assert str(e.value).startswith(f"parameter {param}['en-xx']: no such file {str(nope)!r}")
    with pytest.raises(FileNotFoundError, match=r"relative to the working directory .*a dictionary source \("):
        ch03.settings(_chapter(), dictionaries={"en-it": "no-such-dictionary.txt"})
    with pytest.raises(ValueError, match=r"src_vectors\['en-it'\]: 'snli' is a nli dataset, not word vectors"):
        ch03.settings(_chapter(), src_vectors={"en-it": "snli"})


def test_strings_where_lists_or_mappings_are_expected_are_parsed(planted):
    files = {k: json.dumps(v) for k, v in _files(planted).items()}  # what papermill's -p passes
    cfg = ch03.settings(_chapter(), pairs='["en-xx"]', seeds="[0, 1]", table2_words="['saa']", **files)
    assert cfg.pairs == ["en-xx"] and cfg.seeds == (0, 1) and cfg.table2_words == ["saa"]
    assert cfg.sweep_pairs == ["en-xx"] and cfg.ablation_pair == "en-xx"  # the defaults follow the pairs
    c = cfg.configs["en-xx"]
    assert (c.src, c.tgt, c.dictionary, c.test_dictionary) == (
        str(planted["src"]),
        str(planted["tgt"]),
        str(planted["train"]),
        None,
    )
    assert c.label == "src.vec -> tgt.vec EN->XX" and c.own_data and not c.paper_figures
    assert ch03.settings(_chapter(), pairs="['en-it']").pairs == ["en-it"]  # a Python literal too
    assert list_param("seeds", (1, 2), item=int) == [1, 2] and list_param("pairs", None) is None
    assert mapping_param("src_vectors", None) == {} and mapping_param("x", "{'a': None}") == {}


def test_unparseable_strings_say_what_to_write():
    with pytest.raises(ValueError) as e:
        ch03.settings(_chapter(), pairs="en-xx")
    assert str(e.value) == (
        "parameter pairs: expected a list, got the string 'en-xx'; write pairs = [\"en-xx\"] in "
        "the parameters cell, or with papermill -p pairs '[\"en-xx\"]' (or -y 'pairs: "
        '["en-xx"]\')'
    )
    with pytest.raises(ValueError, match=r"parameter seeds: expected a list of items of type int, got \['a'\]"):
        ch03.settings(_chapter(), seeds='["a"]')
    with pytest.raises(ValueError) as e:
        ch03.settings(_chapter(), src_vectors="en-it=/data/src.vec")
    assert str(e.value).startswith(
        "parameter src_vectors: expected a mapping from pair to file or dataset name, "
        "got the string 'en-it=/data/src.vec'; write src_vectors = "
        '{"en-xx": "/path/to/src.vec"}'
    )
    with pytest.raises(ValueError, match="parameter dictionaries: expected a mapping .* got list"):
        ch03.settings(_chapter(), dictionaries=["train.txt"])
    with pytest.raises(ValueError, match="parameter pairs: expected a list of at least one item"):
        ch03.settings(_chapter(), pairs="[]")


def test_pairs_named_elsewhere_must_be_run(planted):
    with pytest.raises(ValueError) as e:
        ch03.settings(_chapter(), **_files(planted))  # en-xx given, but not in pairs
    assert str(e.value) == (
        "parameter src_vectors: pair 'en-xx' is not in pairs ['en-it', 'en-fr']; add it to "
        'pairs (e.g. pairs = ["en-it", "en-fr", "en-xx"]) or remove it from src_vectors'
    )
    with pytest.raises(ValueError, match=r"parameter sweep_pairs: 'en-de' is not in pairs \['en-it', 'en-fr'\]"):
        ch03.settings(_chapter(), sweep_pairs=["en-de"])
    with pytest.raises(ValueError, match=r"parameter ablation_pair: 'en-de' is not in pairs"):
        ch03.settings(_chapter(), ablation_pair="en-de")
    with pytest.raises(TypeError, match="unknown parameters"):
        check_data_params(["en-it"], ["en-it"], src_vector={})


def test_paper_figures_only_for_the_papers_pairs_and_data(planted):
    assert papers.table1a_applies("en-it") and not papers.table1a_applies("en-fr")
    assert papers.table1a_applies("en-it", ["dinu-en-300d", "dinu-it-300d", "dinu-train", "dinu-test"])
    assert papers.table1a_applies("en-de", ["dinu-en-300d", "vecmap-de-300d", "vecmap-train"])
    assert not papers.table1a_applies("en-it", ["/data/dinu-en-300d"]) and not papers.table1a_applies("en-xx")
    cfg = ch03.settings(_chapter(), src_vectors={"en-it": str(planted["src"])})
    assert cfg.overrides["en-it"] == {"src": str(planted["src"]), "n_test": 200}
    book = ch03.PairConfig("en-it", "bible-en-w2v-100d", "bible-it-w2v-100d")
    assert book.paper_figures and not book.own_data
    mine = ch03.PairConfig("en-it", str(planted["src"]), "x", given=(str(planted["src"]),))
    assert mine.own_data and not mine.paper_figures and mine.arrow == "EN->IT"
    assert ch03.languages("en-xx") == ("en", "xx") and ch03.languages("mine") == ("src", "tgt")


def test_chapter05_on_a_new_pair(planted, tmp_path, monkeypatch):
    """Chapter 05 takes the same data parameters: the AAE on "en-xx", labelled as given, no paper figure."""
    monkeypatch.delenv("LPA_RESULTS_DIR", raising=False)
    before = _book_results()
    out_nb = tmp_path / "out05.ipynb"
    params = {
        "profile": "smoke",
        "pairs": '["en-xx"]',
        "src_vectors": {"en-xx": str(planted["src"])},
        "tgt_vectors": {"en-xx": str(planted["tgt"])},
        "dictionaries": {"en-xx": str(planted["train"])},
    }
    papermill.execute_notebook(
        str(REPO / "notebooks" / "05_adversarial_autoencoder.ipynb"),
        str(out_nb),
        parameters=params,
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    doc = json.loads((tmp_path / "lpa_results" / "05_adversarial_autoencoder.smoke.json").read_text("utf-8"))
    assert _book_results() == before
    assert doc["params"]["not_in_the_paper"] == ["EN-XX"] and set(doc["params"]["pairs"]) == {"EN-XX"}
    assert all(r.get("paper") in (None, "not in the paper") and r.get("paper_ref") is None for r in doc["records"])
    assert {c["verdict"] for c in doc["tables"]["claims"]} == {"no paper figure"}
    assert {r["run"] for r in doc["tables"]["collapse"]} >= {"XX vectors (reference)"}
    assert list(doc["tables"]["paper_lists_side_by_side"][0]) == ["paper, EN→IT (Wikipedia word2vec)"]
    prec = {(r["map"], r["retrieval"]): r["p@1"] for r in doc["tables"]["precision"]}
    assert prec[("supervised Procrustes", "nn")] > 0.9  # the planted pair is linear
