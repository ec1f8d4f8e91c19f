"""lpa_utils: the helper package of the LPA reproducibility book.

The notebooks tell the story; this package does the work. Layout (imports point downwards):

- ``lpa_utils.data``      where data comes from and how it is read (registry of named datasets)
- ``neighbors``, ``lle``, ``losses``   pure tensor maths (no files, no plots)
- ``align``, ``retrieval``             aligners with fit/transform; NN / inverted softmax / CSLS; P@k
- ``nli``, ``aae``                      the NLI model of the LPL paper (Fig. 2, eq. 8); Barone's AAE
- ``results``, ``plotting``, ``book``   results records, one plotting style, executing and rendering the book
"""

__version__ = "0.1.0"
