"""A second build of the chapters that give verdicts, with another base seed, to check that the verdicts hold.

``python -m tools.stability [--profile full] [--base-seed 1]`` (``make stability``) executes chapters 01, 03, 04 and
05 with ``base_seed`` into :data:`tools.report_pages.SECOND_BUILD` (every run redraws its split, subsets,
initialisation and batch order), then compares their claims with the first build's (``book/results``, written by
``make book``) through :mod:`tools.compare_verdicts`, and prints the table. The next ``make book`` shows it on the
report page. Exits 1 if a verdict flipped between reproduced and not reproduced.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from lpa_utils.config import REPO_ROOT, resolve_profile
from tools import compare_verdicts
from tools.book import NOTEBOOK_DIR, ChapterFailed, execute_chapter
from tools.paths import results_dir
from tools.report_pages import SECOND_BUILD

CHAPTERS = ("01_manifolds", "03_word_alignment", "04_nli_regularisation", "05_adversarial_autoencoder")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None, choices=["full", "smoke"])
    ap.add_argument("--base-seed", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=list(CHAPTERS))
    args = ap.parse_args(argv)
    profile = resolve_profile(args.profile)
    first = results_dir()
    SECOND_BUILD.mkdir(parents=True, exist_ok=True)
    out_dir = REPO_ROOT / "_build" / f"stability-{profile}"
    old = os.environ.get("LPA_RESULTS_DIR")
    os.environ["LPA_RESULTS_DIR"] = str(SECOND_BUILD)
    try:
        for stem in args.only:
            t0 = time.perf_counter()
            print(f"==> {stem} with base_seed={args.base_seed} ...", end=" ", flush=True)
            try:
                dt = execute_chapter(
                    NOTEBOOK_DIR / f"{stem}.ipynb",
                    out_dir / f"{stem}.ipynb",
                    profile,
                    parameters={"base_seed": args.base_seed},
                )
            except ChapterFailed as exc:
                raise SystemExit(f"ERROR: {exc}") from None
            print(f"done in {dt:.0f} s ({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        if old is None:
            os.environ.pop("LPA_RESULTS_DIR", None)
        else:
            os.environ["LPA_RESULTS_DIR"] = old
    m = compare_verdicts.compare(
        compare_verdicts.claims_of(first, profile), compare_verdicts.claims_of(SECOND_BUILD, profile)
    )
    print(compare_verdicts.markdown(m, f"{first.name}", f"base seed {args.base_seed}"))
    return 1 if (m["change"] == "flip").any() else 0


if __name__ == "__main__":
    sys.exit(main())
