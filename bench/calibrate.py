"""Fit the relevance gate (issue 8) on the tune half of eval/calibration.jsonl and report it on the rest.

    python -m bench.calibrate                                   # committed index: fit, choose the threshold, report
    python -m bench.calibrate --drop foreign                    # the same without one piece of evidence (ablation)
    python -m bench.calibrate --stard /tmp/main-stard           # also: STARD train questions the fitted gate rejects

The model is a logistic regression over `Evidence.features()` (standardised, L2 penalty C = 1, classes weighted
to balance: scikit-learn's defaults, solved here by Newton's method so the project needs no scikit-learn). The
threshold is the lowest probability that rejects the most tune-half near-domain questions while still answering
≥ 95 % of the tune-half answerable ones (with the full-coverage rule, `gate_full_coverage`, applied as in the gate). Only the tune half is used to fit or choose; the held-out half, the dev
set, the off-topic set and STARD are reported. The printed `gate_weights` / `gate_bias` / `gate_min_probability`
are what `qa/config.py` holds.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MIN_TUNE_ANSWERED = 0.95
MAX_STARD_REJECTED = 0.03
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.025), 3)


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = 1.0, steps: int = 100) -> tuple[np.ndarray, float]:
    """Weights and bias (in standardised units) minimising ½‖w‖² + C·Σ balanced-weighted log loss."""
    n = len(y)
    sample = np.where(y, n / (2 * y.sum()), n / (2 * (n - y.sum())))
    a = np.hstack([x, np.ones((n, 1))])
    penalty = np.ones(a.shape[1])
    penalty[-1] = 0.0  # the bias is not penalised
    theta = np.zeros(a.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-a @ theta))
        grad = c * a.T @ (sample * (p - y)) + penalty * theta
        hess = c * (a.T * (sample * p * (1 - p))) @ a + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return theta[:-1], float(theta[-1])


def evidence_rows(qa, path: Path) -> list[dict]:
    """Each question of a JSONL set with its kind, split and the gate's evidence."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    results = qa.search_many([r["q"] for r in rows])
    return [{**r, "features": res.evidence.features()} for r, res in zip(rows, results)]


def matrix(rows: list[dict], features: tuple[str, ...]) -> np.ndarray:
    return np.array([[r["features"][f] for f in features] for r in rows], dtype=np.float64)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--index", type=Path, default=ROOT / "index")
    parser.add_argument("--drop", action="append", default=[], help="leave this feature out (repeatable)")
    parser.add_argument("--stard", type=Path, default=None, help="a STARD index: report its rejected share")
    args = parser.parse_args(argv)

    from qa import QA
    from qa.config import DEFAULT
    from qa.evaluate import beir_queries

    features = tuple(f for f in DEFAULT.gate_features if f not in args.drop)
    qa = QA.load(args.index)
    calibration = evidence_rows(qa, ROOT / "eval" / "calibration.jsonl")
    tune = [r for r in calibration if r["split"] == "tune"]
    y = np.array([r["kind"] == "answerable" for r in tune], dtype=np.float64)
    x = matrix(tune, features)
    mean, scale = x.mean(0), x.std(0)
    scale[scale == 0] = 1.0
    w, b = fit_logistic((x - mean) / scale, y)
    weights = w / scale  # per unit of each feature, as the config holds them
    bias = b - float(weights @ mean)

    def answered(rows: list[dict], threshold: float) -> np.ndarray:
        """The gate as `Retriever._relevant` applies it: the model, or a passage holding every term."""
        z = bias + matrix(rows, features) @ weights if rows else np.zeros(0)
        full = np.array([r["features"]["foreign"] == 0 and r["features"]["foreign_other"] == 0
                         and r["features"]["coverage"] >= DEFAULT.gate_full_coverage for r in rows], dtype=bool)
        return (1.0 / (1.0 + np.exp(-z)) >= threshold) | full

    def shares(rows: list[dict], threshold: float) -> tuple[float, float]:
        ok = [r for r in rows if r["kind"] == "answerable"]
        no = [r for r in rows if r["kind"] == "unanswerable"]
        return float(answered(ok, threshold).mean()), float(1 - answered(no, threshold).mean())

    best = max((t for t in THRESHOLDS if shares(tune, t)[0] >= MIN_TUNE_ANSWERED),
               key=lambda t: (shares(tune, t)[1], -t))
    full = dict(zip(features, weights))
    print("gate_features =", DEFAULT.gate_features)
    print("gate_weights =", tuple(round(float(full.get(f, 0.0)), 4) for f in DEFAULT.gate_features))
    print(f"gate_bias = {bias:.4f}")
    print(f"gate_min_probability = {best}")
    if "sentence_outlier" in features:
        means = [np.mean([r["features"]["sentence_outlier"] for r in tune if (r["kind"] == "answerable") == k])
                 for k in (True, False)]
        print(f"gate_outlier_neutral = {np.mean(means):.2f}  # answerable {means[0]:.2f}, near-domain {means[1]:.2f}")

    heldout = [r for r in calibration if r["split"] == "heldout"]
    dev = evidence_rows(qa, SHARED / "eval" / "dev.jsonl")
    offtopic = evidence_rows(qa, ROOT / "eval" / "offtopic.jsonl")
    report = {
        "features": list(features),
        "threshold": best,
        "tune": dict(zip(("answered", "rejected"), shares(tune, best))),
        "heldout": dict(zip(("answered", "rejected"), shares(heldout, best))),
        "dev_answered": float(answered(dev, best).mean()),
        "offtopic_rejected": float(1 - answered(offtopic, best).mean()),
    }
    if args.stard:
        stard = SHARED / "data" / "stard"
        texts = [text for text, _ in beir_queries(stard / "queries.jsonl", stard / "qrels" / "train.tsv")]
        rows = [{"features": r.evidence.features()} for r in QA.load(args.stard).search_many(texts)]
        report["stard_rejected"] = float(1 - answered(rows, best).mean())
    print(json.dumps(report, ensure_ascii=False, indent=1))
    calibrate_lexical(qa, args.stard, tuple(f for f in DEFAULT.gate_lexical_features if f not in args.drop))


def calibrate_lexical(qa, stard_index: Path | None, features: tuple[str, ...]) -> None:
    """The lexical-mode gate, fitted the same way on the same tune half (evidence from BM25 alone). Threshold: the
    one rejecting the most tune-half near-domain questions while answering ≥ 95 % of the tune-half answerable ones
    and — given a STARD index — ≤ 3 % of STARD train's real questions (the bar lexical mode had to keep)."""
    from qa import QA
    from qa.config import DEFAULT
    from qa.evaluate import beir_queries

    def rows_of(target, path: Path | None = None, texts: list[str] | None = None) -> list[dict]:
        items = ([json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
                 if path else [{"q": t, "kind": "answerable"} for t in texts])
        results = target.search_many([r["q"] for r in items], mode="lexical")
        return [{**r, "evidence": res.evidence} for r, res in zip(items, results)]

    calibration = rows_of(qa, ROOT / "eval" / "calibration.jsonl")
    tune = [r for r in calibration if r["split"] == "tune"]

    def x(rows):
        return np.array([[r["evidence"].features()[f] for f in features] for r in rows], dtype=np.float64)

    y = np.array([r["kind"] == "answerable" for r in tune], dtype=np.float64)
    xt = x(tune)
    mean, scale = xt.mean(0), xt.std(0)
    scale[scale == 0] = 1.0
    w, b = fit_logistic((xt - mean) / scale, y)
    weights = w / scale
    bias = b - float(weights @ mean)

    def answered(rows, threshold):
        if not rows:
            return np.zeros(0, dtype=bool)
        return 1.0 / (1.0 + np.exp(-(bias + x(rows) @ weights))) >= threshold

    def shares(rows, threshold):
        ok = [r for r in rows if r["kind"] == "answerable"]
        no = [r for r in rows if r["kind"] != "answerable"]
        return float(answered(ok, threshold).mean()), float(1 - answered(no, threshold).mean())

    stard = []
    if stard_index:
        stard_dir = SHARED / "data" / "stard"
        texts = [t for t, _ in beir_queries(stard_dir / "queries.jsonl", stard_dir / "qrels" / "train.tsv")]
        stard = rows_of(QA.load(stard_index), texts=texts)
    allowed = [t for t in THRESHOLDS if shares(tune, t)[0] >= MIN_TUNE_ANSWERED
               and (not stard or 1 - answered(stard, t).mean() <= MAX_STARD_REJECTED)]
    best = max(allowed, key=lambda t: (shares(tune, t)[1], -t)) if allowed else float(THRESHOLDS[0])
    full = dict(zip(features, weights))
    print("gate_lexical_features =", DEFAULT.gate_lexical_features)
    print("gate_lexical_weights =", tuple(round(float(full.get(f, 0.0)), 4) for f in DEFAULT.gate_lexical_features))
    print(f"gate_lexical_bias = {bias:.4f}")
    print(f"gate_lexical_min_probability = {best}")
    heldout = [r for r in calibration if r["split"] == "heldout"]
    report = {"features": list(features), "threshold": best,
              "tune": dict(zip(("answered", "rejected"), shares(tune, best))),
              "heldout": dict(zip(("answered", "rejected"), shares(heldout, best)))}
    if stard:
        report["stard_rejected"] = float(1 - answered(stard, best).mean())
    print(json.dumps({"lexical": report}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
