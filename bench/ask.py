"""`ask` against `search` on one index, warm, in one process and one run (the bar: ask p50 ≤ 1.5 × search p50).

    python -m bench.ask -i index                         # dev + calibration questions on the committed index
    python -m bench.ask -i /tmp/stard-index --limit 200  # STARD questions
    python -m bench.ask -i index --json docs/bench_ask.json

The two calls alternate question by question, so load on a shared machine hits both alike. `ask` runs the same
search plus answer-sentence selection; with sentence vectors stored in the index that needs no model call beyond
the question's one.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from qa.config import DEFAULT_INDEX  # settings only: no third-party imports

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def questions(limit: int | None) -> list[str]:
    files = [SHARED / "eval" / "dev.jsonl", ROOT / "eval" / "calibration.jsonl"]
    qs = [json.loads(line)["q"] for f in files if f.exists() for line in f.read_text(encoding="utf-8").splitlines()
          if line.strip()]
    stard = SHARED / "data" / "stard" / "queries.jsonl"
    if stard.exists():
        qs += [json.loads(line)["text"] for line in stard.read_text(encoding="utf-8").splitlines() if line.strip()]
    return qs[:limit] if limit else qs


def run(index: str, qs: list[str], repeat: int = 1) -> dict:
    from dataclasses import replace

    from qa import QA
    from qa.config import DEFAULT

    # no question cache: otherwise `ask` would reuse the vector `search` just computed and look cheaper than it is
    qa = QA.load(index, config=replace(DEFAULT, query_cache=0))
    qa.ask(qs[0])  # models and files loaded once, outside the timing
    search_ms, ask_ms = [], []
    for _ in range(repeat):
        for q in qs:
            t = time.perf_counter()
            qa.search(q, k=qa.config.k_ask)
            search_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            qa.ask(q)
            ask_ms.append((time.perf_counter() - t) * 1000)
    p = lambda xs, q: round(float(np.percentile(xs, q)), 2)  # noqa: E731
    out = {"index": str(index), "questions": len(qs) * repeat,
           "sentence_vectors": (index / "sentence_vectors.npy").exists(),
           "search_p50_ms": p(search_ms, 50), "search_p95_ms": p(search_ms, 95),
           "ask_p50_ms": p(ask_ms, 50), "ask_p95_ms": p(ask_ms, 95)}
    out["ask_over_search_p50"] = round(out["ask_p50_ms"] / out["search_p50_ms"], 3)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--index", default=str(ROOT / DEFAULT_INDEX), help="index directory or milvus:// URI")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    result = run(args.index, questions(args.limit), args.repeat)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
