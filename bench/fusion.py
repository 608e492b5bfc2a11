"""How the dense and lexical lists are fused: nDCG@10 of each fusion setting on a BEIR-style set.

    python -m bench.fusion -i /tmp/stard-index \\
        --queries ../shared/data/stard/queries.jsonl --qrels ../shared/data/stard/qrels/train.tsv

The questions are embedded once (in batches, kept in the index's question cache) and every setting reuses those
vectors, so a sweep takes seconds per setting instead of minutes. Batch and one-at-a-time embedding differ in the last float bits: numbers can
differ from `qa eval` in the fourth decimal.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from qa import QA
from qa.config import DEFAULT, QueryConfig
from qa.pipeline.evaluate import beir_queries, documents_of, ranking_metrics

RRF_KS = (5, 10, 20, 30, 60)
WEIGHTS = (0.5, 0.6, 0.7)


def settings() -> list[tuple[str, str, QueryConfig]]:
    """(label, mode, config) for every setting the sweep scores."""
    out = [("lexical (BM25)", "lexical", DEFAULT),
           ("lexical, gate off", "lexical", replace(DEFAULT, min_lexical_coverage=0.0)),  # every result shown
           ("dense", "dense", DEFAULT)]
    for w in WEIGHTS:
        out.append((f"linear w={w}", "hybrid", replace(DEFAULT, fusion="linear", dense_weight=w)))
    for k in RRF_KS:
        for w in WEIGHTS:
            out.append((f"rrf k={k} w={w}", "hybrid", replace(DEFAULT, fusion="rrf", rrf_k=k, dense_weight=w)))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--index", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--qrels", type=Path, required=True)
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args(argv)

    queries = beir_queries(args.queries, args.qrels)
    qa = QA.load(args.index, config=replace(DEFAULT, query_cache=len(queries)))
    if not qa.index.has_vectors:
        raise SystemExit("this index has no embedder: nothing to fuse")
    started = time.perf_counter()
    texts = [text for text, _ in queries]
    for i in range(0, len(texts), 32):
        qa.index.embed_queries(texts[i : i + 32])
    print(f"{len(queries)} questions embedded in {time.perf_counter() - started:.0f} s")

    rows = []
    for label, mode, config in settings():
        asker = QA(qa.index, replace(config, query_cache=len(queries)))
        total = dict.fromkeys(("ndcg@10", "recall@10", "recall@100", "mrr@10"), 0.0)
        for result, (_, relevant) in zip(asker.search_many(texts, k=100, mode=mode), queries):
            for key, value in ranking_metrics(documents_of(result), relevant).items():
                total[key] += value
        row = {"setting": label, **{key: round(value / len(queries), 4) for key, value in total.items()}}
        rows.append(row)
        print(f"{label:<18} nDCG@10 {row['ndcg@10']:.4f}  R@10 {row['recall@10']:.4f}  "
              f"R@100 {row['recall@100']:.4f}  MRR@10 {row['mrr@10']:.4f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
