"""Issue 8, stop 18: which form of "does the nearest sentence stand out" to give the gate (docs/EVALUATION.md).

    python -m bench.outlier_forms --stard /tmp/main-stard      # the table of forms (STARD: every third train question)

Each form is added alone to the gate's other features and fitted exactly as `bench.calibrate` fits the gate (tune
half of eval/calibration.jsonl only, same threshold rule); printed: tune and held-out answered / rejected, and the
share of STARD questions the fitted gate rejects.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.calibrate import ROOT, best_threshold, evidence_rows, fitted, shares, stard_rows

FORMS = {
    "raw gap: best - mean of next 10": lambda t: t[0] - t[1:11].mean(),
    "raw gap: best - mean of ranks 21-50": lambda t: t[0] - t[20:50].mean(),
    "raw gap: best - median of 100": lambda t: t[0] - np.median(t[:100]),
    "z over 100": lambda t: (t[0] - t[1:100].mean()) / t[1:100].std(),
    "z over 300 (kept)": lambda t: (t[0] - t[1:300].mean()) / t[1:300].std(),
}


def with_nearest(index_dir: Path, rows: list[dict]) -> list[dict]:
    """The rows, each with the cosines of the 300 sentences nearest its question, nearest first."""
    from qa.stores.index import Index

    index = Index.open(index_dir)
    vectors = index.embed_queries([r["q"] for r in rows])
    return [{**r, "nearest": np.asarray(index.nearest_sentences(v, 300)[1], np.float64)} for r, v in zip(rows, vectors)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--index", type=Path, default=ROOT / "index")
    parser.add_argument("--stard", type=Path, required=True, help="a STARD train index")
    args = parser.parse_args(argv)

    from qa import QA
    from qa.config import DEFAULT

    base = tuple(f for f in DEFAULT.gate_features if f != "sentence_outlier")
    calibration = with_nearest(args.index, evidence_rows(QA.load(args.index), ROOT / "eval" / "calibration.jsonl"))
    stard = with_nearest(args.stard, stard_rows(args.stard, every=3))
    tune = [r for r in calibration if r["split"] == "tune"]
    heldout = [r for r in calibration if r["split"] == "heldout"]

    print("| outlier form (added to the six features) | tune answered / rejected | held-out answered / rejected "
          "| STARD rejected (1/3 of train) |")
    print("|---|---|---|---|")
    for name, form in {"none": None, **FORMS}.items():
        for r in calibration + stard:
            r["features"]["form"] = form(r["nearest"]) if form else 0.0
        _, _, answered = fitted(tune, base + (("form",) if form else ()), full=True)
        t = best_threshold(answered, tune)
        (ta, tr), (ha, hr) = shares(answered, tune, t), shares(answered, heldout, t)
        print(f"| {name} | {ta:.2f} / {tr:.2f} | {ha:.2f} / {hr:.2f} | {100 * (1 - answered(stard, t).mean()):.1f} % |")


if __name__ == "__main__":
    main()
