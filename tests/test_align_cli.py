"""The command-line aligner (``python -m lpa_utils.align``) on a planted pair written as word2vec files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lpa_utils.align.cli import main
from lpa_utils.data import load_embeddings
from lpa_utils.data.writers import write_vectors


@pytest.fixture()
def planted(tmp_path):
    """A source space (400 words, 8d) and a target space (400 words, 12d) that is an exact semi-orthogonal map of it
    plus a little noise; the dictionary pairs word i with its image. Source as text, target as binary."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 8)).astype(np.float32)
    A = np.linalg.qr(rng.standard_normal((12, 8)))[0].T  # (8, 12), orthonormal rows
    Y = (X @ A + 0.01 * rng.standard_normal((400, 12))).astype(np.float32)
    src_words, tgt_words = [f"s{i}" for i in range(400)], [f"t{i}" for i in range(400)]
    write_vectors(tmp_path / "src.vec", src_words, X)
    write_vectors(tmp_path / "tgt.bin", tgt_words, Y)
    (tmp_path / "dict.txt").write_text("".join(f"s{i} t{i}\n" for i in range(400)), encoding="utf-8")
    return tmp_path


def test_procrustes_recovers_the_planted_map_and_writes_both_formats(planted, capsys):
    out = planted
    rc = main(
        [
            str(out / "src.vec"),
            str(out / "tgt.bin"),
            "--train",
            str(out / "dict.txt"),
            "--n-test",
            "100",
            "--method",
            "procrustes",
            "--out-src",
            str(out / "mapped.vec"),
            "--out-tgt",
            str(out / "tgt_out.bin"),
            "--report",
            str(out / "report.json"),
            "--threads",
            "1",
            "--quiet",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "P@1" in printed and "csls" in printed and "coverage" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["pairs"] == {"train": 240, "val": 60, "test": 100}  # 300 - 20 % validation words
    assert all(s["P@1"] == 100.0 and s["coverage %"] == 100.0 for s in report["scores"])
    mapped = load_embeddings(str(out / "mapped.vec"))
    assert mapped.dim == 12 and len(mapped) == 400 and mapped.words[:2] == ["s0", "s1"]
    assert (out / "mapped.vec").read_text().splitlines()[0] == "400 12"  # text, as the source was
    assert (out / "tgt_out.bin").read_bytes()[:7] == b"400 12\n"  # binary, as the target was
    target = load_embeddings(str(out / "tgt_out.bin"))
    np.testing.assert_allclose(target.vectors, load_embeddings(str(out / "tgt.bin")).vectors, atol=1e-6)


def test_lpa_is_deterministic_for_a_seed(planted):
    def scores(seed):
        path = planted / f"r{seed}.json"
        assert (
            main(
                [
                    str(planted / "src.vec"),
                    str(planted / "tgt.bin"),
                    "--train",
                    str(planted / "dict.txt"),
                    "--method",
                    "lpa",
                    "--n-test",
                    "100",
                    "--epochs",
                    "5",
                    "--k",
                    "5",
                    "--seed",
                    str(seed),
                    "--report",
                    str(path),
                    "--threads",
                    "1",
                    "--quiet",
                ]
            )
            == 0
        )
        return json.loads(path.read_text())["scores"]

    first = scores(0)
    assert first == scores(0)
    assert first[1]["P@10"] > 50, first  # the map is learned, not random


def test_refine_and_a_separate_test_dictionary(planted):
    (planted / "test.txt").write_text("".join(f"s{i} t{i}\n" for i in range(300, 400)), encoding="utf-8")
    (planted / "train.txt").write_text("".join(f"s{i} t{i}\n" for i in range(0, 300)), encoding="utf-8")
    assert (
        main(
            [
                str(planted / "src.vec"),
                str(planted / "tgt.bin"),
                "--train",
                str(planted / "train.txt"),
                "--test",
                str(planted / "test.txt"),
                "--method",
                "refine",
                "--refine-iters",
                "2",
                "--refine-words",
                "400",
                "--report",
                str(planted / "r.json"),
                "--threads",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    report = json.loads((planted / "r.json").read_text())
    assert report["pairs"]["test"] == 100 and report["scores"][1]["P@1"] == 100.0


def test_bad_input_is_one_clear_line_and_exit_2(planted, capsys):
    rc = main([str(planted / "missing.vec"), str(planted / "tgt.bin"), "--train", str(planted / "dict.txt"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "missing.vec" in err and err.startswith("error:")
    rc = main(
        [
            str(planted / "src.vec"),
            str(planted / "tgt.bin"),
            "--train",
            str(planted / "dict.txt"),
            "--n-test",
            "5000",
            "--quiet",
        ]
    )
    assert rc == 2 and "--n-test" in capsys.readouterr().err


def test_runs_as_a_module(planted):
    proc = subprocess.run([sys.executable, "-m", "lpa_utils.align", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--method" in proc.stdout and "lpa+refine" in proc.stdout


def test_writers_keep_unicode_spaces_inside_words(tmp_path):
    """fastText's French vocabulary holds words such as U+2009 and U+3000: the formats split on ASCII whitespace
    only, so they are written and read back; a word with an ASCII space cannot be written and is refused."""
    words = ["a", "b\u2009c", "\u3000", "d"]
    vectors = np.arange(8, dtype=np.float32).reshape(4, 2)
    for name in ("u.vec", "u.bin", "u.vec.gz"):
        write_vectors(tmp_path / name, words, vectors)
        back = load_embeddings(str(tmp_path / name))
        assert back.words == words and np.array_equal(back.vectors, vectors), name
    with pytest.raises(ValueError, match="no space, tab or newline"):
        write_vectors(tmp_path / "bad.vec", ["a b"], vectors[:1])
