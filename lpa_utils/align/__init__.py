"""Linear maps between two embedding spaces, learned from a seed dictionary.

Every aligner has one scikit-learn-like interface: ``fit(X (n, ds), Y (m, dt), pairs (p, 2), val_pairs=None)
-> self``, ``transform(X) -> (n, d')``, ``transform_target(Y) -> (m, d')``.

- :mod:`~lpa_utils.align.linear`: least squares, Procrustes, Shigeto's ridge and the steps S0-S5 of Artetxe
  et al. (2018) (Table 1b of the LPL paper) composed in a :class:`Pipeline`.
- :mod:`~lpa_utils.align.sgd`: :class:`SGDAligner`, the MSE map (eq. 4) and LPA (eq. 7) by gradient descent.
- :mod:`~lpa_utils.align.batched`: :func:`fit_runs`, R such runs of one cell (seeds, dictionaries, beta / k / ortho,
  ridge) trained as one model with a leading runs dimension; :class:`SGDAligner` is its one-run front.
- :mod:`~lpa_utils.align.refine`: self-learning refinement (mutual nearest neighbours + Procrustes).
"""

from lpa_utils.align.batched import BatchedFit, MaskedAdam, RunSpec, fit_runs
from lpa_utils.align.linear import (
    Aligner,
    DeWhiten,
    DimReduce,
    LeastSquares,
    Normalize,
    Pipeline,
    Procrustes,
    ReWeight,
    ShigetoRidge,
    Whiten,
    artetxe2016,
    artetxe2018,
    smith2017,
)
from lpa_utils.align.phase1 import lle_neighbourhoods
from lpa_utils.align.refine import SelfLearning, mutual_nn_pairs, procrustes_refine
from lpa_utils.align.sgd import SGDAligner
from lpa_utils.align.unsupervised import UnsupervisedSelfLearning

__all__ = [
    "Aligner",
    "LeastSquares",
    "Procrustes",
    "ShigetoRidge",
    "Normalize",
    "Whiten",
    "ReWeight",
    "DeWhiten",
    "DimReduce",
    "Pipeline",
    "artetxe2016",
    "smith2017",
    "artetxe2018",
    "SGDAligner",
    "lle_neighbourhoods",
    "RunSpec",
    "fit_runs",
    "BatchedFit",
    "MaskedAdam",
    "mutual_nn_pairs",
    "procrustes_refine",
    "SelfLearning",
    "UnsupervisedSelfLearning",
]
