"""Tests of lpa_utils.chapters.ch04_nli: the protocol (dev trials at every size, paired runs, seeds from one base
seed), the verdicts on the paper's claims, Table 3 and the label purity, the records and the glued findings.

Toy data (tests/test_nli.py builds it); references: runs trained one by one, scikit-learn's NearestNeighbors,
hand-computed effects, lpa_utils.report.verdicts.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import NearestNeighbors

from lpa_utils.chapters import ch04_nli as C4
from lpa_utils.data import load_snli
from lpa_utils.models import nli
from lpa_utils.models.nli import MODELS, NLIConfig
from lpa_utils.report.papers import ARTEFACTS, NLI_GAIN
from lpa_utils.report.results import Results
from lpa_utils.report.verdicts import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED
from tests.test_nli import FAST, synthetic_data

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = replace(FAST, min_round_steps=5, max_round_steps=10, max_rounds=4, patience=2)
GRIDS = {"baseline": {"dropout": [0.1, 0.3]}, "MSE": {"gamma": [0.0, 0.01]}, "MSE+LPL": {"gamma": [0.01, 0.05]}}


@pytest.fixture(scope="module")
def toy():
    return synthetic_data(n_train=240)


@pytest.fixture(scope="module")
def exp(toy):
    return C4.run_experiment(
        toy,
        [60, "all"],
        draws=3,
        grids=GRIDS,
        config=TINY,
        keep_sizes=[60],
        progress=False,
        eval_splits=("test", "dev"),
    )


# ---------------------------------------------------------------------------------------------- the protocol
def test_run_experiment_is_tidy_paired_and_tuned_on_dev(toy, exp):
    runs, tuning = exp.runs, exp.tuning
    assert len(runs) == 2 * 3 * 3 and exp.sizes == [60, 240] and exp.draws == 3
    assert exp.hits["test"].shape == (18, 150) and exp.hits["dev"].shape == (18, 150)
    np.testing.assert_allclose(runs["test_acc"], exp.hits["test"].mean(1))
    # every model gets the same number of dev trials at every size; the chosen one has the best dev accuracy
    assert len(tuning) == 2 * 3 * 2 and tuning.groupby(["size", "model"]).size().eq(2).all()
    for (size, m), g in tuning.groupby(["size", "model"]):
        best = g.sort_values(["dev_acc", "point"], ascending=[False, True]).iloc[0]
        assert g["chosen"].sum() == 1 and bool(g.loc[best.name, "chosen"])
        cell = runs[(runs["size"] == size) & (runs["model"] == m)]
        field = next(iter(GRIDS[m]))
        assert cell[field].eq(best[field]).all() and cell["point"].eq(best["point"]).all()
        # draw 0's reported run is the chosen trial
        assert cell[cell["draw"] == 0]["dev_acc"].item() == best["dev_acc"]
    # paired: within a draw the models share the subset; draws differ
    r = {(d, m): exp.kept[(60, d, m)][0] for d in range(3) for m in MODELS}
    assert all(np.array_equal(r[(d, "baseline")], r[(d, m)]) for d in range(3) for m in MODELS)
    assert not np.array_equal(r[(0, "baseline")], r[(1, "baseline")])
    np.testing.assert_array_equal(r[(2, "MSE")], C4.draw_subset(240, 60, 0, 2))
    # the kept models score what the runs table says (hits from the batched evaluation)
    rows, fit = exp.kept[(60, 1, "MSE+LPL")]
    got = runs[(runs["size"] == 60) & (runs["draw"] == 1) & (runs["model"] == "MSE+LPL")]
    assert got["test_acc"].item() == pytest.approx(
        nli.accuracy(fit.model, toy.premise["test"], toy.hypothesis["test"], toy.labels["test"]), abs=1 / 150
    )
    capped = runs["rounds"].eq(TINY.max_rounds) & (runs["rounds"] - 1 - runs["best_round"] < TINY.patience)
    assert (runs["capped"] == capped).all()
    summ = C4.summarize_runs(runs)
    ref = runs.groupby(["size", "model"])["test_acc"].agg(["mean", "std"])
    assert summ.loc[60, "MSE std"] == pytest.approx(100 * ref.loc[(60, "MSE"), "std"])
    tab = C4.chosen_table(exp)
    assert list(tab.index) == [60, 240] and ("MSE+LPL", "gamma") in tab.columns


def test_a_run_of_the_experiment_equals_the_run_alone(toy, exp):
    """A cell of the batched experiment (draw 2 at 60 pairs, MSE + LPL) is the run trained alone with the same
    subset, configuration and seed."""
    rows, fit = exp.kept[(60, 2, "MSE+LPL")]
    alone = C4.fit_on_subset(toy, rows, "MSE+LPL", config=fit.config, seed=C4.run_seed(0, 60, 2))
    assert (alone.rounds, alone.best_round) == (fit.rounds, fit.best_round)
    assert alone.dev_acc == pytest.approx(fit.dev_acc, abs=1 / 150)
    for k, v in alone.model.state_dict().items():
        np.testing.assert_allclose(v.numpy(), fit.model.state_dict()[k].numpy(), atol=1e-4, rtol=1e-3)


def test_seeds_derive_from_the_base_seed():
    a = C4.draw_subset(100, 10, base_seed=0, draw=0)
    assert len(a) == 10 and len(set(a)) == 10 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, C4.draw_subset(100, 10, 0, 0))
    assert not np.array_equal(a, C4.draw_subset(100, 10, 0, 1))
    assert not np.array_equal(a, C4.draw_subset(100, 10, 1, 0))
    np.testing.assert_array_equal(C4.draw_subset(100, 500, 0, 0), np.arange(100))
    s = C4.run_seed(0, 10, 0)
    assert s == C4.run_seed(0, 10, 0) and s != C4.run_seed(1, 10, 0) and s != C4.run_seed(0, 10, 1)
    assert s >= 0


def test_trials_look_at_dev_only(toy):
    """Scrambled test labels change nothing in the trials, the choices or the dev accuracies."""
    kw = dict(draws=2, grids=GRIDS, config=TINY, progress=False)
    a = C4.run_experiment(toy, [60], **kw)
    bad = replace(toy, labels={**toy.labels, "test": np.random.default_rng(0).permutation(toy.labels["test"])})
    b = C4.run_experiment(bad, [60], **kw)
    pd.testing.assert_frame_equal(a.tuning, b.tuning)
    pd.testing.assert_series_equal(a.runs["dev_acc"], b.runs["dev_acc"])
    assert not np.array_equal(a.hits["test"], b.hits["test"])


def test_grids_need_the_same_budget():
    assert C4.grid_points({"gamma": [1, 2], "beta": [3]}) == [{"gamma": 1, "beta": 3}, {"gamma": 2, "beta": 3}]
    assert C4.grid_points({}) == [{}]
    assert C4.check_grids(C4.FULL_GRIDS, MODELS) == 4 and C4.check_grids(C4.SMOKE_GRIDS, MODELS) == 2
    with pytest.raises(ValueError, match="same number of trials"):
        C4.check_grids({**GRIDS, "MSE": {"gamma": [0.1]}}, MODELS)
    with pytest.raises(ValueError, match="no grid"):
        C4.check_grids({"MSE": {"gamma": [0.1]}}, MODELS)
    with pytest.raises(ValueError, match="not NLIConfig fields"):
        C4.grid_points({"lr_typo": [1.0]})
    assert C4.grid_text({"MSE": {"gamma": [0.1, 1.0]}}) == "MSE: gamma {0.1, 1}"


# ---------------------------------------------------------------------------------------------- verdicts
def _planted(sizes=(1000, 5000), R=4, n=400):
    """An Experiment with hits planted so that every effect is known: at 1000 pairs MSE + LPL is right on 10 %
    more test pairs than the baseline in every run and MSE on 4 % more; at 5000 both on 2 % more."""
    rng = np.random.default_rng(0)
    recs, hits = [], []
    extra = {(1000, "MSE"): 16, (1000, "MSE+LPL"): 40, (5000, "MSE"): 8, (5000, "MSE+LPL"): 8}
    for s in sizes:
        for d in range(R):
            base = (rng.random(n) < 0.5).astype(np.int8)
            wrong = np.flatnonzero(base == 0)
            for m in MODELS:
                h = base.copy()
                h[wrong[: extra.get((s, m), 0)]] = 1
                hits.append(h)
                recs.append({"size": s, "draw": d, "model": m, "test_acc": h.mean()})
    runs = pd.DataFrame(recs)
    return C4.Experiment(runs, {"test": np.stack(hits)}, pd.DataFrame(), {}, 0.0, "toy")


def test_paper_claims_on_planted_effects():
    exp = _planted()
    c = C4.paper_claims(exp).set_index(["claim", "model"])
    head = c.loc[("gain over the baseline at 1,000 pairs", "MSE+LPL")]
    assert head["effect"] == pytest.approx(10.0) and head["paper"] == "+8.9 pp" and head["verdict"] == REPRODUCED
    assert head["runs"] == 4 and head["items"] == 4 * 400 and head["margin"] == C4.MARGINS["accuracy"]
    assert head["artefact"] == "lpl.fig3a" and head["low"] <= 10.0 <= head["high"]
    mse = c.loc[("gain over the baseline at 1,000 pairs", "MSE")]
    assert mse["effect"] == pytest.approx(4.0) and mse["paper"].startswith("a gain (direction only")
    shrink = c.loc[("the gain shrinks from 1,000 to 5,000 pairs", "MSE+LPL")]
    assert shrink["effect"] == pytest.approx(10.0 - 2.0) and shrink["verdict"] == REPRODUCED
    beats = c.loc[("MSE+LPL above MSE alone (all sizes)", "MSE+LPL")]
    assert beats["effect"] == pytest.approx(((10 - 4) + (2 - 2)) / 2) and beats["runs"] == 8
    spread = c.loc[("MSE+LPL spreads less over runs than baseline", "MSE+LPL")]
    dev = C4._abs_deviation(exp.runs, "test_acc")
    assert spread["effect"] == pytest.approx(100 * (dev["baseline"] - dev["MSE+LPL"]).mean())
    assert spread["artefact"] == "lpl.fig3b" and pd.isna(spread["items"])
    assert set(c["verdict"]) <= {REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE}
    json.dumps(C4.paper_claims(exp).to_dict(orient="records"), default=float)


@pytest.mark.parametrize(
    "diffs, expected",
    [
        ([3.0, 2.5, 3.5, 3.0], REPRODUCED),  # clearly beyond the margin
        ([0.1, 0.2, 0.15, 0.1], NOT_REPRODUCED),  # real but inside the margin
        ([-2.0, -3.0, -2.5, -2.2], NOT_REPRODUCED),  # the wrong way
        ([-4.0, 4.0, -3.0, 3.5], INCONCLUSIVE),  # holds 0 and effects beyond the margin
    ],
)
def test_directional_verdicts(diffs, expected):
    """A claim the paper makes without a figure: reproduced beyond the margin, not reproduced when every effect
    beyond the margin is excluded, inconclusive otherwise."""
    base = np.full(4, 0.5)
    row = C4.verdict_row("lpl.fig3a", "x", base + np.array(diffs) / 100, base, paper=None, margin=0.5, model="MSE")
    assert row["verdict"] == expected and "direction only" in row["paper"]
    assert row["effect"] == pytest.approx(np.mean(diffs))


# ---------------------------------------------------------------------------------------------- Table 3
def test_purity_against_sklearn(toy, exp):
    pur = C4.purity_table(exp, toy, 60, k=5)
    assert len(pur.table) == 3 * 3 and pur.items[("MSE", "gold_agree")].shape == (3, 150)
    for m in MODELS:
        rows, fit = exp.kept[(60, 1, m)]
        z_tr = nli.penultimate(fit.model, toy.premise["train"][rows], toy.hypothesis["train"][rows]).numpy()
        z_q = nli.penultimate(fit.model, toy.premise["test"], toy.hypothesis["test"]).numpy()
        _, ridx = NearestNeighbors(n_neighbors=5).fit(z_tr.astype(np.float64)).kneighbors(z_q.astype(np.float64))
        pred_tr = nli.predict(fit.model, toy.premise["train"][rows], toy.hypothesis["train"][rows]).numpy()
        gold_tr, gq = toy.labels["train"][rows], toy.labels["test"]
        pur_ref = np.array([np.bincount(r, minlength=3).max() / 5 for r in pred_tr[ridx]])
        np.testing.assert_allclose(pur.items[(m, "pred_purity")][1], pur_ref, atol=1e-9)
        np.testing.assert_allclose(pur.items[(m, "gold_agree")][1], (gold_tr[ridx] == gq[:, None]).mean(1))
        vote = np.array([np.bincount(r, minlength=3).argmax() for r in gold_tr[ridx]])
        row = pur.table[(pur.table["model"] == m) & (pur.table["draw"] == 1)].iloc[0]
        assert row["knn_acc"] == pytest.approx(np.mean(vote == gq))
    summ = C4.purity_summary(pur)
    assert list(summ.index) == list(MODELS) and ("gold_agree", "std") in summ.columns
    tab = C4.nearest_training_pairs({m: exp.kept[(60, 0, m)][1] for m in MODELS}, toy, exp.kept[(60, 0, "MSE")][0], 3)
    assert len(tab) == 3 * 3 and list(tab["rank"][:3]) == [0, 1, 2]


def test_purity_claims_by_hand():
    items = {
        ("baseline", "pred_purity"): np.full((2, 50), 0.5),
        ("MSE", "pred_purity"): np.full((2, 50), 0.6),
        ("MSE+LPL", "pred_purity"): np.full((2, 50), 0.502),
        ("baseline", "gold_agree"): np.full((2, 50), 0.4),
        ("MSE", "gold_agree"): np.full((2, 50), 0.39),
        ("MSE+LPL", "gold_agree"): np.full((2, 50), 0.46),
    }
    pur = C4.Purity(pd.DataFrame(), items, size=2000, k=10)
    c = C4.purity_claims(pur).set_index(["claim", "model"])
    assert set(c["artefact"]) == {"lpl.table3"} and len(c) == 4
    pred = "10 nearest training pairs in the penultimate layer (2,000 pairs): predicted labels cluster more than the"
    gold = "10 nearest training pairs in the penultimate layer (2,000 pairs): neighbours share the test pair's gold"
    get = lambda prefix, m: c[[k[0].startswith(prefix) and k[1] == m for k in c.index]].iloc[0]  # noqa: E731
    assert get(pred, "MSE")["effect"] == pytest.approx(10.0) and get(pred, "MSE")["verdict"] == REPRODUCED
    assert get(pred, "MSE+LPL")["verdict"] == NOT_REPRODUCED  # +0.2 pp: inside the margin
    assert get(gold, "MSE")["verdict"] == NOT_REPRODUCED and get(gold, "MSE+LPL")["effect"] == pytest.approx(6.0)


def test_table3_claims(toy, exp):
    c = C4.table3_claims(exp.kept, toy, 60)
    assert list(c["model"]) == ["MSE", "MSE+LPL"] and (c["paper"] == "+50.0 pp").all()
    assert c["claim"].str.startswith("the first entailment test pair").all()  # the paper's pair is not in the toy
    assert c["effect"].between(-100, 100).all() and (c["runs"] == 3).all()
    assert C4.table3_pair(toy) == (int(np.flatnonzero(toy.labels["test"] == 0)[0]), False)


# ---------------------------------------------------------------------------------------------- the chapter
TOY = C4.Settings(
    sizes=[60, "all"],
    limits={},
    config=TINY,
    grids=GRIDS,
    draws=3,
    table3_size=60,
    contrast_sizes=[60],
    mnli_dev=30,
    mnli_limits={},
)


def test_settings_per_profile():
    smoke = C4.settings(SimpleNamespace(full=False), table3_size=2000)
    assert smoke.draws == 3 and smoke.table3_size == 600 and smoke.sizes == [150, 600]
    assert smoke.config.hidden == 64 and smoke.limits == {"train": 1200, "dev": 300, "test": 600}
    assert smoke.mnli_limits == {**smoke.limits, "dev_matched": 600, "dev_mismatched": 600}
    full = C4.settings(SimpleNamespace(full=True), n_layers=3, k=7)
    assert full.limits == {} and full.draws == 5 and full.table3_size == 2000 and full.sizes == [500, 1000, 2000, 5000]
    assert full.config.n_layers == 3 and full.config.k == 7 and full.config.hidden == NLIConfig().hidden
    assert full.grids == C4.FULL_GRIDS
    assert C4.settings(SimpleNamespace(full=True), sizes='[500, "all"]', table3_size="all").sizes == [500, "all"]
    assert C4.settings(SimpleNamespace(full=True), draws=7).draws == 7
    with pytest.raises(ValueError, match="table3_size"):
        C4.settings(SimpleNamespace(full=True), sizes=[500, 1000])
    with pytest.raises(ValueError, match="sizes"):
        C4.settings(SimpleNamespace(full=True), sizes=[500, -3])
    assert full.pairs("all", 1200) == 1200 and full.pairs(5000, 1200) == 1200 and full.pairs(500, 1200) == 500
    facts = C4.setting_facts(full)
    assert facts["paper_gain_pp"] == NLI_GAIN["gain_pct_points"] and facts["paper_gain_size"] == NLI_GAIN["at_size"]
    assert facts["trials"] == 4 and facts["draws"] == 5 and facts["max_steps"] == 600
    assert facts["grids"].startswith("baseline: dropout {0.1, 0.3} x weight_decay {0, 0.0001}")
    pts = C4.paper_points()
    assert pts["MSE+LPL"] - pts["baseline"] == pytest.approx(8.9) and pts["baseline"] == pytest.approx(46.11, abs=0.01)


def test_chapter_records_claims_figures_and_findings(toy, exp):
    """The notebook's pipeline on the toy problem: claims, records and tables in the results file, the glued
    findings (Python scalars and strings only) and the figures with their captions."""
    claims = C4.paper_claims(exp)
    purity = C4.purity_table(exp, toy, 60, k=5)
    table3 = pd.concat([C4.purity_claims(purity), C4.table3_claims(exp.kept, toy, 60)])
    contrast = C4.Contrast("toy2", 150, exp, C4.paper_claims(exp, label="toy2").head(2))
    mnli = C4.MNLIRun(
        "fake",
        "toy",
        replace(
            exp,
            hits={"dev_matched": exp.hits["test"], "dev_mismatched": exp.hits["dev"]},
            runs=exp.runs.assign(dev_matched_acc=exp.runs.test_acc, dev_mismatched_acc=exp.runs.dev_acc),
        ),
    )
    all_c = C4.all_claims(claims, table3=table3, contrast=contrast, mnli=mnli)
    assert set(all_c["artefact"]) == {"lpl.fig3a", "lpl.fig3b", "lpl.table3", "lpl.fig4_5"} <= set(ARTEFACTS)
    assert len(all_c) == len(claims) + len(table3) + 2 + 2 * len(claims)
    assert set(all_c["verdict"]) <= {REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE}
    counts = C4.verdict_counts(all_c)
    assert counts.to_numpy().sum() == len(all_c)
    res = Results("04_nli_regularisation", profile="smoke")
    C4.record_results(
        res,
        TOY,
        toy,
        exp=exp,
        claims=all_c,
        purity=purity,
        contrast=contrast,
        mnli=mnli,
        contrast_encoder="toy2",
        base_seed=0,
    )
    recs = res.to_frame()
    assert recs["quantity"].value_counts().to_dict() == {
        "test accuracy": 6 + 6,
        "gain over baseline": 4 + 4,
        "dev_matched accuracy": 6,
        "dev_mismatched accuracy": 6,
        **{f"penultimate 5-NN {c}": 3 for c in ("pred_purity", "gold_agree", "knn_acc")},
    }
    first = recs.iloc[0]
    ref = exp.runs[(exp.runs["size"] == 60) & (exp.runs["model"] == "MSE")].sort_values("draw")["test_acc"] * 100
    assert (first["quantity"], first["method"], first["data"]) == ("test accuracy", "MSE", "SNLI test (toy, 150 pairs)")
    np.testing.assert_allclose(first["values"], ref.to_numpy())
    assert recs["paper"].isna().all()  # no 1,000-pair size here: the paper's figure stands nowhere
    assert set(res.tables) == {"mnli_runs", "contrast_runs", "runs", "summary", "tuning", "claims", "table3", "purity"}
    assert res.params["mnli"] is True and res.params["table3_size"] == 60 and res.params["base_seed"] == 0
    json.dumps(res.tables["claims"])  # JSON-safe
    last = C4.all_claims(claims, table3=table3, contrast=None, mnli=None).iloc[-1]
    assert (last["artefact"], last["verdict"]) == ("lpl.fig4_5", "not run")

    ch = SimpleNamespace(profile="smoke", started=time.perf_counter())
    f = C4.findings(ch, toy, exp=exp, claims=all_c, contrast=contrast, mnli=mnli)
    assert all(type(v) in (int, float, str) for v in f.values())  # glue's text/plain: no numpy reprs
    summ = C4.summarize_runs(exp.runs)
    assert f["acc_base_small"] == pytest.approx(summ["baseline mean"].iloc[0]) and f["size_all"] == 240
    assert f["gain_size"] == 240 and f["gain_lpl"].split(":")[0] in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
    assert "not measured" not in (f["shrink_lpl"] + f["beats"] + f["spread_base"] + f["pred_lpl"] + f["example_lpl"])
    assert f["n_claims"] == len(all_c) and "toy2" in f["contrast_finding"]
    f0 = C4.findings(ch, toy, exp=exp, claims=claims, contrast=None, mnli=None)
    assert f0["contrast_finding"] == "no contrast encoder was run." and "skipped" in f0["mnli_finding"]
    assert C4.contrast_summary(None) is None and C4.contrast_claims(None) is None and C4.mnli_summary(None) is None
    assert C4.mnli_summary(mnli).index.names == ["dev set", "training pairs"]
    assert list(C4.outside_table(exp.runs).columns) == [60, 240] and C4.capped_table(exp.runs).loc["runs"].eq(9).all()
    facts = C4.run_facts(exp)
    assert facts["n_runs"] == 18 and facts["n_trained"] == 12 + 2 * 2 * 3 and facts["run_draws"] == 3

    fig, cap = C4.fig_accuracy(exp, toy)
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 2
    assert cap == ("SNLI (150 test pairs), toy sentence embeddings", "3 runs (random training subsets) per size")
    fig, cap = C4.fig_gains(claims, toy, exp.draws)
    assert cap.runs == "3 runs x every test pair per size"
    fig, cap = C4.fig_mnli(mnli)
    assert cap == ("official MultiNLI (fake), toy sentence embeddings", "3 runs per size")
    fig, cap = C4.fig_mnli(None)
    assert cap.runs == "0 runs" and "not available" in cap.data
    plt.close("all")


def test_mnli_experiment_says_why_it_is_skipped(monkeypatch, capsys):
    monkeypatch.setattr(type(C4.DATASETS["mnli"]), "is_cached", lambda self: False)
    assert C4.mnli_experiment(None, TOY, encoder="toy") is None
    assert "Figures 4 and 5 are skipped" in capsys.readouterr().out


@pytest.mark.slow
def test_mnli_experiment_on_multinli_files(tmp_path):
    """The optional MultiNLI section on files in the official layout (SNLI pairs standing in for MultiNLI)."""
    snli = load_snli()
    parts = {
        "train": snli["train"].iloc[:450],
        "dev_matched": snli["test"].iloc[:60],
        "dev_mismatched": snli["test"].iloc[60:120],
    }
    for name, df in parts.items():
        lines = [
            json.dumps({"gold_label": r.label, "sentence1": r.premise, "sentence2": r.hypothesis, "genre": "fiction"})
            for r in df.itertuples()
        ]
        (tmp_path / f"multinli_1.0_{name}.jsonl").write_text("\n".join(lines) + "\n")
    mnli = C4.mnli_experiment(tmp_path, TOY, encoder="glove-mean", max_train=300)
    assert mnli.source == str(tmp_path) and mnli.encoder == "glove-mean"
    assert sorted(set(mnli.runs["size"])) == [60, 300] and len(mnli.runs) == 2 * 3 * 3
    assert mnli.runs[["dev_matched_acc", "dev_mismatched_acc"]].stack().between(0, 1).all()
    assert set(C4.mnli_claims(mnli)["artefact"]) == {"lpl.fig4_5"}
    assert len(C4.mnli_summary(mnli)) == 2 * 2
    plt.close(C4.fig_mnli(mnli)[0])
