"""Pure tensor maths: tensors in, tensors out (no files, no plots, no models).

- :mod:`~lpa_utils.maths.neighbors`: exact k nearest neighbours (brute force or KD-tree).
- :mod:`~lpa_utils.maths.lle`: LLE reconstruction weights (LPL paper eqs. 1 and 6) and the LLE embedding (eq. 2).
- :mod:`~lpa_utils.maths.losses`: MSE (eq. 4), LPL (eq. 5), orthogonality and LPA (eq. 7), NLI alignment (eq. 8).
- :mod:`~lpa_utils.maths.retrieval`: nearest neighbour, CSLS and inverted-softmax retrieval; precision@k.
"""

from lpa_utils.maths.lle import learn_lle_weights, lle_embedding, lle_weights
from lpa_utils.maths.losses import lpa_loss, lpl_loss, mse_loss, nli_alignment_loss, ortho_loss
from lpa_utils.maths.neighbors import knn
from lpa_utils.maths.retrieval import csls_scores, evaluate_translation, translate

__all__ = [
    "knn",
    "lle_weights",
    "learn_lle_weights",
    "lle_embedding",
    "mse_loss",
    "lpl_loss",
    "ortho_loss",
    "lpa_loss",
    "nli_alignment_loss",
    "translate",
    "csls_scores",
    "evaluate_translation",
]
