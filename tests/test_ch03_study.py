"""Chapter 03's study protocol: runs that redraw the split, the shared grid, the floor, the verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.manifold._locally_linear import barycenter_weights

from lpa_utils.chapters import ch03_study as study
from lpa_utils.chapters import ch03_word_alignment as ch03
from lpa_utils.chapters.common import setup


def test_run_seeds_differ_between_runs_and_base_seeds():
    seeds = {study.run_seed(b, r) for b in range(3) for r in range(10)}
    assert len(seeds) == 30


@pytest.mark.parametrize("profile", ["full", "smoke"])
def test_grid_is_shared_by_mse_and_lpa(profile):
    proto = study.protocol(profile)
    grid = study.sgd_grid(proto)
    mse = [c for c in grid if c["beta"] == 0]
    assert {c["ortho_scale"] for c in mse} == set(proto.ortho_scales) and all(c["loss"] == "mse" for c in mse)
    n_lpa = (len(proto.betas) - 1) * len(proto.ks) * len(proto.ortho_scales)
    assert len(grid) == len(mse) + n_lpa and len({study.config_name(c) for c in grid}) == len(grid)
    if profile == "full":
        assert proto.n_runs >= 10 and proto.n_val_words >= 500 and set(proto.ks) == {5, 10, 20}
        assert set(proto.betas) == {0.0, 0.1, 0.3, 1.0, 3.0, 10.0} and set(proto.ortho_scales) == {"paper", "mean"}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    ch = setup("03_word_alignment", profile="smoke", results_dir=str(tmp_path_factory.mktemp("r")))
    cfg = ch03.settings(ch, pairs=["en-it"], max_words=3000)
    proto = study.protocol("smoke", n_runs=2)
    return cfg, proto, study.load_runs(cfg, "en-it", proto)


def test_runs_redraw_the_split_and_keep_it_disjoint(two_runs):
    _, proto, runs = two_runs
    tests = [set(r.split.test["src"]) for r in runs]
    assert tests[0] != tests[1]
    for r in runs:
        val, train, test = set(r.split.val["src"]), set(r.split.train["src"]), set(r.split.test["src"])
        assert len(val) == proto.n_val_words and not (val & train) and not (val & test) and not (train & test)
        assert not set(r.split.rest["src"]) & (val | test)
    assert runs[0].src_emb is runs[1].src_emb  # the vectors are read once


def test_reconstruction_gap_matches_scikit_learn(two_runs):
    _, _, runs = two_runs
    run = runs[0]
    _, Xn, _ = study.normaliser(run)
    rows = torch.as_tensor(np.unique(run.train[:, 0]))
    idx, _ = study.lle_neighbourhoods(Xn, rows, 5)
    X = Xn.double().numpy()
    W = barycenter_weights(X[rows.numpy()], X, idx.numpy(), reg=1e-3)  # independent LLE weights (eq. 6)
    rec = np.einsum("rk,rkd->rd", W, X[idx.numpy()])
    ref = np.mean(np.linalg.norm(X[rows.numpy()] - rec, axis=1) / np.linalg.norm(X[rows.numpy()], axis=1))
    assert study.reconstruction_gap(run, 5) == pytest.approx(ref, rel=2e-3)


def test_floor_marks_cells_where_every_method_is_below_it():
    df = pd.DataFrame(
        {
            "pair": ["a"] * 8,
            "size": ["100"] * 4 + ["1000"] * 4,
            "method": ["MSE", "LPA"] * 4,
            "run": [0, 0, 1, 1] * 2,
            "p@1": [0.01, 0.015, 0.005, 0.019, 0.01, 0.05, 0.02, 0.01],
        }
    )
    out = study.mark_floor(df)
    assert out.loc[out["size"] == "100", "at floor"].all() and not out.loc[out["size"] == "1000", "at floor"].any()


def _hits(effect_words: int, n_runs: int = 5, n: int = 400, seed: int = 0) -> dict:
    """Per-word hits of every method the claims compare; LPA gets ``effect_words`` more words right than MSE."""
    rng = np.random.default_rng(seed)
    out = {}
    for r in range(n_runs):
        base = (rng.random(n) < 0.3).astype(np.int8)
        lpa = base.copy()
        lpa[np.flatnonzero(base == 0)[:effect_words]] = 1
        for m in (study.MSE, study.MSE_NN, *study.papers.TABLE1A):
            out[(m, r)] = (base, base)
        out[(study.LPA, r)] = (lpa, lpa)
    return out


@pytest.mark.parametrize(
    ("words", "verdict"), [(40, "reproduced"), (0, "not reproduced")]
)  # +10 pp on 400 words; no difference at all
def test_claims_come_out_as_the_hits_say(words, verdict):
    proto = study.protocol("smoke")
    c = study.claims("en-it", _hits(words), 5, None, None, proto)
    fair = c[c["claim"].str.contains("both CSLS")].iloc[0]
    assert fair["verdict"] == verdict and fair["runs"] == 5 and fair["items"] == 2000
    assert fair["low"] <= fair["effect"] <= fair["high"]
    assert (
        study.claims("en-it", _hits(words), 5, None, None, proto, in_paper=False)["verdict"].eq("no paper figure").all()
    )


def test_fixed_map_starts_refinement_where_it_is():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 8)).astype(np.float32)
    W = np.linalg.qr(rng.normal(size=(8, 8)))[0].astype(np.float32)
    fixed = study.FixedMap(W).fit(X, X @ W, np.zeros((0, 2), dtype=np.int64))
    assert np.allclose(fixed.transform(X).numpy(), X @ W, atol=1e-5)
    refined = study.SelfLearning(study.FixedMap(W), n_iter=2, n_words=500).fit(
        X, X @ W, np.stack([np.arange(5)] * 2, 1)
    )
    assert np.allclose(np.asarray(refined.W_), W, atol=1e-4)


@pytest.mark.parametrize("method", ["nn", "csls", "isf"])
def test_compact_space_keeps_every_retrieval(method):
    from lpa_utils.maths.retrieval import translate

    g = torch.Generator().manual_seed(0)
    X, W, Y = torch.randn(800, 20, generator=g), torch.randn(20, 120, generator=g), torch.randn(900, 120, generator=g)
    Zs, Zt = study.compact_space(X @ W, Y)
    assert Zs.shape == (800, 21) and Zt.shape == (900, 21)
    assert torch.allclose(Zt.norm(dim=1), Y.norm(dim=1), rtol=1e-5)
    full = translate((X @ W)[:200], Y, method, topk=5, src_ref=X @ W)
    assert torch.equal(full, translate(Zs[:200], Zt, method, topk=5, src_ref=Zs))
    same = study.compact_space(Y, Y)  # full rank: nothing to gain, returned as is
    assert same[0].shape == Y.shape


@pytest.mark.parametrize(("kw", "name"), [({"n_runs": "ten"}, "runs"), ({"base_seed": -1}, "base_seed")])
def test_bad_run_parameters_name_the_parameter(kw, name):
    with pytest.raises((TypeError, ValueError), match=f"parameter {name}"):
        study.protocol("full", **kw)
