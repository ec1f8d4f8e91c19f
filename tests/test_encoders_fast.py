"""MiniLM's encoding paths (issue 17 item 2): the int8 path has its own cache, and compare_paths measures the
paths side by side against the reference vectors. Needs MiniLM in the data cache (make data)."""

import numpy as np
import pytest
import torch

from lpa_utils.data import DATASETS, encoders
from lpa_utils.data.errors import DataError

pytestmark = pytest.mark.slow

TEXTS = [
    "A man is playing a guitar on stage.",
    "Two dogs run through a field.",
    "A woman is reading a book in the park.",
    "Nobody is outside.",
]


@pytest.fixture(scope="module")
def minilm():
    if not DATASETS["minilm"].is_cached():
        pytest.skip("MiniLM is not in the data cache (make data)")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_paths_have_separate_caches():
    assert encoders._cache_dir("minilm", "fp32") != encoders._cache_dir("minilm", "int8")
    assert encoders._cache_dir("minilm").name.startswith("minilm-")  # the reference keeps its folder
    assert "int8" in encoders._cache_dir("minilm", "int8").name
    with pytest.raises(DataError, match="unknown MiniLM path"):
        encoders.encode_sentences(TEXTS, path="fp16", cache=False)


def test_int8_path_encodes_unit_vectors_close_to_the_reference(minilm):
    ref = encoders.encode_sentences(TEXTS, cache=False, progress=False, threads=1)
    q = encoders.encode_sentences(TEXTS, path="int8", cache=False, progress=False, threads=1)
    assert q.shape == ref.shape == (len(TEXTS), 384) and q.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-4)
    assert (q * ref).sum(1).min() > 0.8  # close, not equal: why it is not the default


def test_compare_paths_reports_rates_and_differences(minilm):
    df = encoders.compare_paths(TEXTS, ("fp32", "int8"), threads=1)
    assert df["path"].tolist() == ["fp32", "int8"]
    assert (df["sentences_per_s"] > 0).all() and (df["texts"] == len(TEXTS)).all()
    assert df["max_abs_diff"].iloc[0] == 0.0 and df["min_cosine"].iloc[0] == pytest.approx(1.0, abs=1e-5)
    assert 0 < df["max_abs_diff"].iloc[1] < 0.5
