"""Retrieval evaluation: the dev set's {"q","must"} format and BEIR-style queries + qrels."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Iterable

from ..config import in_part
from ..errors import EvaluationError
from ..text import normalise_for_match

def holds(text: str, must: list[str]) -> bool:
    """The dev set's relevance rule: the normalised text contains one of the (normalised) `must` strings."""
    return any(m in normalise_for_match(text) for m in must)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    pos = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[pos]


def _latency(ms: list[float]) -> dict:
    return {"p50_ms": round(_percentile(ms, 50), 2), "p95_ms": round(_percentile(ms, 95), 2)}


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    """(line number, text) of a UTF-8 file; other bytes are a one-line EvaluationError naming the line."""
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                yield line_no, raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise EvaluationError(f"{path}:{line_no}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                      "save the file as UTF-8") from None


def _must_strings(item: dict, where: str) -> list[str]:
    """`must`: a list of non-empty strings (one string is taken as a list of one: never matched per character)."""
    must = item.get("must")
    if must is None or must == []:
        return []
    if isinstance(must, str):
        must = [must]
    if not isinstance(must, list) or not all(isinstance(m, str) for m in must):
        raise EvaluationError(f"{where}: \"must\" must be a list of strings, got {json.dumps(must, ensure_ascii=False)}")
    normalised = [normalise_for_match(m) for m in must]
    if not all(normalised):  # an empty string is in every text: every question would count as a hit
        raise EvaluationError(f"{where}: \"must\" holds an empty string")
    return normalised


def _read_jsonl(path: Path, required: tuple[str, ...]) -> Iterable[dict]:
    for line_no, line in _lines(path):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvaluationError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from exc
        missing = [key for key in required if not isinstance(item, dict) or key not in item]
        if missing:
            raise EvaluationError(f"{path}:{line_no}: needs the field(s) {', '.join(missing)}")
        item["_where"] = f"{path}:{line_no}"
        yield item


def evaluate_must(qa, path: Path, *, mode: str = "hybrid", k: int = 10) -> dict:
    """Questions with `must` strings score retrieval and the answer sentences; questions without are off-topic:
    they should find nothing.

    answer_hit: share of questions whose answer sentences contain a `must` string; answer_hit@1: the first one.
    helped: answered by such a sentence, or shown as related with a passage that holds a `must` string (the
    verdict's middle band); wrong_uncautioned: sentences quoted, none holding a `must` string, and no caution.
    """
    rows, latencies, negatives = [], [], []
    for item in _read_jsonl(path, ("q",)):
        if not isinstance(item["q"], str) or not item["q"].strip():
            raise EvaluationError(f"{item['_where']}: \"q\" must be a non-empty string")
        must = _must_strings(item, item["_where"])
        started = time.perf_counter()
        result = qa.search(item["q"], k=k, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
        if not must:
            answer = qa.ask(item["q"], mode=mode) if result.found else None
            negatives.append({"id": item.get("id"), "found": result.found, "split": item.get("split"),
                              "confident": bool(answer and answer.sentences and not answer.caution)})
            continue
        rank = next((h.rank for h in result.hits if holds(h.text, must)), None)
        answer = qa.ask(item["q"], mode=mode)
        sentences = [s.text for s in answer.sentences]
        hit = any(holds(s, must) for s in sentences)
        shown = answer.outcome == "related" and any(holds(h.text, must) for h in answer.passages)
        rows.append({"id": item.get("id"), "split": item.get("split"), "rank": rank, "found": result.found,
                     "answer": hit, "helped": hit or shown, "related": answer.outcome == "related",
                     "wrong": bool(sentences) and not hit and not answer.caution,
                     "answer@1": bool(sentences) and holds(sentences[0], must), "caution": bool(answer.caution)})
    if not rows and not negatives:  # a report of zeros would read as a score
        raise EvaluationError(f"{path}: no questions in it (one JSON object per line: {{\"q\": …, \"must\": […]}})")
    n = len(rows) or 1
    report = {"file": str(path), "mode": mode, "questions": len(rows), **_latency(latencies)}
    if rows:
        report.update({
            "hit@1": round(sum(1 for r in rows if r["rank"] == 1) / n, 4),
            "hit@5": round(sum(1 for r in rows if r["rank"] and r["rank"] <= 5) / n, 4),
            "mrr@10": round(sum(1 / r["rank"] for r in rows if r["rank"] and r["rank"] <= 10) / n, 4),
            "misses@5": [r["id"] for r in rows if not r["rank"] or r["rank"] > 5],
            "hit@10": round(sum(1 for r in rows if r["rank"]) / n, 4),
            "found": round(sum(1 for r in rows if r["found"]) / n, 4),
            "answer_hit": round(sum(1 for r in rows if r["answer"]) / n, 4),
            "answer_hit@1": round(sum(1 for r in rows if r["answer@1"]) / n, 4),
            "answer_misses": [r["id"] for r in rows if not r["answer"]],
            "cautioned": round(sum(1 for r in rows if r["caution"]) / n, 4),  # answered, led by the caution
            "related": round(sum(r["related"] for r in rows) / n, 4),
            "helped": round(sum(r["helped"] for r in rows) / n, 4),
            "wrong_uncautioned": round(sum(r["wrong"] for r in rows) / n, 4),
        })
    if negatives:
        report["off_topic"] = len(negatives)
        report["off_topic_rejected"] = round(sum(1 for r in negatives if not r["found"]) / len(negatives), 4)
        report["off_topic_shown"] = [r["id"] for r in negatives if r["found"]]
        # the failure that matters most: sentences quoted as an answer, with no caution, where none should be
        report["off_topic_answered_confidently"] = round(sum(r["confident"] for r in negatives) / len(negatives), 4)
    splits = sorted({r["split"] for r in rows + negatives if r["split"]})
    if splits:  # calibration files mark a tune and a held-out half (eval/README.md): report each
        report["splits"] = {}
        for name in splits:
            pos = [r for r in rows if r["split"] == name]
            neg = [r for r in negatives if r["split"] == name]
            part = {}
            if pos:
                part.update({"questions": len(pos), "found": round(sum(r["found"] for r in pos) / len(pos), 4),
                             "hit@5": round(sum(1 for r in pos if r["rank"] and r["rank"] <= 5) / len(pos), 4),
                             "answer_hit": round(sum(r["answer"] for r in pos) / len(pos), 4),
                             "helped": round(sum(r["helped"] for r in pos) / len(pos), 4),
                             "wrong_uncautioned": round(sum(r["wrong"] for r in pos) / len(pos), 4)})
            if neg:
                part.update({"off_topic": len(neg),
                             "off_topic_rejected": round(sum(not r["found"] for r in neg) / len(neg), 4),
                             "off_topic_answered_confidently": round(sum(r["confident"] for r in neg) / len(neg), 4)})
            report["splits"][name] = part
    return report


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for line_no, line in _lines(path):
        parts = line.strip().split("\t")
        if not line.strip() or (line_no == 1 and len(parts) >= 3 and not parts[2].lstrip("-").isdigit()):
            continue  # blank line or header
        if len(parts) < 3 or not parts[2].lstrip("-").isdigit():
            raise EvaluationError(f"{path}:{line_no}: expected 'query-id<TAB>corpus-id<TAB>score'")
        qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def ranking_metrics(ranked: list[str], relevant: dict[str, int]) -> dict[str, float]:
    """nDCG@10, Recall@10/100 and MRR@10 of one ranked list of document ids."""
    return {
        "ndcg@10": ndcg_at(ranked, relevant),
        "recall@10": len(set(ranked[:10]) & relevant.keys()) / len(relevant),
        "recall@100": len(set(ranked[:100]) & relevant.keys()) / len(relevant),
        "mrr@10": next((1 / (i + 1) for i, d in enumerate(ranked[:10]) if d in relevant), 0.0),
    }


def documents_of(result) -> list[str]:
    """Passages → documents, first rank wins (several chunks of one article count once)."""
    return list(dict.fromkeys(h.doc_id for h in result.hits))


def beir_queries(queries_path: Path, qrels_path: Path, limit: int | None = None,
                 part: str = "all") -> list[tuple[str, dict[str, int]]]:
    """(question, {relevant doc id: grade}) for every query of PART (all, tune, held-out: `config.held_out`) that has
    positive judgements."""
    qrels = read_qrels(qrels_path)
    out = []
    for query in _read_jsonl(queries_path, ("_id", "text")):
        if not in_part(str(query["_id"]), part):
            continue
        relevant = {d: g for d, g in qrels.get(str(query["_id"]), {}).items() if g > 0}
        if relevant:
            out.append((query["text"], relevant))
    return out[:limit] if limit else out


def evaluate_beir(qa, queries_path: Path, qrels_path: Path, *, mode: str = "hybrid", depth: int = 100,
                  limit: int | None = None, part: str = "all") -> dict:
    queries = beir_queries(queries_path, qrels_path, limit, part)
    if not queries:
        raise EvaluationError(f"no question of {queries_path} has a positive judgement in {qrels_path}")
    sums = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    latencies = []
    rejected = 0
    for text, relevant in queries:
        started = time.perf_counter()
        result = qa.search(text, k=depth, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
        rejected += not result.found
        for key, value in ranking_metrics(documents_of(result), relevant).items():
            sums[key] += value
    n = len(queries) or 1
    return {
        "queries": len(queries),
        "part": part,
        "mode": mode,
        **{key: round(value / n, 4) for key, value in sums.items()},
        "rejected": round(rejected / n, 4),  # questions the relevance gate answered with 未找到相关内容
        **_latency(latencies),
    }
