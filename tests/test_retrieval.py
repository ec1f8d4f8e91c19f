"""lpa_utils.maths.retrieval: NN / CSLS / inverted softmax against hand-worked cases and plain NumPy formulas,
batched translation against the full score matrix, and the MUSE / VecMap evaluation protocol."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics.pairwise import cosine_similarity

from lpa_utils.maths.retrieval import (
    csls_scores,
    evaluate_translation,
    gold_table,
    hits_at,
    inverted_softmax_scores,
    nn_scores,
    translate,
    word_rows,
)

# ------------------------------------------------------------------------------------------- hand-worked
Q2 = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
T3 = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)  # cos(Q, T) = [[1, .6, 0], [0, .8, 1]]


def test_nn_scores_match_sklearn_cosine():
    rng = np.random.default_rng(0)
    Q, T = rng.normal(size=(7, 5)), rng.normal(size=(11, 5)) * 3
    np.testing.assert_allclose(nn_scores(Q, T, device="cpu").numpy(), cosine_similarity(Q, T), atol=1e-6)


def test_csls_hand_worked_k1_and_k2():
    # k = 1: r_T = [1, 1]; r_S = [max(1, 0), max(.6, .8), max(0, 1)] = [1, .8, 1]
    want1 = [[0.0, -0.6, -2.0], [-2.0, -0.2, 0.0]]
    np.testing.assert_allclose(csls_scores(Q2, T3, k=1, device="cpu").numpy(), want1, atol=1e-6)
    # k = 2: r_T = [(1+.6)/2, (1+.8)/2] = [.8, .9]; r_S = [.5, .7, .5]
    want2 = [[0.7, -0.3, -1.3], [-1.4, 0.0, 0.6]]
    np.testing.assert_allclose(csls_scores(Q2, T3, k=2, device="cpu").numpy(), want2, atol=1e-6)


def test_csls_demotes_a_hub_that_nn_prefers():
    # a "hub" target h at 0 degrees is the nearest neighbour of both queries (at -20 and +20 degrees, 20 degrees
    # from h); their own targets sit at -/+ 45 degrees (25 degrees away). A third source word at 0 degrees (in
    # src_ref) makes h a hub on the source side too, so CSLS (k = 1) sends each query to its own target.
    deg = np.deg2rad
    unit = lambda a: np.array([math.cos(deg(a)), math.sin(deg(a))], dtype=np.float32)  # noqa: E731
    Q = np.stack([unit(-20), unit(20)])
    T = np.stack([unit(0), unit(-45), unit(45)])
    ref = np.stack([unit(-20), unit(20), unit(0)])
    assert translate(Q, T, "nn", topk=1, device="cpu")[:, 0].tolist() == [0, 0]
    # r_T(q) = cos 20; r_S(h) = 1, r_S(t1) = r_S(t2) = cos 25
    # CSLS(q1, h) = 2 cos 20 - cos 20 - 1 = -0.0603 < CSLS(q1, t1) = 2 cos 25 - cos 20 - cos 25 = -0.0334
    assert translate(Q, T, "csls", k=1, topk=1, src_ref=ref, device="cpu")[:, 0].tolist() == [1, 2]
    s = csls_scores(Q, T, k=1, src_ref=ref, device="cpu").numpy()
    c20, c25 = math.cos(deg(20)), math.cos(deg(25))
    np.testing.assert_allclose(s[0, 0], c20 - 1, atol=1e-6)
    np.testing.assert_allclose(s[0, 1], c25 - c20, atol=1e-6)


def test_inverted_softmax_hand_worked_and_normalised_over_sources():
    # beta = 1, Q = T = I: log P(t_j | q_i) = S_ij - log(e^1 + e^0)
    got = inverted_softmax_scores(Q2, Q2, beta=1.0, device="cpu").numpy()
    lz = math.log(math.e + 1.0)
    np.testing.assert_allclose(got, [[1 - lz, -lz], [-lz, 1 - lz]], atol=1e-6)
    # P(y | x) sums to one over the source side (the queries) for every target
    rng = np.random.default_rng(1)
    Q, T = rng.normal(size=(9, 4)), rng.normal(size=(6, 4))
    p = np.exp(inverted_softmax_scores(Q, T, beta=7.0, device="cpu").numpy().astype(np.float64))
    np.testing.assert_allclose(p.sum(0), np.ones(6), atol=1e-5)


def _numpy_reference(Q, T, R, method, k, beta):
    """Plain NumPy (float64) formulas, written independently of the torch code."""
    Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    Tn = T / np.linalg.norm(T, axis=1, keepdims=True)
    Rn = Qn if R is None else R / np.linalg.norm(R, axis=1, keepdims=True)
    S = Qn @ Tn.T
    if method == "nn":
        return S
    SR = Rn @ Tn.T  # (n_ref, m)
    if method == "csls":
        r_t = np.sort(S, axis=1)[:, ::-1][:, :k].mean(1)
        r_s = np.sort(SR, axis=0)[::-1][:k].mean(0)
        return 2 * S - r_t[:, None] - r_s[None, :]
    return beta * S - np.log(np.exp(beta * SR).sum(0))[None, :]


@pytest.mark.parametrize("method", ["nn", "csls", "isf"])
@pytest.mark.parametrize("with_ref", [False, True])
def test_full_scores_and_batched_translate_match_numpy(method, with_ref):
    rng = np.random.default_rng(2)
    Q, T = rng.normal(size=(40, 16)), rng.normal(size=(530, 16))
    R = np.vstack([Q, rng.normal(size=(90, 16))]) if with_ref else None
    want = _numpy_reference(Q, T, R, method, k=10, beta=12.0)
    fn = {
        "nn": lambda: nn_scores(Q, T, device="cpu"),
        "csls": lambda: csls_scores(Q, T, k=10, src_ref=R, device="cpu"),
        "isf": lambda: inverted_softmax_scores(Q, T, beta=12.0, src_ref=R, device="cpu"),
    }[method]
    np.testing.assert_allclose(fn().numpy(), want, atol=2e-5)
    # batched top-k (blocks of 37 targets, not dividing 530) equals the full matrix's top-k, scores included
    top, sc = translate(
        Q, T, method, k=10, topk=5, batch_size=37, beta=12.0, src_ref=R, device="cpu", return_scores=True
    )
    np.testing.assert_array_equal(top.numpy(), np.argsort(-want, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(sc.numpy(), np.take_along_axis(want, top.numpy(), 1), atol=2e-5)


def test_translate_topk_capped_and_errors():
    top = translate(Q2, T3, "nn", topk=10, device="cpu")
    assert top.shape == (2, 3) and top[:, 0].tolist() == [0, 2]
    with pytest.raises(ValueError, match="method"):
        translate(Q2, T3, "cosine")
    with pytest.raises(ValueError, match="dimension"):
        translate(Q2, np.ones((3, 5)), "nn")
    with pytest.raises(ValueError, match="NaN"):
        translate(np.array([[np.nan, 1.0]]), T3, "nn")


# --------------------------------------------------------------------------------------------- evaluation
def test_word_rows_first_occurrence_and_missing():
    assert word_rows(["a", "b", "a", "c"], ["c", "a", "zz"]).tolist() == [3, 0, -1]
    assert word_rows(["x", "y"], ["y", "x", "q"]).tolist() == [1, 0, -1]


def test_evaluate_translation_muse_protocol_hand_worked():
    src_words = ["a", "b", "c", "e"]
    tgt_words = ["x", "y", "z"]
    # mapped source vectors: a -> x, b -> y, c -> x (wrong: gold z), e -> z (not tested)
    S = np.array([[1, 0, 0], [0, 1, 0], [0.9, 0, 0.1], [0, 0, 1]], dtype=np.float32)
    T = np.eye(3, dtype=np.float32)
    test = pd.DataFrame(
        {"src": ["a", "b", "b", "c", "d", "a", "a"], "tgt": ["x", "z", "y", "z", "w", "q", "x"]}
    )  # d: source OOV; q: target OOV; dup a-x
    ev = evaluate_translation(S, T, src_words, tgt_words, test, method="nn", ks=(1, 2), device="cpu")
    assert ev["n_pairs"] == 4  # a-x, b-z, b-y, c-z (the duplicate a-x counted once)
    assert ev["n_oov_pairs"] == 2  # d-w and a-q
    assert ev["n_queries"] == 3 and ev["n_oov_words"] == 1
    assert ev["coverage"] == pytest.approx(3 / 4)  # d has no pair in the vocabularies; a still counts
    assert ev["p@1"] == pytest.approx(2 / 3)  # a right, b right (y is one of its golds), c wrong
    assert ev["p@2"] == pytest.approx(1.0)  # c's second candidate is z
    ev2 = evaluate_translation(
        S, T, src_words, tgt_words, test, method="nn", ks=(1,), device="cpu", return_predictions=True
    )
    assert ev2["query_words"] == ["a", "b", "c"] and ev2["top"][:, 0].tolist() == [0, 1, 0]


def test_gold_table_and_hits():
    g = gold_table(["a", "b"], ["x", "y"], pd.DataFrame({"src": ["b", "a", "b"], "tgt": ["x", "y", "y"]}))
    assert g["queries"].tolist() == [1, 0] and g["pair_query"].tolist() == [0, 1, 0]
    hits = hits_at(np.array([[1, 0], [0, 1]]), g["pair_query"], g["pair_tgt"])
    assert hits.tolist() == [[True, True], [False, True]]


def test_evaluate_translation_bad_input():
    with pytest.raises(ValueError, match="src_words"):
        evaluate_translation(
            np.ones((2, 2)), np.ones((2, 2)), ["a"], ["x", "y"], pd.DataFrame({"src": ["a"], "tgt": ["x"]})
        )
    with pytest.raises(ValueError, match="columns 'src' and 'tgt'"):
        evaluate_translation(np.ones((1, 2)), np.ones((1, 2)), ["a"], ["x"], pd.DataFrame({"s": ["a"]}))


def test_evaluate_translation_all_oov_raises():
    """A test set with no pair in the vocabularies used to give p@1 = nan silently (issue 16); now it says so."""
    with pytest.raises(ValueError, match="none of the 1 test pairs"):
        evaluate_translation(
            np.ones((1, 2)), np.ones((1, 2)), ["a"], ["x"], pd.DataFrame({"src": ["b"], "tgt": ["x"]}), method="csls"
        )


def test_large_translate_runs_in_blocks_without_full_matrix():
    # 64 x 20,000 with blocks of 1,000 targets: same answer as one block
    g = torch.Generator().manual_seed(0)
    Q, T = torch.randn(64, 32, generator=g), torch.randn(20000, 32, generator=g)
    a = translate(Q, T, "csls", topk=3, batch_size=1000)
    b = translate(Q, T, "csls", topk=3, batch_size=20000)
    assert torch.equal(a, b)


@pytest.mark.parametrize("method", ["csls", "isf"])
def test_low_rank_source_vocabulary_gives_the_same_statistics(method):
    # a 8-d source vocabulary mapped linearly into 40 d (as GloVe 50d -> 300d): the per-target pass runs in the
    # 8-d row space of src_ref; the answer must equal the plain formula
    rng = np.random.default_rng(4)
    R = rng.normal(size=(300, 8)) @ rng.normal(size=(8, 40))
    Q, T = R[:25], rng.normal(size=(200, 40))
    want = _numpy_reference(Q, T, R, method, k=10, beta=12.0)
    got = (
        csls_scores(Q, T, k=10, src_ref=R, device="cpu")
        if method == "csls"
        else inverted_softmax_scores(Q, T, beta=12.0, src_ref=R, device="cpu")
    ).numpy()
    np.testing.assert_allclose(got, want, atol=2e-5)
    top = translate(Q, T, method, k=10, topk=3, beta=12.0, src_ref=R, device="cpu")
    np.testing.assert_array_equal(top.numpy(), np.argsort(-want, axis=1, kind="stable")[:, :3])


# ------------------------------------------------------------------------- numba kernels against torch
from lpa_utils.maths import retrieval as R  # noqa: E402


@pytest.fixture
def torch_path(monkeypatch):
    """Run ``translate`` with the plain torch selections (``torch.topk``), as on a GPU or without numba."""
    monkeypatch.setattr(R, "USE_KERNELS", False)


def _both_paths(monkeypatch, *args, **kw):
    assert R.kernel_path("cpu") == "numba", "numba is in requirements.txt: the kernel path should be active"
    got = translate(*args, **kw)
    monkeypatch.setattr(R, "USE_KERNELS", False)
    try:
        want = translate(*args, **kw)
    finally:
        monkeypatch.setattr(R, "USE_KERNELS", True)
    return got, want


@pytest.mark.parametrize("method", ["nn", "csls", "isf"])
@pytest.mark.parametrize("with_ref", [False, True])
@pytest.mark.parametrize("shape", [(40, 530, 16), (3, 700, 8), (300, 2000, 24)])
def test_kernel_path_equals_torch_path_bit_for_bit(monkeypatch, method, with_ref, shape):
    q, m, d = shape
    rng = np.random.default_rng(q + m)
    Q, T = rng.normal(size=(q, d)).astype(np.float32), rng.normal(size=(m, d)).astype(np.float32)
    ref = np.vstack([Q, rng.normal(size=(90, d)).astype(np.float32)]) if with_ref else None
    for beta in (12.0, 60.0) if method == "isf" else (12.0,):
        kw = dict(k=10, topk=7, batch_size=333, beta=beta, src_ref=ref, device="cpu", return_scores=True)
        (gi, gv), (wi, wv) = _both_paths(monkeypatch, Q, T, method, **kw)
        assert torch.equal(gv, wv), f"{method}: scores differ by {(gv - wv).abs().max().item():.3g}"
        _assert_same_rows_up_to_ties(gi, wi, gv)
        # default blocks, no scores
        gi2, wi2 = _both_paths(monkeypatch, Q, T, method, k=10, topk=5, beta=beta, src_ref=ref, device="cpu")
        _assert_same_rows_up_to_ties(gi2, wi2, gv[:, :5])


def _assert_same_rows_up_to_ties(got, want, scores):
    """The same rows wherever a score is not tied with a neighbour; within a run of equal scores the kernel path
    lists the lower rows first (torch.topk's order there is unspecified)."""
    tied = torch.zeros_like(scores, dtype=torch.bool)
    eq = scores[:, 1:] == scores[:, :-1]
    tied[:, 1:] |= eq
    tied[:, :-1] |= eq
    assert torch.equal(got[~tied], want[~tied]), "different rows"
    assert bool((got[:, 1:] > got[:, :-1])[eq].all()), "tied scores must list the lower row first"


def _tied_unit_vectors(n: int, d: int, ones: int, rng) -> np.ndarray:
    """Rows with ``ones`` entries equal to 1 (the rest 0): unit rows of 1/sqrt(ones), so every cosine between two
    rows is a multiple of 1/ones, exactly, and many are equal."""
    X = np.zeros((n, d), dtype=np.float32)
    for i in range(n):
        X[i, rng.choice(d, size=ones, replace=False)] = 1.0
    return X


def _dense_reference(Q, T, method, k, beta):
    """The full score matrix in float64 from the formulas (src_ref = the queries) and its ranking, best first,
    ties to the lower target row (a stable sort)."""
    Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    Tn = T / np.linalg.norm(T, axis=1, keepdims=True)
    S = Qn.astype(np.float64) @ Tn.T.astype(np.float64)
    if method == "nn":
        score = S
    elif method == "csls":
        r_t = -np.sort(-S, axis=1)[:, :k].mean(1)
        r_s = -np.sort(-S, axis=0)[:k].mean(0)
        score = 2 * S - r_t[:, None] - r_s[None, :]
    else:
        score = beta * S - np.log(np.exp(beta * S).sum(0))[None, :]
    return score, np.argsort(-score, axis=1, kind="stable")


@pytest.mark.parametrize("method", ["nn", "csls", "isf"])
def test_translate_with_ties_matches_a_dense_reference(method):
    # 4 ones in 12 dimensions: cosines in {0, 1/4, ..., 1}; k = 4, so r_T and r_S are multiples of 1/16 and every
    # score is exact in float32: equal scores are exactly equal, and the lower target row must come first
    rng = np.random.default_rng(7)
    Q, T = _tied_unit_vectors(50, 12, 4, rng), _tied_unit_vectors(900, 12, 4, rng)
    T[500:520] = T[100:120]  # duplicated targets: identical columns (equal isf normalisers too)
    score, order = _dense_reference(Q, T, method, k=4, beta=4.0)
    assert (np.diff(np.sort(score, axis=1), axis=1) == 0).any(), "the case must contain ties"
    for bs in (None, 64, 901):
        top, sc = translate(Q, T, method, k=4, topk=12, batch_size=bs, beta=4.0, device="cpu", return_scores=True)
        top = top.numpy()
        want = np.take_along_axis(score, top, 1)
        np.testing.assert_allclose(sc.numpy(), want, atol=1e-6)
        if method != "isf":
            np.testing.assert_array_equal(top, order[:, :12])
        else:
            # exp and the normaliser are rounded in float32, so scores that differ by an ulp in float64 may swap;
            # the exact ties (duplicated targets: identical columns) must still list the lower row first
            assert (want >= np.take_along_axis(score, order[:, 11:12], 1) - 1e-6).all()
            exact = want[:, 1:] == want[:, :-1]
            assert exact.any() and (top[:, 1:] > top[:, :-1])[exact].all()


@pytest.mark.parametrize("n", [1, 5, 63, 64, 100, 257, 1500, 20_001])
@pytest.mark.parametrize("k", [1, 3, 10, 17])
def test_row_topk_values_kernel_is_exact(n, k):
    if k > n:
        pytest.skip("k > n")
    from lpa_utils.maths.topk_kernels import row_topk_values

    rng = np.random.default_rng(n * 31 + k)
    S = rng.normal(size=(40, n)).astype(np.float32)
    S[1] = 0.5  # a constant row
    S[2, ::3] = 2.0  # many ties at the top
    S[3] = np.round(S[3] * 2) / 2  # few distinct values
    out = np.empty((40, k), dtype=np.float32)
    row_topk_values(S, k, out, 0, 40)
    np.testing.assert_array_equal(out, torch.from_numpy(S).topk(k, dim=1).values.numpy())
