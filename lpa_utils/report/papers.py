"""The two papers' own figures, each once, with where it is printed. Chapters and the report refer to them by key.

Bibliography keys (``book/references.bib``): ``ganesan2020lpl`` -- Ganesan, Ferraro and Oates, *Locality
Preserving Loss: Neighbors that Live together, Align together*; ``barone2016towards`` -- Miceli Barone, *Towards
cross-lingual distributed representations without parallel text trained with adversarial autoencoders*.

- :data:`ARTEFACTS`: every table, figure and claim of both papers that the book reproduces, with the chapter that
  measures it; a chapter's claims table names its artefact by key (``"lpl.table1a"``), never by keyword.
- :data:`TABLE1A`: LPL Table 1a, P@1 (%) on the paper's own data (Dinu EN-IT; VecMap EN-DE, EN-FI, EN-ES).
  :func:`table1a_applies` says whether a run's pair and data may stand beside it (:data:`TABLE1A_DATA`).
- :data:`NLI_GAIN`: the LPL abstract's headline NLI gain (Fig. 3a).
- :data:`AAE_TEN_BEST`: Barone's EN->IT 10-best lists (section 3).
- :data:`DATA_SIZES`: the sizes of the papers' own data, for the expected-time extrapolation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import pandas as pd

LPL = "ganesan2020lpl"
AAE = "barone2016towards"


@dataclass(frozen=True)
class Artefact:
    """One artefact of a paper: ``key`` (e.g. ``"lpl.table1a"``), ``paper`` (bibliography key), ``label`` as the
    paper prints it ("Table 1a"), ``reports`` (what the paper reports, in a sentence) and ``chapter``."""

    key: str
    paper: str
    label: str
    reports: str
    chapter: str


ARTEFACTS: dict[str, Artefact] = {
    a.key: a
    for a in [
        Artefact(
            "lpl.fig1",
            LPL,
            "Fig. 1",
            "with few pairs, MSE scatters a point's neighbours; MSE + LPL keeps the neighbourhood",
            "01_manifolds",
        ),
        Artefact(
            "lpl.eq6",
            LPL,
            "eqs. 1, 2, 6",
            "LLE reconstruction weights (rows sum to one), learned in phase 1",
            "02_lle_weights",
        ),
        Artefact(
            "lpl.table1a",
            LPL,
            "Table 1a",
            "LPA + MSE (CSLS) P@1 43.33 / 46.07 / 33.50 / 35.13 on EN-IT / DE / FI "
            "/ ES, above MSE by SGD (39.67 / 45.47 / 29.42 / 35.3) and close to Artetxe 2018",
            "03_word_alignment",
        ),
        Artefact(
            "lpl.table1b",
            LPL,
            "Table 1b",
            "the transformation steps S0-S5 of Artetxe 2018 that the baselines compose",
            "03_word_alignment",
        ),
        Artefact(
            "lpl.table2",
            LPL,
            "Table 2",
            "neighbours of 'windows' in the aligned space mix English and Italian words",
            "03_word_alignment",
        ),
        Artefact(
            "lpl.fewer_pairs",
            LPL,
            "'fewer pairs'",
            "LPL reduces the size of the supervised set needed for equal performance",
            "03_word_alignment",
        ),
        Artefact(
            "lpl.fig3a",
            LPL,
            "Fig. 3a",
            "alignment (MSE, MSE + LPL) raises SNLI accuracy over the baseline, by up "
            "to 8.9 points (19.3% relative) with 1,000 samples; gains shrink as data grows",
            "04_nli_regularisation",
        ),
        Artefact(
            "lpl.fig3b",
            LPL,
            "Fig. 3b",
            "MSE + LPL gives the lowest standard deviation over 3 runs",
            "04_nli_regularisation",
        ),
        Artefact(
            "lpl.table3",
            LPL,
            "Table 3",
            "with alignment, a pair's nearest training pairs share its label (entailment)",
            "04_nli_regularisation",
        ),
        Artefact(
            "lpl.fig4_5",
            LPL,
            "Figs. 4, 5",
            "the same gains on MultiNLI matched and mismatched",
            "04_nli_regularisation",
        ),
        Artefact(
            "aae.gan",
            AAE,
            "section 2",
            "a plain GAN collapses to (near-)constant outputs",
            "05_adversarial_autoencoder",
        ),
        Artefact(
            "aae.en_it",
            AAE,
            "section 3, EN-IT",
            "the AAE's 10-best Italian words of 'computer', 'rain', 'comics', "
            "'anime', 'France' hold translations or related words (places fail)",
            "05_adversarial_autoencoder",
        ),
        Artefact(
            "aae.en_de",
            AAE,
            "section 3, EN-DE",
            "d = 40, T = 4: similar partial semantic similarity",
            "05_adversarial_autoencoder",
        ),
        Artefact(
            "aae.beyond_en_fr",
            AAE,
            "beyond the paper (EN-FR)",
            "(not in the paper) the AAE on GloVe EN -> "
            "fastText FR, vectors trained on different corpora by different tools",
            "05_adversarial_autoencoder",
        ),
    ]
}

#: LPL Table 1a: P@1 (%) per method and pair, on the paper's own data.
TABLE1A: dict[str, dict[str, float]] = {
    "Shigeto 2015 (T->S)": {"en-it": 41.53, "en-de": 43.07, "en-fi": 31.04, "en-es": 33.73},
    "Artetxe 2016": {"en-it": 39.27, "en-de": 41.87, "en-fi": 30.62, "en-es": 31.40},
    "Smith 2017 (IS)": {"en-it": 41.53, "en-de": 43.07, "en-fi": 31.04, "en-es": 33.73},
    "Artetxe 2018 (NN)": {"en-it": 44.00, "en-de": 44.27, "en-fi": 32.94, "en-es": 36.53},
    "Artetxe 2018 (IS)": {"en-it": 45.27, "en-de": 44.13, "en-fi": 32.94, "en-es": 36.60},
    "MSE, SGD (NN)": {"en-it": 39.67, "en-de": 45.47, "en-fi": 29.42, "en-es": 35.3},
    "LPA+MSE, SGD (CSLS)": {"en-it": 43.33, "en-de": 46.07, "en-fi": 33.50, "en-es": 35.13},
}
TABLE1A_SOURCE = "LPL paper Table 1a, on its own data (Dinu EN-IT / VecMap EN-DE, EN-FI, EN-ES)"

#: LPL abstract and section 1: "up to 8.9% (19.3% relative) improvement ... with just 1000 samples" (Fig. 3a).
NLI_GAIN = {
    "gain_pct_points": 8.9,
    "gain_relative_pct": 19.3,
    "at_size": 1000,
    "ref": "abstract and section 1: 'up to 8.9% (19.3% relative) improvement ... with just 1000 samples'",
}

#: Barone (2016) section 3: the AAE's EN->IT 10-best lists (Wikipedia word2vec), as printed.
AAE_TEN_BEST: dict[str, str] = {
    "computer": "computer (it) at or near rank 1 (the paper gives no full list)",
    "rain": "gelo, gela, intensissimo, galleggiava, rigidissimo, arida, semi-desertico, fortunale, gelata, piovosa",
    "comics": "Kadath, Microciccio, Cugel, Promethea, flashback, episodio, Morimura, Chatwin, romanzato, Deedlit",
    "anime": "Zatanna, Alita, Yuriko, Wildfire, Carmilla, Batwoman, Leery, Aquarion, Vampirella, Minaccia",
    "france": "Radiomobile, Cartubi, Freniatria, UNUCI, Cornhole, Internazione, CSCE, Folklorica, UECI, Rientro",
}
AAE_TEN_BEST_SOURCE = "Barone (2016) section 3, EN->IT (Wikipedia word2vec)"

#: The papers' own data sizes: (count, what it is), for the expected CPU times of the reproduce page.
DATA_SIZES: dict[str, tuple[int, str]] = {
    "vocabulary": (200_000, "200,000 words per language (Dinu EN-IT and the VecMap sets, as the paper uses them)"),
    "train_pairs": (5_000, "5,000 training pairs (Dinu's and VecMap's training dictionaries)"),
    "snli_sentences": (2 * 570_152, "at most 1,140,304 sentences (the official SNLI's 570,152 pairs, 2 per pair)"),
    "mnli_sentences": (2 * 412_349, "at most 824,698 sentences (MultiNLI's 412,349 labelled train + dev pairs)"),
}


def artefact(key: str) -> Artefact:
    """The artefact ``key``; ``KeyError`` listing the known keys otherwise."""
    try:
        return ARTEFACTS[key]
    except KeyError:
        raise KeyError(f"unknown paper artefact {key!r}; known: {sorted(ARTEFACTS)}") from None


def table1a(pair: str, method: str) -> float | None:
    """The paper's Table 1a P@1 (%) of ``method`` on ``pair`` (e.g. ``"en-it"``), or None where it has none."""
    return TABLE1A.get(method, {}).get(pair)


def artefacts_frame() -> pd.DataFrame:
    """All artefacts as a DataFrame (key, paper, artefact, the paper reports, chapter), in the papers' order."""
    return pd.DataFrame(
        [
            {
                "key": a.key,
                "paper": "LPL" if a.paper == LPL else "AAE",
                "artefact": a.label,
                "the paper reports": a.reports,
                "chapter": a.chapter,
            }
            for a in ARTEFACTS.values()
        ]
    )


#: LPL Table 3 (section 4.3): the SNLI test pair (premise, hypothesis; gold label entailment) whose 2 nearest
#: training pairs in each model's penultimate layer the table lists (models trained on 2,000 pairs).
NLI_TABLE3_PAIR: tuple[str, str] = ("Family members standing outside a home.", "A family is standing outside.")


#: The LPL paper's own Table 1a data as :mod:`lpa_utils.data` names them: Dinu et al.'s EN-IT vectors and
#: dictionaries, the VecMap vectors (whose English side is Dinu's) and dictionaries, as registry names
#: (``dinu-en-300d``, ``vecmap-de-300d``, ``dict-dinu-en-it``, ``dict-vecmap``) or dictionary sources
#: (``dinu-train``, ``vecmap-test``, ...). A file path is never the paper's own data, whatever it holds.
TABLE1A_DATA = re.compile(r"(dinu|vecmap)-[a-z]{2}-300d|dict-dinu-en-it|dict-vecmap|(dinu|vecmap)-(train|test)")


def table1a_applies(pair: str, given: Iterable[str] = ()) -> bool:
    """Whether the paper's Table 1a figures may stand beside a run on ``pair`` (``"en-it"``).

    ``given``: the vectors and dictionaries the run used instead of the book's defaults (dataset names or file
    paths; empty for the book's own data, whose stand-ins the book sets beside the paper's figures, labelled as
    the paper's own data). True when the table has the pair and everything given is the paper's own data
    (:data:`TABLE1A_DATA`); False for a pair the table lacks or for any other vectors or dictionary.
    """
    in_table = any(pair in row for row in TABLE1A.values())
    return in_table and all(TABLE1A_DATA.fullmatch(str(g)) for g in given)
