"""Issue 8, stop 18: which form of "does the nearest sentence stand out" to give the gate (docs/EVALUATION.md).

    python -m bench.outlier_forms --stard /tmp/main-stard      # the table of forms (STARD: every third train question)

Each form is added alone to the gate's other features and fitted exactly as `bench.calibrate` fits the gate (tune
half of eval/calibration.jsonl only, same threshold rule); printed: tune and held-out answered / rejected, and the
share of STARD questions the fitted gate rejects.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.calibrate import MIN_TUNE_ANSWERED, ROOT, SHARED, THRESHOLDS, fit_logistic

FORMS = {
    "raw gap: best - mean of next 10": lambda t: t[0] - t[1:11].mean(),
    "raw gap: best - mean of ranks 21-50": lambda t: t[0] - t[20:50].mean(),
    "raw gap: best - median of 100": lambda t: t[0] - np.median(t[:100]),
    "z over 100": lambda t: (t[0] - t[1:100].mean()) / t[1:100].std(),
    "z over 300 (kept)": lambda t: (t[0] - t[1:300].mean()) / t[1:300].std(),
}


def rows_of(qa, questions: list[dict]) -> list[dict]:
    index = qa.index
    vectors = index.embed_queries([r["q"] for r in questions])
    out = []
    for row, result, qvec in zip(questions, qa.search_many([r["q"] for r in questions]), vectors):
        _, nearest = index.nearest_sentences(qvec, 300)
        out.append({**row, "features": result.evidence.features(), "nearest": np.asarray(nearest, np.float64)})
    return out


def main(argv=None) -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--index", type=Path, default=ROOT / "index")
    parser.add_argument("--stard", type=Path, required=True, help="a STARD train index")
    args = parser.parse_args(argv)

    from qa import QA
    from qa.config import DEFAULT
    from qa.evaluate import beir_queries

    base = tuple(f for f in DEFAULT.gate_features if f != "sentence_outlier")
    calibration = rows_of(QA.load(args.index), [json.loads(line) for line in
                                                 (ROOT / "eval" / "calibration.jsonl").read_text("utf-8").splitlines()
                                                 if line.strip()])
    stard_dir = SHARED / "data" / "stard"
    texts = [t for t, _ in beir_queries(stard_dir / "queries.jsonl", stard_dir / "qrels" / "train.tsv")][::3]
    stard = rows_of(QA.load(args.stard), [{"q": t, "kind": "answerable"} for t in texts])
    tune = [r for r in calibration if r["split"] == "tune"]
    heldout = [r for r in calibration if r["split"] == "heldout"]

    print("| outlier form (added to the six features) | tune answered / rejected | held-out answered / rejected "
          "| STARD rejected (1/3 of train) |")
    print("|---|---|---|---|")
    for name, form in {"none": None, **FORMS}.items():
        def x(rows):
            cols = [[r["features"][f] for f in base] + ([form(r["nearest"])] if form else []) for r in rows]
            return np.array(cols, dtype=np.float64)

        xt, y = x(tune), np.array([r["kind"] == "answerable" for r in tune], dtype=np.float64)
        mean, scale = xt.mean(0), xt.std(0)
        scale[scale == 0] = 1.0
        w, b = fit_logistic((xt - mean) / scale, y)
        weights, bias = w / scale, b - float((w / scale) @ mean)

        def answered(rows, t):
            p = 1.0 / (1.0 + np.exp(-(bias + x(rows) @ weights)))
            full = np.array([r["features"]["foreign"] == 0 and r["features"]["foreign_other"] == 0
                             and r["features"]["coverage"] >= DEFAULT.gate_full_coverage for r in rows])
            return (p >= t) | full

        def shares(rows, t):
            ok = [r for r in rows if r["kind"] == "answerable"]
            no = [r for r in rows if r["kind"] != "answerable"]
            return float(answered(ok, t).mean()), float(1 - answered(no, t).mean())

        t = max((t for t in THRESHOLDS if shares(tune, t)[0] >= MIN_TUNE_ANSWERED),
                key=lambda t: (shares(tune, t)[1], -t))
        (ta, tr), (ha, hr) = shares(tune, t), shares(heldout, t)
        print(f"| {name} | {ta:.2f} / {tr:.2f} | {ha:.2f} / {hr:.2f} | {100 * (1 - answered(stard, t).mean()):.1f} % |")


if __name__ == "__main__":
    main()
