"""Fit the relevance gate on the tune halves of eval/calibration*.jsonl and report it on the rest.

    python -m bench.calibrate                                   # committed index: fit, choose the threshold, report
    python -m bench.calibrate --drop foreign                    # the same without one piece of evidence (ablation)
    python -m bench.calibrate --stard /tmp/main-stard           # also: STARD train questions the fitted gate rejects
    python -m bench.calibrate --no-dictionary                   # English through the domain thesaurus only
    python -m bench.calibrate --lopo                            # would fitting on the probes too help? (cross-check)

The gate is a logistic regression over `Evidence.features()` (standardised, L2 penalty C = 1, classes weighted
to balance: scikit-learn's defaults, solved here by Newton's method so the project needs no scikit-learn). Its
threshold is the highest probability at which ≥ 97.5 % of the tune-half answerable questions are still shown (the
full-coverage rule, `gate_full_coverage`, applies as in the gate), each of them scored by the gate fitted on all the
other tune-half questions (`out_of_fold`: scored by the fit it was part of, a question looks more answerable than a
new one will, and the threshold lands too high). Whether a shown question is quoted sentences or
only shown related passages is the sentence judge's call: the same kind of model over `SentenceMatch.features()`
(the first composed sentence's share of the question's terms, and its cosine above the question's background), fitted on the
tune-half questions that are composed a sentence (labelled by whether a quoted sentence holds a `must` string;
near-domain ones never do); its threshold is the lowest at which ≤ 3 % of the tune-half answerable questions are
quoted a sentence that does not answer and ≤ 5 % of the near-domain ones are quoted anything (issue #21's bars, on
the tune half), each row read by the judge fitted on the others. "The tune half" is that of both calibration files
(`CALIBRATION`): the first file's answerable tune questions are training pairs of the default model, the second's
are not. Only the tune half is used to fit or choose; the held-out half, the dev set, the off-topic set, the
fresh probes (eval/probe*.jsonl) and STARD are reported, the whole verdict as `qa eval` scores it. Every gate
threshold is scored through the gate itself (`qa.pipeline.gate.admits`, with the model being fitted in place of the
shipped one). The lexical-mode gate (`gate_lexical_*`) is fitted the same way on evidence from BM25 alone; its
threshold must also keep ≤ 3 % of STARD train's real questions when `--stard` is given. `--write` writes the fitted
model to qa/data/gate.json (versioned), which the gate reads: nothing is copied by hand.

    python -m bench.calibrate --stard /tmp/main-stard --write   # refit and ship (the committed model's recipe)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from qa.config import DEFAULT_INDEX  # settings only: no third-party imports

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MIN_TUNE_ANSWERED = 0.95
MIN_TUNE_SHOWN = 0.975  # answered or shown as related: the verdict's middle band reaches down to this
MAX_TUNE_NEAR_ANSWERED = 0.05  # near-domain questions quoted an answer (issue #21's bar), on the tune half
MAX_TUNE_WRONG = 0.03  # answerable questions quoted a sentence that does not answer, uncautioned (#21's bar)
MAX_STARD_REJECTED = 0.03
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.025), 3)
PROBES = ("probe17.jsonl", "probe18.jsonl", "probe19.jsonl", "probe20.jsonl", "probe21.jsonl",
          "probe22.jsonl", "probe23.jsonl", "probe24.jsonl")  # never fitted on
# each split into a tune half (fitted on) and a held-out half (reported); calibration2's and calibration3's questions
# were never training pairs of the model, so the gate also meets scores like those of questions the model has not seen
CALIBRATION = ("calibration.jsonl", "calibration2.jsonl", "calibration3.jsonl")


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


def fit_gate(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Weights per unit of each feature (as the config holds them) and bias, fitted on standardised features."""
    mean, scale = x.mean(0), x.std(0)
    scale[scale == 0] = 1.0
    w, b = fit_logistic((x - mean) / scale, y)
    weights = w / scale
    return weights, b - float(weights @ mean)


def evidence_rows(qa, path: Path, mode: str = "hybrid") -> list[dict]:
    """Each question of a JSONL set with its kind, split and the gate's evidence."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return with_features(qa, rows, mode)


def calibration_rows(qa, mode: str = "hybrid") -> list[dict]:
    """The calibration files' questions (eval/calibration*.jsonl), both halves, with the gate's evidence."""
    return [r for name in CALIBRATION for r in evidence_rows(qa, ROOT / "eval" / name, mode)]


def stard_rows(index: Path, mode: str = "hybrid", every: int = 1) -> list[dict]:
    """STARD train's questions (every `every`-th), all real ones, with the gate's evidence on a STARD index."""
    from qa import QA
    from qa.pipeline.evaluate import beir_queries

    stard = SHARED / "data" / "stard"
    texts = [text for text, _ in beir_queries(stard / "queries.jsonl", stard / "qrels" / "train.tsv")][::every]
    return with_features(QA.load(index), [{"q": t, "kind": "answerable"} for t in texts], mode)


def with_features(qa, rows: list[dict], mode: str) -> list[dict]:
    results = qa.search_many([r["q"] for r in rows], mode=mode)
    return [{**r, "features": res.evidence.features(), "evidence": res.evidence} for r, res in zip(rows, results)]


def matrix(rows: list[dict], features: tuple[str, ...]) -> np.ndarray:
    return np.array([[r["features"][f] for f in features] for r in rows], dtype=np.float64)


def shares(answered, rows: list[dict], threshold: float) -> tuple[float, float]:
    """(answerable questions answered, near-domain questions rejected) by the gate `answered(rows, threshold)`."""
    ok = [r for r in rows if r["kind"] == "answerable"]
    no = [r for r in rows if r["kind"] != "answerable"]
    return (float(answered(ok, threshold).mean()) if ok else float("nan"),
            float(1 - answered(no, threshold).mean()) if no else float("nan"))


def best_threshold(answered, tune: list[dict], allowed=lambda t: True) -> float:
    """The threshold rejecting the most tune-half near-domain questions while answering ≥ MIN_TUNE_ANSWERED of the
    tune-half answerable ones (and passing `allowed`); the lowest such."""
    ok = [t for t in THRESHOLDS if shares(answered, tune, t)[0] >= MIN_TUNE_ANSWERED and allowed(t)]
    return max(ok, key=lambda t: (shares(answered, tune, t)[1], -t)) if ok else float(THRESHOLDS[0])


def related_threshold(answered, tune: list[dict]) -> float:
    """The gate's threshold in model mode: the highest at which it still shows something (an answer or related
    passages) for ≥ MIN_TUNE_SHOWN of the tune-half answerable questions; whether a sentence is quoted is the
    sentence judge's call."""
    ok = [t for t in THRESHOLDS if shares(answered, tune, t)[0] >= MIN_TUNE_SHOWN]
    return float(max(ok)) if ok else float(THRESHOLDS[0])


def shown(answered, rows: list[dict], threshold: float) -> dict[str, float]:
    """Shares the gate shows (answered or related) and turns away."""
    if not rows:
        return {}
    admitted = answered(rows, threshold)
    return {"shown": round(float(admitted.mean()), 4), "not_found": round(float(1 - admitted.mean()), 4),
            "n": len(rows)}


def sentence_rows(qa, rows: list[dict]) -> list[dict]:
    """The questions whose verdict (with the sentence judge off) quotes sentences, with the judge's features of the
    first one and whether any quoted sentence answers (holds a `must` string)."""
    from qa.pipeline.evaluate import holds

    out = []
    for row, verdict in zip(rows, (qa.ask(r["q"]) for r in rows)):
        if verdict.sentences and verdict.match is not None:
            must = row.get("must") or []
            out.append({**row, "features": verdict.match.features(), "caution": bool(verdict.caution),
                        "answers": bool(must) and any(holds(s.text, must) for s in verdict.sentences)})
    return out


def sentence_threshold(probability, quoted: list[dict], tune: list[dict]) -> float:
    """The sentence judge's threshold: the lowest at which, of the tune half, at most MAX_TUNE_WRONG of the
    answerable questions are quoted a sentence that does not answer and at most MAX_TUNE_NEAR_ANSWERED of the
    near-domain ones are quoted anything (uncautioned, as the bars count them)."""
    answerable = sum(r["kind"] == "answerable" for r in tune) or 1
    near = sum(r["kind"] != "answerable" for r in tune) or 1
    for t in THRESHOLDS:
        kept = [r for r in quoted if probability(r) >= t and not r["caution"]]
        wrong = sum(r["kind"] == "answerable" and not r["answers"] for r in kept) / answerable
        confident = sum(r["kind"] != "answerable" for r in kept) / near
        if wrong <= MAX_TUNE_WRONG and confident <= MAX_TUNE_NEAR_ANSWERED:
            return float(t)
    return float(THRESHOLDS[-1])


def gate_with(weights, bias, threshold: float, features: tuple[str, ...], lexical: bool):
    """The shipped gate model with this fit in place of its (model-mode or lexical-mode) part."""
    from dataclasses import replace

    from qa.config import DEFAULT

    gate = DEFAULT.gate
    if lexical:
        gate = replace(gate, lexical_features=features, lexical_weights=tuple(float(w) for w in weights),
                       lexical_bias=float(bias), lexical_threshold=float(threshold))
    else:
        gate = replace(gate, features=features, weights=tuple(float(w) for w in weights), bias=float(bias),
                       threshold=float(threshold))
    return replace(DEFAULT, gate=gate)


def fitted(rows: list[dict], features: tuple[str, ...], full: bool):
    """Fit the gate on `rows` (the tune half); returns (weights, bias, answered(rows, threshold)). `full`: the
    model-mode gate (with its full-coverage rule), else the lexical one."""
    from qa.pipeline import gate

    y = np.array([r["kind"] == "answerable" for r in rows], dtype=np.float64)
    weights, bias = fit_gate(matrix(rows, features), y)

    def answered(rows: list[dict], threshold: float) -> np.ndarray:
        """The gate itself (`qa.pipeline.gate.admits`) with this fit and threshold."""
        config = gate_with(weights, bias, threshold, features, lexical=not full)
        return np.array([gate.admits(r["evidence"], config, r["features"]) for r in rows], dtype=bool)

    return weights, bias, answered


def out_of_fold(rows: list[dict], features: tuple[str, ...], full: bool):
    """`answered(rows, threshold)` for the rows the gate is fitted on, each row read by the gate fitted on all the
    others (leave one out). A fitted model scores its own training rows higher than it will score new questions, so
    a threshold chosen on those scores sits too high: new answerable questions fall below it. Chosen on out-of-fold
    scores, it is chosen on scores like the ones it will meet."""
    without = leave_one_out(rows, lambda others: fitted(others, features, full)[2])

    def answered(subset: list[dict], threshold: float) -> np.ndarray:
        return np.array([without[id(r)]([r], threshold)[0] for r in subset], dtype=bool)

    return answered


def leave_one_out(rows: list[dict], fit):
    """`fit(all rows but this one)` for each row, keyed by the row's id(): what each row is read by out of fold."""
    return {id(row): fit([r for r in rows if r is not row]) for row in rows}


def print_config(prefix: str, features: tuple[str, ...], all_features: tuple[str, ...], weights, bias, best) -> None:
    full = dict(zip(features, weights))
    print(f"{prefix}features =", all_features)
    print(f"{prefix}weights =", tuple(round(float(full.get(f, 0.0)), 4) for f in all_features))
    print(f"{prefix}bias = {bias:.4f}")
    print(f"{prefix}min_probability = {best}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--index", default=str(ROOT / DEFAULT_INDEX), help="index directory or milvus:// URI")
    parser.add_argument("--drop", action="append", default=[], help="leave this feature out (repeatable)")
    parser.add_argument("--stard", type=Path, default=None, help="a STARD index: report its rejected share")
    parser.add_argument("--lopo", action="store_true",
                        help="leave-one-probe-out: each probe scored by a gate fitted on the tune half plus the other "
                             "probes, against the tune-only gate (hybrid); fits nothing that is kept")
    parser.add_argument("--curve", action="store_true",
                        help="also print answered / rejected at every threshold 0.2-0.8 (tune, held-out, probes)")
    parser.add_argument("--write", action="store_true",
                        help="write the fitted model to qa/data/gate.json (refused with --drop or --no-dictionary)")
    parser.add_argument("--no-dictionary", action="store_true",
                        help="English words reach the corpus through the domain thesaurus only (no CC-CEDICT)")
    args = parser.parse_args(argv)

    from qa import QA
    from qa.models import lexical
    from qa.config import DEFAULT

    if args.no_dictionary:  # an ablation: every English feature is read without the bilingual dictionary
        lexical.use_english_dictionary(False)

    if args.write and (args.drop or args.no_dictionary or args.lopo):
        parser.error("--write ships the full model: not with --drop, --no-dictionary or --lopo")
    qa = QA.load(args.index)
    fits = {}
    if args.lopo:
        return leave_one_probe_out(qa, DEFAULT.gate_features)
    for mode, prefix, all_features in (("hybrid", "gate_", DEFAULT.gate_features),
                                       ("lexical", "gate_lexical_", DEFAULT.gate_lexical_features)):
        features = tuple(f for f in all_features if f not in args.drop)
        calibration = calibration_rows(qa, mode)
        tune = [r for r in calibration if r["split"] == "tune"]
        weights, bias, answered = fitted(tune, features, full=mode != "lexical")
        stard = stard_rows(args.stard, mode) if args.stard else []
        # lexical mode is the fallback real questions land in: it must keep them (STARD), as it had to before
        allowed = (lambda t: 1 - answered(stard, t).mean() <= MAX_STARD_REJECTED) if stard and mode == "lexical" else (
            lambda t: True)
        # lexical mode quotes what it composes (no vectors to judge a sentence by): its threshold is the one edge
        oof = out_of_fold(tune, features, full=mode != "lexical")
        best = best_threshold(oof, tune, allowed) if mode == "lexical" else related_threshold(oof, tune)
        print_config(prefix, features, all_features, weights, bias, best)
        full_weights = dict(zip(features, weights))
        fits[mode] = (all_features, tuple(round(float(full_weights.get(f, 0.0)), 4) for f in all_features),
                      round(bias, 4), float(best))
        if "sentence_outlier" in features:
            means = [np.mean([r["features"]["sentence_outlier"] for r in tune if (r["kind"] == "answerable") == k])
                     for k in (True, False)]
            fits["outlier_neutral"] = round(float(np.mean(means)), 2)
            print(f"gate_outlier_neutral = {np.mean(means):.2f}  # answerable {means[0]:.2f}, "
                  f"near-domain {means[1]:.2f}")
        heldout = [r for r in calibration if r["split"] == "heldout"]
        dev = evidence_rows(qa, SHARED / "eval" / "dev.jsonl", mode)
        offtopic = evidence_rows(qa, ROOT / "eval" / "offtopic.jsonl", mode)
        probes = [r for name in PROBES for r in evidence_rows(qa, ROOT / "eval" / name, mode)]
        gate = {name: shown(answered, rows, best) for name, rows in (
            ("tune answerable", [r for r in tune if r["kind"] == "answerable"]),
            ("tune near-domain", [r for r in tune if r["kind"] != "answerable"]),
            ("held-out answerable", [r for r in heldout if r["kind"] == "answerable"]),
            ("held-out near-domain", [r for r in heldout if r["kind"] != "answerable"]),
            ("probes answerable", [r for r in probes if r["kind"] == "answerable"]),
            ("probes near-domain", [r for r in probes if r["kind"] != "answerable"]),
            ("off-topic", offtopic), ("dev", dev), ("STARD", stard))}
        out = {"mode": mode, "features": list(features), "threshold": best, "gate": {k: v for k, v in gate.items() if v},
               "tune": dict(zip(("answered", "rejected"), shares(answered, tune, best))),
               "heldout": dict(zip(("answered", "rejected"), shares(answered, heldout, best))),
               "dev_answered": float(answered(dev, best).mean()),
               "offtopic_rejected": float(1 - answered(offtopic, best).mean()),
               "probes": dict(zip(("answered", "rejected"), shares(answered, probes, best)))}
        if stard:
            out["stard_rejected"] = float(1 - answered(stard, best).mean())
        print(json.dumps(out, ensure_ascii=False, indent=1))
        if args.curve:
            print_curve(answered, {"tune": tune, "held-out": heldout, "probes": probes}, best)
        if mode == "hybrid":
            gated = qa.with_config(gate_features=features, gate_weights=tuple(float(w) for w in weights),
                                   gate_bias=float(bias), gate_min_probability=best,
                                   gate_outlier_neutral=fits.get("outlier_neutral", DEFAULT.gate_outlier_neutral),
                                   gate_answer_min_probability=None, gate_sentence_min_probability=None)
            fits["sentence"] = fit_sentence_judge(gated, tune)
            print_verdicts(gated.with_config(**judge_settings(fits["sentence"])))
    if args.write:
        path = write_model(fits, args.index, args.stard, spec=(qa.index.recipe.embedder or {}).get("spec"))
        print(f"wrote {path}")


def fit_sentence_judge(qa, tune: list[dict]) -> tuple:
    """The sentence judge fitted on the tune halves' quoted sentences: (features, weights, bias, threshold). The
    threshold is chosen on out-of-fold probabilities (each row read by the judge fitted on the others), for the
    reason the gate's is (`out_of_fold`)."""
    from qa.config import SENTENCE_FEATURES

    features = SENTENCE_FEATURES
    quoted = sentence_rows(qa, tune)
    threshold = sentence_threshold(judge_out_of_fold(quoted, features), quoted, tune)
    weights, bias = judge_fit(quoted, features)
    print(f"gate_sentence_features = {features}")
    print(f"gate_sentence_weights = {tuple(round(float(w), 4) for w in weights)}")
    print(f"gate_sentence_bias = {bias:.4f}")
    print(f"gate_sentence_min_probability = {threshold}  # {len(quoted)} tune-half questions quoted a sentence, "
          f"{sum(r['answers'] for r in quoted)} answering")
    return features, tuple(round(float(w), 4) for w in weights), round(float(bias), 4), threshold


def judge_fit(rows: list[dict], features: tuple[str, ...]) -> tuple[np.ndarray, float]:
    return fit_gate(matrix(rows, features), np.array([r["answers"] for r in rows], dtype=np.float64))


def judge_out_of_fold(rows: list[dict], features: tuple[str, ...]):
    """P(answers) of each row by the judge fitted on all the other rows (leave one out; see `out_of_fold`)."""
    from qa.pipeline.gate import logistic

    judges = leave_one_out(rows, lambda others: judge_fit(others, features))
    probability = {id(row): logistic(row["features"], features, judges[id(row)][0], float(judges[id(row)][1]))
                   for row in rows}
    return lambda row: probability[id(row)]


def judge_settings(judge: tuple) -> dict:
    features, weights, bias, threshold = judge
    return {"gate_sentence_features": features, "gate_sentence_weights": weights, "gate_sentence_bias": bias,
            "gate_sentence_min_probability": threshold}


def print_verdicts(qa) -> None:
    """The whole verdict with this fit, as `qa eval` scores it: helped, uncautioned wrong answers, near-domain
    questions answered confidently, per set."""
    from qa.pipeline.evaluate import evaluate_must

    keys = ("questions", "hit@5", "answer_hit", "related", "helped", "wrong_uncautioned", "off_topic",
            "off_topic_answered_confidently")
    probes = {name: {k: v for k, v in evaluate_must(qa, ROOT / "eval" / name).items() if k in keys}
              for name in PROBES}
    pooled = {}
    for key, weight in (("helped", "questions"), ("wrong_uncautioned", "questions"), ("answer_hit", "questions"),
                        ("related", "questions"), ("off_topic_answered_confidently", "off_topic")):
        total = sum(p.get(weight, 0) for p in probes.values())
        pooled[key] = round(sum(p.get(key, 0) * p.get(weight, 0) for p in probes.values()) / total, 4) if total else None
    report = {**{name: evaluate_must(qa, ROOT / "eval" / name).get("splits", {}) for name in CALIBRATION},
              "probes pooled": pooled, "probes": probes,
              "dev": {k: v for k, v in evaluate_must(qa, SHARED / "eval" / "dev.jsonl").items() if k in keys}}
    print(json.dumps({"verdicts": report}, ensure_ascii=False, indent=1))


def write_model(fits: dict, index: Path, stard: Path | None, path: Path | None = None,
                spec: str | None = None) -> Path:
    """The fitted model as the gate reads it (versioned): qa/data/gate.json for the default model's scores,
    qa/data/gate-SPEC.json for another embedder's (`qa.config.gate_file`)."""
    from dataclasses import replace

    from qa.config import DEFAULT, DEFAULT_BUILD, GATE_FILE, GateModel

    (features, weights, bias, threshold), (lex_features, lex_weights, lex_bias, lex_threshold) = (
        fits["hybrid"], fits["lexical"])
    sentence_features, sentence_weights, sentence_bias, sentence_threshold = fits["sentence"]
    model = replace(DEFAULT.gate, features=features, weights=weights, bias=bias, threshold=threshold,
                    answer_threshold=None, sentence_features=sentence_features, sentence_weights=sentence_weights,
                    sentence_bias=sentence_bias, sentence_threshold=sentence_threshold,
                    embedder=spec or DEFAULT_BUILD.model,
                    outlier_neutral=fits.get("outlier_neutral", DEFAULT.gate.outlier_neutral),
                    lexical_features=lex_features, lexical_weights=lex_weights, lexical_bias=lex_bias,
                    lexical_threshold=lex_threshold,
                    fitted_on=f"{spec or DEFAULT_BUILD.model}: tune halves of eval/{'+'.join(CALIBRATION)} on {Path(index).name}/"
                              + (f"; lexical threshold keeps <= 3 % of STARD train rejected ({Path(stard).name})"
                                 if stard else ""))
    path = Path(path or (GATE_FILE if spec in (None, DEFAULT_BUILD.model) else GATE_FILE.with_name(f"gate-{spec}.json")))
    # the fusion share is bench/fusion.py's to choose: kept from this model's own file, never taken from another's
    model = replace(model, statute_dense_weight=GateModel.load(path).statute_dense_weight if path.exists() else None)
    model.write(path)
    return path


def print_curve(answered, sets: dict[str, list[dict]], chosen: float) -> None:
    """Answered / rejected at each threshold: what any other choice of threshold would have given."""
    print("| threshold | " + " | ".join(f"{name} answered / rejected" for name in sets) + " |")
    print("|---" * (len(sets) + 1) + "|")
    for t in np.round(np.arange(0.2, 0.801, 0.05), 2):
        cells = ["%.3f / %.3f" % shares(answered, rows, t) for rows in sets.values()]
        mark = " (chosen)" if abs(t - chosen) < 1e-9 else ""
        print(f"| {t:.2f}{mark} | " + " | ".join(cells) + " |")


def leave_one_probe_out(qa, features: tuple[str, ...]) -> None:
    """Answered / rejected on each probe, pooled: the tune-only gate against one fitted on tune + the other probes."""
    tune = [r for r in calibration_rows(qa, "hybrid") if r["split"] == "tune"]
    probes = {name: evidence_rows(qa, ROOT / "eval" / name, "hybrid") for name in PROBES}

    def counts(answered, rows: list[dict], threshold: float) -> np.ndarray:
        n_ok = sum(r["kind"] == "answerable" for r in rows)
        ok, no = shares(answered, rows, threshold)
        return np.array([round(ok * n_ok), n_ok, round(no * (len(rows) - n_ok)), len(rows) - n_ok])

    _, _, tune_only = fitted(tune, features, full=True)
    threshold = best_threshold(tune_only, tune)
    pooled = {"tune only": np.zeros(4, dtype=int), "tune + other probes": np.zeros(4, dtype=int)}
    for name in PROBES:
        rows = tune + [r for other in PROBES if other != name for r in probes[other]]
        _, _, more = fitted(rows, features, full=True)
        pooled["tune only"] += counts(tune_only, probes[name], threshold)
        pooled["tune + other probes"] += counts(more, probes[name], best_threshold(more, rows))
    for fit, (ok, n_ok, no, n_no) in pooled.items():
        print(f"{fit}: answered {ok}/{n_ok}, rejected {no}/{n_no}")


if __name__ == "__main__":
    main()
