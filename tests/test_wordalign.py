"""lpa_utils.chapters.ch03_word_alignment on a small planted pair written as word2vec / "src tgt" files (the Dinu /
VecMap formats), on made-up result tables (claims, findings, figures), and on the offline EN-IT data (slow)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from lpa_utils.chapters import ch03_word_alignment as wa
from lpa_utils.chapters.common import Chapter
from lpa_utils.report import papers
from lpa_utils.report.results import Results

pytestmark = pytest.mark.usefixtures("one_thread")


def _write_vectors(path, words, vectors):
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{len(words)} {vectors.shape[1]}\n")
        for w, v in zip(words, vectors):
            fh.write(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n")


@pytest.fixture(scope="module")
def planted_files(tmp_path_factory):
    """600 source words (16-d), their translations = a random rotation + noise; word i <-> 'ti' (and i < 60 also
    <-> 'ui', a second translation); a training file (first 450 words) and a test file (words 500-599)."""
    d = tmp_path_factory.mktemp("planted")
    rng = np.random.default_rng(0)
    n, dim = 600, 16
    X = rng.normal(size=(n, dim)).astype(np.float32)
    R = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    Y = (X @ R + 0.05 * rng.normal(size=(n, dim))).astype(np.float32)
    src = [f"w{i}" for i in range(n)]
    tgt = [f"t{i}" for i in range(n)] + [f"u{i}" for i in range(60)]
    Y2 = np.vstack([Y, Y[:60] + 0.01 * rng.normal(size=(60, dim)).astype(np.float32)])
    _write_vectors(d / "src.vec", src, X)
    _write_vectors(d / "tgt.vec", tgt, Y2)
    train = [f"w{i} t{i}" for i in range(450)] + [f"w{i} u{i}" for i in range(60)]
    (d / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    test = [f"w{i} t{i}" for i in range(500, 600)] + ["w599 nosuchword", "zzz t1"]
    (d / "test.txt").write_text("\n".join(test) + "\n", encoding="utf-8")
    return d


def _load(d, **kw):
    cfg = wa.PairConfig(
        "en-it",
        str(d / "src.vec"),
        str(d / "tgt.vec"),
        str(d / "train.txt"),
        "planted",
        test_dictionary=str(d / "test.txt"),
    )
    return wa.load_pair(cfg, n_train=300, n_val=40, max_src=None, max_tgt=None, save_split=False, **kw)


def test_band_validation_holds_out_whole_words_at_random():
    train = pd.DataFrame({"src": list("aabbbcdddeffgh"), "tgt": [f"x{i}" for i in range(14)]})
    tr, va = wa._band_validation(train, 4, seed=0)
    assert len(tr) + len(va) == len(train) and len(va) >= 4
    assert not set(tr["src"]) & set(va["src"])  # a word's pairs are never split
    assert (va.groupby("src").size() == train[train["src"].isin(va["src"])].groupby("src").size()).all()
    tr2, va2 = wa._band_validation(train, 4, seed=0)
    assert va.equals(va2)  # deterministic under the seed


def test_load_pair_from_files_dinu_protocol(planted_files):
    data = _load(planted_files)
    assert data.X.shape == (600, 16) and data.Y.shape == (660, 16)
    test_words = set(data.split.test["src"])
    assert not test_words & set(data.split.train["src"]) and not test_words & set(data.split.val["src"])
    assert not set(data.split.train["src"]) & set(data.split.val["src"])
    assert len(data.val) >= 40 and len(data.train) + len(data.val) <= 340
    # rows point at the right words
    r = data.train[0]
    assert data.src_emb.words[r[0]][1:] == data.tgt_emb.words[r[1]][1:]
    assert "planted" in data.data_label


def test_run_table1a_on_planted_pair_recovers_the_map(planted_files):
    data = _load(planted_files)
    methods = [
        "Artetxe 2016",
        "Procrustes (CSLS)",
        "Shigeto 2015 (T->S)",
        "Artetxe 2018 (IS)",
        "MSE, SGD (CSLS)",
        "LPA+MSE, SGD (CSLS)",
    ]
    keep = {}
    runs = wa.run_table1a(
        data,
        seeds=(0, 1),
        methods=methods,
        sgd=dict(epochs=60, batch_size=64, k=5),
        progress=False,
        device="cpu",
        keep=keep,
    )
    assert set(runs["method"]) == set(methods)
    assert len(runs) == 4 + 2 * 2  # algebraic once, SGD once per seed
    # the MUSE / VecMap protocol on the test file: the two OOV pairs are dropped and counted
    assert (runs["n_oov_pairs"] == 2).all() and (runs["n_queries"] == 100).all()
    assert runs["coverage"].iloc[0] == pytest.approx(100 / 101)  # 'zzz' has no pair in the vocabularies
    assert (runs["p@1"] >= 0.95).all(), runs[["method", "p@1"]]
    assert set(keep) == {("en-it", "mse", 0), ("en-it", "mse", 1), ("en-it", "lpa", 0), ("en-it", "lpa", 1)}
    summ = wa.summarize_table1a(runs)
    assert summ.loc["Artetxe 2016", "en-it paper"] == 39.27 and np.isnan(summ.loc["Procrustes (CSLS)", "en-it paper"])
    assert "±" in summ.loc["LPA+MSE, SGD (CSLS)", "en-it ours"]
    # deterministic: the same call gives the same numbers
    again = wa.run_table1a(
        data,
        seeds=(0,),
        methods=["LPA+MSE, SGD (CSLS)"],
        sgd=dict(epochs=60, batch_size=64, k=5),
        progress=False,
        device="cpu",
    )
    assert again["p@1"].iloc[0] == runs[(runs["method"] == "LPA+MSE, SGD (CSLS)") & (runs["seed"] == 0)]["p@1"].iloc[0]


def test_lpa_vs_baselines_arithmetic():
    runs = pd.DataFrame(
        {
            "pair": ["p"] * 6,
            "method": ["LPA+MSE, SGD (CSLS)"] * 2 + ["MSE, SGD (CSLS)"] * 2 + ["Procrustes (CSLS)", "Artetxe 2016"],
            "seed": [0, 1, 0, 1, np.nan, np.nan],
            "p@1": [0.30, 0.34, 0.28, 0.35, 0.31, 0.29],
        }
    )
    c = wa.lpa_vs_baselines(runs).iloc[0]
    assert c["LPA - MSE"] == pytest.approx(0.5)  # (+2 - 1) / 2 points
    assert c["std over seeds"] == pytest.approx(np.std([2.0, -1.0], ddof=1))
    assert c["seeds LPA > MSE"] == "1/2"
    assert c["best algebraic row"] == "Procrustes (CSLS)" and c["LPA - best algebraic"] == pytest.approx(1.0)


def test_fewer_pairs_sizes_and_shared_subsets(planted_files):
    data = _load(planted_files)
    sweep = wa.fewer_pairs(data, sizes=(50, 150, "all"), seeds=(0,), sgd=dict(epochs=5), progress=False, device="cpu")
    assert sweep.groupby("size")["n_pairs"].first().to_dict() == {"50": 50, "150": 150, "all": len(data.rest)}
    assert (sweep.groupby(["size", "seed"])["n_pairs"].nunique() == 1).all()
    sub = wa._subset_by_words(data.split.rest, 50, seed=3)
    assert len(sub) == 50 and sub.equals(wa._subset_by_words(data.split.rest, 50, seed=3))
    gain = wa.lpl_gain_by_size(sweep)
    assert list(gain["size"]) == ["50", "150", "all"]


def test_neighbour_table_marks_training_words_and_skips_self(planted_files):
    data = _load(planted_files)
    al = wa.sgd_pipeline("lpa", seed=0, device="cpu", k=5, epochs=5).fit(data.X, data.Y, data.train, val_pairs=data.val)
    t = wa.neighbour_table(data, {"LPA": al}, ["w3", "w550", "not-a-word"], n=5, device="cpu")
    assert set(t["word"]) == {"w3", "w550"}
    src_row = t[(t["word"] == "w3") & (t["space"] == "source (EN)")].iloc[0]
    neigh = [w.rstrip("*") for w in src_row["neighbours"].split(", ")]
    assert len(neigh) == 5 and "w3" not in neigh
    train_words = set(data.split.train["src"])
    assert src_row["n_train_neighbours"] == sum(w in train_words for w in neigh)
    assert all(w.endswith("*") == (w.rstrip("*") in train_words) for w in src_row["neighbours"].split(", "))
    assert (t["space"] == "target (IT: t3)").any()  # the gold translation's neighbourhood
    aligned = t[(t["word"] == "w550") & (t["space"] == "aligned: LPA")].iloc[0]["neighbours"]
    assert "t550 [it]" in aligned  # the translation is a neighbour in the joint space


@pytest.mark.slow
def test_offline_en_it_split_sizes():
    data = wa.load_pair("en-it", save_split=False)
    assert 2900 <= len(data.train) <= 3000 and len(data.val) >= 150
    assert data.split.test["src"].nunique() == 500
    words = [set(getattr(data.split, k)["src"]) for k in ("train", "val", "test")]
    assert not (words[0] & words[1] or words[0] & words[2] or words[1] & words[2])


# ------------------------------------------------------------------ the notebook's plumbing, moved into the module
def _chapter(profile):
    return Chapter(
        name="03_word_alignment",
        profile=profile,
        device=torch.device("cpu"),
        threads=1,
        results=Results("03_word_alignment", profile=profile),
    )


def test_settings_profiles_and_overrides(planted_files):
    ch = _chapter("smoke")
    src, test = str(planted_files / "src.vec"), str(planted_files / "test.txt")
    cfg = wa.settings(ch, k=5, beta=3.0, src_vectors={"en-it": src}, test_dictionaries={"en-fr": test})
    assert cfg.pairs == ["en-it", "en-fr"] and cfg.seeds == (0,) and cfg.max_words == 5000
    assert cfg.sgd == dict(wa.SGD_DEFAULTS, k=5, beta=3.0, epochs=10, patience=None)
    assert cfg.sweep_pairs == ["en-it"] and cfg.sizes == (100, 500, "all") and cfg.ks == (1, 10)
    assert cfg.overrides == {"en-it": {"src": src, "n_test": 200}, "en-fr": {"test_dictionary": test, "n_test": 300}}
    assert cfg.ablation_pair == "en-it"
    assert ch.results.params["sizes"] == ["100", "500", "all"] and ch.results.params["pairs"] == cfg.pairs
    full = wa.settings(_chapter("full"), pairs=["en-de"], seeds=[3], bible_dim=300, max_words=1000)
    assert full.pairs == ["en-de"] and full.seeds == (3,) and full.max_words == 1000
    assert full.sweep_pairs == ["en-de"] and full.ablation_pair == "en-de"  # the defaults follow the pairs
    assert full.sgd == dict(wa.SGD_DEFAULTS, k=10, beta=1.0) and full.overrides == {"en-de": {}}
    assert full.configs["en-de"].src == "bible-en-w2v-300d" and full.sizes[-1] == "all"
    assert "profile full" in str(full)


def test_methods_table_marks_the_papers_rows():
    t = wa.methods_table()
    assert list(t["method"]) == [s.name for s in wa.TABLE1A]
    added = set(t.loc[t["paper row"] == "added", "method"])
    assert added == {s.name for s in wa.TABLE1A} - set(papers.TABLE1A) == {"Procrustes (CSLS)", "MSE, SGD (CSLS)"}


def test_planted_check_small():
    t = wa.planted_check(n=400, dim=8, noise=0.02, n_train=200, n_val=20, n_test=100, epochs=100)
    assert list(t.columns) == ["aligner", "P@1 (CSLS)"] and len(t) == 8
    algebraic = t[~t["aligner"].str.contains("SGD")]
    assert (algebraic["P@1 (CSLS)"] >= 0.99).all(), t


def _fake_results():
    runs = pd.DataFrame(
        {
            "pair": ["en-it"] * 6 + ["en-fr"] * 4,
            "method": ["LPA+MSE, SGD (CSLS)"] * 2
            + ["MSE, SGD (CSLS)"] * 2
            + ["Procrustes (CSLS)", "Artetxe 2016"]
            + ["LPA+MSE, SGD (CSLS)", "MSE, SGD (CSLS)", "Procrustes (CSLS)", "Artetxe 2016"],
            "seed": [0, 1, 0, 1, np.nan, np.nan, 0, 0, np.nan, np.nan],
            "p@1": [0.30, 0.34, 0.28, 0.35, 0.31, 0.29, 0.50, 0.40, 0.45, 0.41],
        }
    )
    sweep = pd.DataFrame(
        {
            "pair": "en-it",
            "size": ["100"] * 4 + ["all"] * 4,
            "seed": [0, 0, 1, 1] * 2,
            "method": ["MSE", "MSE+LPL"] * 4,
            "n_pairs": [100] * 4 + [900] * 4,
            "p@1": [0.10, 0.12, 0.11, 0.14, 0.30, 0.29, 0.31, 0.30],
        }
    )
    abl = pd.DataFrame(
        {
            "pair": "en-it",
            "param": ["k", "k", "beta", "beta"],
            "value": [1, 10, 1.0, 3.0],
            "seed": 0,
            "val p@1": [0.1, 0.2, 0.3, 0.1],
            "test p@1": [0.15, 0.25, 0.2, 0.1],
        }
    )
    return runs, sweep, abl


def test_claims_table_names_artefacts_by_key():
    runs, sweep, _ = _fake_results()
    c = wa.claims_table(runs, sweep)
    assert set(c["artefact"]) <= set(papers.ARTEFACTS) and list(c.columns) == [
        "artefact",
        "claim",
        "paper",
        "ours",
        "verdict",
    ]
    it = c[c["claim"] == "en-it: LPA + MSE (CSLS) above MSE by SGD"].iloc[0]
    assert (
        it["paper"] == f"{papers.table1a('en-it', 'LPA+MSE, SGD (CSLS)'):.2f} vs "
        f"{papers.table1a('en-it', 'MSE, SGD (NN)'):.2f}"
    )
    assert "+0.50 (std" in it["ours"] and "LPA ahead in 1/2 seeds" in it["ours"]
    assert c[c["claim"].str.startswith("en-fr")]["paper"].eq("pair not in the paper").all()
    few = c[c["artefact"] == "lpl.fewer_pairs"].iloc[0]
    assert few["verdict"] == "yes" and "at 100 pairs: +2.50 points" in few["ours"]  # (2 + 3) / 2 points


def test_findings_are_plain_values_to_glue():
    runs, sweep, abl = _fake_results()
    f = wa.findings(_chapter("smoke"), wa.settings(_chapter("smoke")), runs, sweep, abl)
    assert f["found_n_pairs"] == 2 and f["found_n_better"] == 2 and f["found_n_clear"] == 1
    assert f["paper_n_wins"] == 3 and f["paper_n_pairs"] == 4  # EN-ES: 35.13 < 35.3 in the paper
    assert f["found_alg_max"] == pytest.approx(5.0) and f["found_fewer_min"] == pytest.approx(-1.0)
    assert f["found_abl_k"] == "10" and f["found_abl_beta"] == "1" and f["found_abl_hi"] == pytest.approx(25.0)
    assert "EN-IT +0.5" in f["found_gain_by_pair"] and f["found_profile"] == "smoke"
    assert all(type(v) in (int, float, str) for v in f.values()), {k: type(v) for k, v in f.items()}
    assert np.isnan(
        wa.findings(_chapter("smoke"), wa.settings(_chapter("smoke")), runs, sweep, pd.DataFrame())["found_abl_lo"]
    )


def test_figures_and_captions(planted_files):
    data = _load(planted_files)
    datas = {"en-it": data}
    runs, sweep, abl = _fake_results()
    cfg = wa.settings(_chapter("smoke"), seeds=(0, 1))
    for fig in (
        wa.plot_table1a(runs[runs["pair"] == "en-it"], datas),
        wa.plot_fewer_pairs(sweep, datas, ["en-it"]),
        wa.plot_ablation(abl, "en-it"),
        wa.plot_ablation(pd.DataFrame(), "en-de"),
    ):
        assert isinstance(fig, plt.Figure)
        plt.close(fig)
    cap = wa.caption("fig-03-table1a", cfg, datas)
    assert cap == {"fig_03_table1a_data": "EN-IT: planted", "fig_03_table1a_runs": "2 seeds for the SGD rows"}
    assert wa.caption("fig-03-ablation", cfg, datas)["fig_03_ablation_beta"] == "1"
    with pytest.raises(KeyError):
        wa.caption("fig-01-nothing", cfg, datas)


def test_record_results_and_table2_view(planted_files):
    data = _load(planted_files)
    keep = {}
    runs = wa.run_table1a(
        data,
        seeds=(0,),
        methods=["MSE, SGD (CSLS)", "LPA+MSE, SGD (CSLS)"],
        sgd=dict(epochs=5, k=5),
        progress=False,
        device="cpu",
        keep=keep,
    )
    neighbours = wa.neighbour_tables({"en-it": data}, keep, ["w3", "w550"], seed=0, n=4, device="cpu")
    view = wa.table2_view(neighbours, {"en-it": data})
    assert list(view.columns) == ["1", "2", "3", "4", "training words"]
    assert view.index.names == ["pair", "word", "space"] and len(view) == len(neighbours["en-it"])
    sweep = wa.fewer_pairs(
        data, sizes=(50,), seeds=(0,), sgd=dict(epochs=2), progress=False, device="cpu", methods=("MSE", "MSE+LPL")
    )
    res = Results("03_word_alignment", profile="smoke")
    n = wa.record_results(res, runs, {"en-it": data}, sweep=sweep, neighbours=neighbours)
    assert n == len(res.records) == 2 * 3 + 2
    assert res.tables["fewer_pairs_runs"][0]["P@1 (%)"] == pytest.approx(100 * sweep["p@1"].iloc[0])
    assert res.params["data"]["en-it"] == data.data_label and "table2_en-it" in res.tables
