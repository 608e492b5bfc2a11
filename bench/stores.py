"""Do two stores rank alike? Top-10 of every question, per mode, from index A (e.g. the local directory) and
index B (e.g. the same corpus in Milvus), with where they part and by how much.

    python -m bench.stores -a index -b milvus:///tmp/qa.db --questions ../shared/eval/dev.jsonl
    python -m bench.stores -a /tmp/stard -b milvus:///tmp/stard.db --questions ../shared/data/stard/queries.jsonl \\
        --qrels ../shared/data/stard/qrels/train.tsv --modes lexical

Questions are searched in batches (`search_many`), so both stores get the same question vectors.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from qa import QA
from qa.pipeline.evaluate import beir_queries

BATCH = 32


def questions(path: Path, qrels: Path | None) -> list[str]:
    if qrels is not None:
        return [text for text, _ in beir_queries(path, qrels)]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row.get("q") or row["text"] for row in rows]


def ranked(qa: QA, texts: list[str], mode: str, k: int) -> tuple[list[list], float]:
    """Each question's hits (chunk id, score), and the mean milliseconds per question."""
    out, started = [], time.perf_counter()
    for i in range(0, len(texts), BATCH):
        out += [[(h.chunk_id, h.score) for h in r.hits] for r in qa.search_many(texts[i:i + BATCH], k=k, mode=mode)]
    return out, 1000 * (time.perf_counter() - started) / max(len(texts), 1)


def compare(a: list[list], b: list[list], texts: list[str]) -> dict:
    top10 = sum(x == y for x, y in zip(([i for i, _ in r] for r in a), ([i for i, _ in r] for r in b)))
    top5 = sum([i for i, _ in x[:5]] == [i for i, _ in y[:5]] for x, y in zip(a, b))
    overlap = sum(len({i for i, _ in x} & {i for i, _ in y}) / len(x) if x else float(not y) for x, y in zip(a, b))
    differing = []
    for text, x, y in zip(texts, a, b):
        ids_x, ids_y = [i for i, _ in x], [i for i, _ in y]
        if ids_x != ids_y:
            rank = next((r for r, (p, q) in enumerate(zip(ids_x, ids_y)) if p != q), min(len(ids_x), len(ids_y)))
            gap = abs(x[rank][1] - x[rank + 1][1]) if rank + 1 < len(x) else None  # A's score gap where they part
            differing.append({"q": text, "rank": rank + 1, "a": ids_x[rank:rank + 2], "b": ids_y[rank:rank + 2],
                              "a_gap": None if gap is None else round(gap, 6)})
    n = max(len(texts), 1)
    return {"questions": len(texts), "same_top10": round(top10 / n, 4), "same_top5": round(top5 / n, 4),
            "overlap@10": round(overlap / n, 4), "differing": differing}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-a", required=True, help="first index (directory or milvus:// URI)")
    parser.add_argument("-b", required=True, help="second index")
    parser.add_argument("--questions", type=Path, required=True, help='{"q": …} or BEIR {"_id", "text"} JSONL')
    parser.add_argument("--qrels", type=Path, help="BEIR qrels: only questions judged there")
    parser.add_argument("--modes", nargs="+", default=["lexical", "dense", "hybrid"])
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args(argv)
    texts = questions(args.questions, args.qrels)
    qa_a, qa_b = QA.load(args.a), QA.load(args.b)
    report = {}
    for mode in args.modes:
        a, ms_a = ranked(qa_a, texts, mode, args.k)
        b, ms_b = ranked(qa_b, texts, mode, args.k)
        report[mode] = {**compare(a, b, texts), "ms_per_question_a": round(ms_a, 1), "ms_per_question_b": round(ms_b, 1)}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
