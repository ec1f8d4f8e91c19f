"""lpa_utils: the helper package of the LPA reproducibility book, and a library for locality-preserving alignment.

Layers (imports point downwards only; see DEVELOPING.md):

- :mod:`lpa_utils.chapters`  one module per chapter: experiments, records, claims, findings
- :mod:`lpa_utils.report`    results files, claims and verdicts, the papers' figures, plotting style, tables
- :mod:`lpa_utils.models`    the NLI model of the LPL paper (Fig. 2, eq. 8); the GAN and Barone's AAE
- :mod:`lpa_utils.align`     aligners with fit/transform: least squares, Procrustes, Table 1b steps, SGD MSE / LPA
- :mod:`lpa_utils.maths`     neighbours, LLE weights, losses (eqs. 4-8), retrieval and P@k: tensors in, tensors out
- :mod:`lpa_utils.data`      where data comes from and how it is read
- :mod:`lpa_utils.config`, :mod:`lpa_utils.io`, :mod:`lpa_utils.checks`   the base every layer may use
"""

__version__ = "0.2.0"
