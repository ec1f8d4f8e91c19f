"""The data layer: named datasets, prepared once into a cache, loaded fast.

```python
from lpa_utils.data import (Embeddings, load_embeddings, load_dictionary, make_split, DictionarySplit,
                            load_snli, encode_sentences, bible_corpus, DATASETS, fetch)
```

``python -m lpa_utils.data info`` lists the datasets; ``python -m lpa_utils.data fetch [NAME ...]`` prepares
them (all offline defaults when no name is given). The cache is ``lpa_utils.config.data_dir()``
(``$LPA_DATA`` or ``data/cache``). See ``data/README.md`` for what each dataset is.
This package imports no model code.
"""

from __future__ import annotations

from .bible import bible_corpus
from .dictionaries import load_dictionary
from .embeddings import Embeddings, load_embeddings
from .encoders import encode_sentences
from .errors import CacheError, ChecksumError, DataError, DataUnavailableError
from .fetch import fetch, info_table
from .nli import load_mnli, load_snli
from .registry import DATASETS, Dataset
from .splits import DictionarySplit, make_split

__all__ = [
    "Embeddings",
    "load_embeddings",
    "load_dictionary",
    "make_split",
    "DictionarySplit",
    "load_snli",
    "load_mnli",
    "encode_sentences",
    "bible_corpus",
    "DATASETS",
    "Dataset",
    "fetch",
    "info_table",
    "DataError",
    "ChecksumError",
    "CacheError",
    "DataUnavailableError",
]
