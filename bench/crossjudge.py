"""Measure a question → sentence cross-encoder as the answer judge (issue #21: "short question–sentence pairs may be
different; measure before you plan on it").

The bundled e5 rebuilt in float (`qa.models.tuning.float_model.float_bert`) reads `query: Q</s></s>passage: S` and a
linear head on its mean-pooled output scores "S answers Q". Trained on the sentences of the judge-off top three
passages of the calibration files' tune halves (a sentence holding a `must` string answers; up to 8 others per
question do not) and on STARD's tune part (question → relevant article, and the BM25-mined hard negative). Scored on
the held-out halves and probes 17–24: which sentence it would quote, and how well it separates right from wrong
first sentences against the shipped judge. Needs torch (training); nothing here is on the query path.

    python -m bench.crossjudge --steps 270 --json /tmp/crossjudge.json      # one epoch: ~12 min train, ~3 min score
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
QUERY_TOKENS, SENTENCE_TOKENS = 48, 112
NEGATIVES_PER_QUESTION = 8
# the calibration files of the recorded measurement (stop 30, before calibration3.jsonl was written)
MEASURED_ON = ("calibration.jsonl", "calibration2.jsonl")


def question_rows(qa, path: Path, split: str | None = None) -> list[dict]:
    """Each question with the sentences of its judge-off top three passages, each labelled by the `must` rule."""
    from qa.models.sentences import passage_sentences
    from qa.pipeline.evaluate import holds

    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if split and row.get("split") != split:
            continue
        verdict = qa.ask(row["q"])
        must = row.get("must") or []
        sentences: dict[str, bool] = {}
        for hit in verdict.passages[:3]:
            for text in passage_sentences(hit.text):
                if len(text) >= 6:
                    sentences.setdefault(text, bool(must) and holds(text, must))
        out.append({"q": row["q"], "answerable": bool(must), "sentences": list(sentences.items()),
                    "composed_right": bool(must) and any(holds(s.text, must) for s in verdict.sentences),
                    "first": verdict.sentences[0].text if verdict.sentences else None,
                    "judge": verdict.match.probability() if verdict.match else None})
    return out


def training_pairs(tune: list[dict], seed: int = 0) -> list[tuple[str, str, int]]:
    from qa.models.tuning.pairs import stard_pairs

    rng = random.Random(seed)
    pairs = []
    for row in tune:
        negatives = [s for s, y in row["sentences"] if not y]
        rng.shuffle(negatives)
        pairs += [(row["q"], s, 1) for s, y in row["sentences"] if y]
        pairs += [(row["q"], s, 0) for s in negatives[:NEGATIVES_PER_QUESTION]]
    stard, _ = stard_pairs(SHARED / "data" / "stard", part="tune", negatives=True, seed=seed)
    for p in stard:
        pairs.append((p.query, p.passage, 1))
        if p.negative:
            pairs.append((p.query, p.negative, 0))
    rng.shuffle(pairs)
    return pairs


class CrossJudge:
    """The float e5 with a linear head over `<s>query: Q</s></s>passage: S</s>`."""

    def __init__(self) -> None:
        import torch

        from qa.models.e5_file import E5File
        from qa.models.e5_tokenizer import E5Tokenizer
        from qa.models.tuning.float_model import float_bert

        weights = E5File()
        self.tokenizer = E5Tokenizer.from_weights(weights)
        self.bert = float_bert(weights)
        self.bert.embeddings.word_embeddings.weight.requires_grad_(False)
        self.head = torch.nn.Linear(weights.hidden, 1)

    def ids(self, question: str, sentence: str) -> list[int]:
        def cut(seq: list[int], n: int) -> list[int]:
            return seq if len(seq) <= n else seq[:n - 1] + seq[-1:]

        q = cut(self.tokenizer.encode(["query: " + question])[0], QUERY_TOKENS)
        s = cut(self.tokenizer.encode(["passage: " + sentence])[0], SENTENCE_TOKENS)
        return q + [self.tokenizer.eos] + s[1:]

    def logits(self, pairs: list[tuple[str, str]]):
        from qa.models.tuning.float_model import batch_features

        features = batch_features([self.ids(q, s) for q, s in pairs], self.tokenizer.pad_id)
        mask = features["attention_mask"].unsqueeze(-1).float()
        hidden = self.bert(**features).last_hidden_state
        return self.head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)

    def train(self, pairs: list[tuple[str, str, int]], steps: int, batch: int = 16, seed: int = 0) -> list[float]:
        import torch
        from tqdm import tqdm

        torch.manual_seed(seed)
        self.bert.train()
        optimiser = torch.optim.AdamW(
            [{"params": [p for p in self.bert.parameters() if p.requires_grad], "lr": 3e-5},
             {"params": self.head.parameters(), "lr": 1e-3}], weight_decay=0.01)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        losses = []
        for step in tqdm(range(steps), desc="cross-encoder", unit="step"):
            chunk = [pairs[(step * batch + i) % len(pairs)] for i in range(batch)]
            loss = loss_fn(self.logits([(q, s) for q, s, _ in chunk]), torch.tensor([float(y) for *_, y in chunk]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        self.bert.eval()
        return losses

    def scores(self, question: str, sentences: list[str]) -> list[float]:
        import torch

        with torch.no_grad():
            return [float(x) for i in range(0, len(sentences), 32)
                    for x in self.logits([(question, s) for s in sentences[i:i + 32]])]


def auc(positive: list[float], negative: list[float]) -> float:
    p, n = np.array(positive, dtype=float)[:, None], np.array(negative, dtype=float)[None, :]
    return float((p > n).mean() + 0.5 * (p == n).mean()) if p.size and n.size else float("nan")


def report(judge: CrossJudge, rows: list[dict]) -> dict:
    """Sentence choice (the cross-encoder's top sentence against the composer's) and judging (AUC of right against
    wrong first sentences: the cross-encoder's score against the shipped judge's P(answers))."""
    started, n = time.perf_counter(), 0
    for row in rows:
        row["scores"] = judge.scores(row["q"], [s for s, _ in row["sentences"]]) if row["sentences"] else []
        row["first_score"] = judge.scores(row["q"], [row["first"]])[0] if row["first"] else None
        n += len(row["sentences"]) + bool(row["first"])
    seconds = time.perf_counter() - started
    answerable = [r for r in rows if r["answerable"] and any(y for _, y in r["sentences"])]
    composed = [r for r in rows if r["first"] is not None]
    right = [r for r in composed if r["composed_right"]]
    wrong = [r for r in composed if not r["composed_right"]]
    return {
        "answerable_with_a_right_sentence": len(answerable),
        "composer_quotes_a_right_sentence": sum(r["composed_right"] for r in answerable),
        "cross_encoder_top_sentence_right": sum(r["sentences"][int(np.argmax(r["scores"]))][1] for r in answerable),
        "judge_auc_shipped": round(auc([r["judge"] for r in right], [r["judge"] for r in wrong]), 3),
        "judge_auc_cross_encoder": round(auc([r["first_score"] for r in right], [r["first_score"] for r in wrong]), 3),
        "ms_per_pair": round(1000 * seconds / max(n, 1), 1),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--index", default=str(ROOT / "index"))
    parser.add_argument("--steps", type=int, default=270, help="batches of 16 (270: one epoch of the pairs)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from qa import QA
    from qa.config import QueryConfig

    judge_off = QA.load(args.index, config=QueryConfig(gate_sentence_min_probability=None))
    evals = ROOT / "eval"
    tune = [r for name in MEASURED_ON for r in question_rows(judge_off, evals / name, "tune")]
    held = [r for name in MEASURED_ON
            for r in question_rows(judge_off, evals / name, "heldout")]
    held += [r for path in sorted(evals.glob("probe*.jsonl")) for r in question_rows(judge_off, path)]
    pairs = training_pairs(tune)
    judge = CrossJudge()
    started = time.perf_counter()
    losses = judge.train(pairs, args.steps)
    result = {"pairs": len(pairs), "steps": args.steps, "batch": 16, "train_seconds": round(time.perf_counter() - started),
              "loss_first_20": round(float(np.mean(losses[:20])), 4), "loss_last_20": round(float(np.mean(losses[-20:])), 4),
              "tune": report(judge, tune), "held_out": report(judge, held)}
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
