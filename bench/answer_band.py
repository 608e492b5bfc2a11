"""Choose `answer_min_probability` (issue 8): how sure the gate must be before answer sentences are quoted.

    python -m bench.answer_band                      # committed index: choose on the tune half, report the rest
    python -m bench.answer_band --json docs/answer_band.json

It also counts the answers the caution flags (`QueryConfig.caution_below`, the gate model's even odds, not tuned):
shown with 「资料中可能没有直接回答这个问题的内容…」 instead of withheld.

A question the gate lets through with little evidence gets a confident-looking cited sentence that often does not
answer it. Below the chosen probability (unless one passage holds every question term: `gate_full_coverage`) the
page shows the passages under 「资料中没有直接回答的句子，以下段落可能相关」 and quotes nothing.

Rule, fixed before looking at the numbers of any threshold: on the tune half of eval/calibration.jsonl, count for
each candidate threshold t the cited answers it withholds that were wrong (a near-domain question the corpus
cannot answer, or an answerable one whose sentences miss every `must` string) minus those it withholds that were
right; take the lowest t with the largest count. The held-out half and the dev set are reported, never used.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from qa.config import DEFAULT_INDEX  # settings only: no third-party imports

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
THRESHOLDS = np.round(np.arange(0.30, 0.951, 0.025), 3)


def answer_rows(qa, rows: list[dict]) -> list[dict]:
    """Each question the gate lets through: its probability, whether full coverage alone carries it, and whether
    the sentences quoted with no band in force hold a `must` string (None for a question with no `must`)."""
    from qa.pipeline.evaluate import holds

    plain = qa.with_config(answer_min_probability=0.0)
    out = []
    for row, result in zip(rows, plain.search_many([r["q"] for r in rows])):
        if not result.found:
            continue
        evidence = result.evidence
        sentences = [s.text for s in plain.ask(row["q"]).sentences]
        must = row.get("must") or []
        out.append({"id": row.get("id"), "split": row.get("split"), "p": evidence.probability(qa.config),
                    "full": evidence.full_coverage(qa.config), "quoted": bool(sentences),
                    "right": any(holds(s, must) for s in sentences) if must else None})
    return out


def withheld(rows: list[dict], t: float) -> dict:
    held = [r for r in rows if r["quoted"] and not r["full"] and r["p"] < t]
    wrong = sum(r["right"] is not True for r in held)
    right = sum(r["right"] is True for r in held)
    quoted_right = sum(r["right"] is True for r in rows if r["quoted"]) - right
    quoted_unanswerable = sum(r["right"] is None for r in rows if r["quoted"]) - sum(r["right"] is None for r in held)
    return {"withheld_wrong": wrong, "withheld_right": right, "net": wrong - right,
            "right_answers_still_quoted": quoted_right, "unanswerable_still_quoted": quoted_unanswerable}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--index", default=str(ROOT / DEFAULT_INDEX), help="index directory or milvus:// URI")
    parser.add_argument("--calibration", type=Path, default=ROOT / "eval" / "calibration.jsonl")
    parser.add_argument("--dev", type=Path, default=SHARED / "eval" / "dev.jsonl")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)

    from qa import QA

    qa = QA.load(args.index)
    read = lambda path: [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]  # noqa: E731
    rows = answer_rows(qa, read(args.calibration) + [{**r, "split": "dev"} for r in read(args.dev)])
    tune = [r for r in rows if r["split"] == "tune"]
    scores = [withheld(tune, float(t))["net"] for t in THRESHOLDS]
    best = float(THRESHOLDS[int(np.argmax(scores))])  # argmax: the first (lowest) of the best
    report = {"rule": "lowest t maximising wrong minus right cited answers withheld, tune half",
              "answer_min_probability": best, "configured": qa.config.answer_min_probability,
              "sweep_tune": {str(t): s for t, s in zip(THRESHOLDS, scores)},
              # reported only, never used to choose
              **{f"sweep_{split}": {str(t): withheld([r for r in rows if r["split"] == split], float(t))["net"]
                                    for t in THRESHOLDS} for split in ("heldout", "dev")},
              **{split: withheld([r for r in rows if r["split"] == split], best)
                 for split in ("tune", "heldout", "dev")},
              # the caution (QueryConfig.caution_below, not tuned): the same answers counted, flagged instead of withheld
              "caution_below": qa.config.caution_below,
              "caution": {split: withheld([r for r in rows if r["split"] == split], qa.config.caution_below)
                          for split in ("tune", "heldout", "dev")}}
    print(json.dumps(report, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
