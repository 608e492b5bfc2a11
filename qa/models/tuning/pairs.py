"""Training pairs (query, passage) for `qa tune`: what a corpus gives by itself, a file of questions, STARD.

- corpus: each chunk, as the build embeds it (`Chunk.context`), paired with (a) its heading path, for one chunk per
  distinct heading, and (b) one of its sentences, the inverse cloze task: the passage then leaves that sentence out,
  so the pair teaches what surrounds a statement rather than string overlap.
- questions: JSONL rows {"query", "passage"}, or {"q", "must"} in the dev-set format, paired with every chunk that
  holds one of the `must` strings (at most three); rows of another `split` than the one asked for, and rows marked
  unanswerable, are left out.
- STARD: its queries with the articles its train qrels name; by default only the tune part (`config.held_out` keeps
  a fifth of the questions for evaluation). Each pair also gets a hard negative: one of the articles BM25 ranks
  highest for the question that the qrels do not name (seeded pick among the top few, near-copies of a named
  article skipped), so training sees the neighbouring statutes a question is not about, not only random ones.
No torch here: pairs are plain data, hashed into the artifact's record.
"""
from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...config import DEFAULT_BUILD, BuildConfig, in_part
from ...documents.chunking import Chunk, chunk_documents, split_sentences
from ...documents.corpus import discover, read_documents
from ...errors import QAError
from ...text import normalise_for_match

MIN_SENTENCE, MAX_SENTENCE = 8, 160
MAX_PASSAGES_PER_QUESTION = 3


@dataclass(frozen=True)
class Pair:
    query: str
    passage: str
    source: str  # heading | sentence | questions | stard
    negative: str = ""  # a passage that looks relevant and is not (STARD's hard negatives); "" when none


@dataclass(frozen=True)
class PairSet:
    pairs: tuple[Pair, ...]
    sources: tuple[dict, ...] = field(default=())  # what was read: kind, path, sha256, counts

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.pairs:
            out[p.source] = out.get(p.source, 0) + 1
        return out

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for p in self.pairs:
            row = [p.query, p.passage, p.source] + ([p.negative] if p.negative else [])
            digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8"))
        return digest.hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corpus_chunks(paths: Sequence[str | Path], build: BuildConfig = DEFAULT_BUILD) -> tuple[list[Chunk], dict]:
    """The corpus chunked as `qa build` chunks it; and a record of the files read."""
    files, skipped = discover(paths)
    chunks: list[Chunk] = []
    for _, _, doc_chunks in chunk_documents(read_documents(files, skipped), size=build.chunk_size,
                                            overlap=build.chunk_overlap, maximum=build.chunk_max,
                                            statutes=build.statutes):
        chunks.extend(doc_chunks)
    listing = "\n".join(f"{f.name}\t{f.sha256}" for f in sorted(files, key=lambda f: f.name))
    record = {"kind": "corpus", "paths": [str(p) for p in paths], "files": len(files), "chunks": len(chunks),
              "sha256": hashlib.sha256(listing.encode("utf-8")).hexdigest()}
    return chunks, record


def corpus_pairs(chunks: Iterable[Chunk], seed: int) -> list[Pair]:
    rng = random.Random(seed)
    pairs, seen_headings = [], set()
    for chunk in chunks:
        passage = chunk.context
        heading = " / ".join(h for h in (chunk.title, *chunk.heading) if h)
        if heading and heading not in seen_headings and chunk.text.strip():
            seen_headings.add(heading)
            pairs.append(Pair(heading, chunk.text, "heading"))
        head = passage[: len(passage) - len(chunk.text)]  # the title / heading line context puts in front
        # a heading line that opens the text is no sentence of the passage
        spans = [(a, b) for a, b in split_sentences(chunk.text)
                 if MIN_SENTENCE <= b - a <= MAX_SENTENCE and chunk.text[a:b] not in head]
        if len(spans) >= 2:
            a, b = rng.choice(spans)
            rest = (chunk.text[:a] + chunk.text[b:]).strip()
            pairs.append(Pair(chunk.text[a:b], head + rest, "sentence"))
    return pairs


def question_pairs(path: str | Path, chunks: Sequence[Chunk], split: str | None = "tune") -> tuple[list[Pair], dict]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QAError(f"cannot read questions file {path}: {exc}") from exc
    normalised = None
    pairs, rows, left_out = [], 0, 0
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise QAError(f"{path}:{n}: not JSON ({exc})") from exc
        rows += 1
        if split and row.get("split") not in (None, split):
            left_out += 1
            continue
        if "query" in row and "passage" in row:
            pairs.append(Pair(str(row["query"]), str(row["passage"]), "questions"))
            continue
        must = [normalise_for_match(m) for m in row.get("must") or []]
        if not row.get("q") or not must or row.get("kind") == "unanswerable":
            left_out += 1
            continue
        if normalised is None:
            normalised = [normalise_for_match(c.context) for c in chunks]
        hits = [c for c, text in zip(chunks, normalised) if any(m in text for m in must)]
        if not hits:
            left_out += 1
        for chunk in hits[:MAX_PASSAGES_PER_QUESTION]:
            pairs.append(Pair(str(row["q"]), chunk.context, "questions"))
    return pairs, {"kind": "questions", "path": str(path), "sha256": _sha256(path), "rows": rows,
                   "split": split, "left_out": left_out, "pairs": len(pairs)}


NEGATIVE_POOL = 5  # a hard negative is drawn from this many of BM25's best articles that the qrels do not name


def _near_copy(a: str, b: str) -> bool:
    grams_a, grams_b = {a[i:i + 2] for i in range(len(a) - 1)}, {b[i:i + 2] for i in range(len(b) - 1)}
    return bool(grams_a and grams_b) and len(grams_a & grams_b) / len(grams_a | grams_b) >= 0.8


def hard_negatives(queries: Sequence[str], relevant: Sequence[set[str]], docs: dict[str, str],
                   seed: int) -> list[str]:
    """For each query, an article of `docs` that BM25 ranks among the first few and `relevant` does not name."""
    from ..lexical import build_bm25, index_tokens

    ids = list(docs)
    retriever, _ = build_bm25((docs[d] for d in ids), k1=DEFAULT_BUILD.bm25_k1, b=DEFAULT_BUILD.bm25_b)
    rng = random.Random(f"negatives:{seed}")
    out = []
    for query, wanted in zip(queries, relevant):
        scores = retriever.get_scores(index_tokens(query))
        pool = []
        for j in np.argsort(-scores, kind="stable"):
            if len(pool) == NEGATIVE_POOL or scores[j] <= 0:
                break
            if ids[j] not in wanted and not any(_near_copy(docs[ids[j]], docs[w]) for w in wanted if w in docs):
                pool.append(docs[ids[j]])
        out.append(rng.choice(pool) if pool else "")
    return out


def stard_pairs(directory: str | Path, qrels: str = "train", part: str = "tune", negatives: bool = True,
                seed: int = 0) -> tuple[list[Pair], dict]:
    """STARD (BEIR layout): queries.jsonl, corpus.jsonl, qrels/QRELS.tsv; passages as title + newline + text. PART:
    tune (the questions evaluation does not report), held-out or all. NEGATIVES: a BM25-mined hard negative each."""
    directory = Path(directory)
    files = {"queries": directory / "queries.jsonl", "corpus": directory / "corpus.jsonl",
             "qrels": directory / "qrels" / f"{qrels}.tsv"}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise QAError(f"not a STARD directory: missing {', '.join(missing)}")
    wanted: dict[str, list[str]] = {}
    for line in files["qrels"].read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2].strip() not in ("", "0") and in_part(parts[0], part):
            wanted.setdefault(parts[0], []).append(parts[1])
    docs = {}
    with files["corpus"].open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            docs[str(row["_id"])] = f"{row.get('title', '')}\n{row['text']}".strip()
    asked = []
    with files["queries"].open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if any(doc in docs for doc in wanted.get(str(row["_id"]), [])):
                asked.append((row["text"], set(wanted[str(row["_id"])])))
    negative = hard_negatives([q for q, _ in asked], [r for _, r in asked], docs, seed) if negatives else (
        [""] * len(asked))
    pairs = [Pair(q, docs[doc], "stard", neg) for (q, relevant), neg in zip(asked, negative)
             for doc in sorted(relevant) if doc in docs]
    record = {"kind": "stard", "path": str(directory), "qrels": qrels, "part": part, "queries": len(wanted),
              "pairs": len(pairs), "hard_negatives": sum(bool(p.negative) for p in pairs),
              "sha256": {k: _sha256(p) for k, p in files.items()}}
    return pairs, record


def gather(corpus: Sequence[str | Path] = (), questions: str | Path | None = None, split: str | None = "tune",
           stard: str | Path | None = None, seed: int = 0, build: BuildConfig = DEFAULT_BUILD,
           stard_part: str = "tune", negatives: bool = True) -> PairSet:
    pairs: list[Pair] = []
    sources: list[dict] = []
    chunks: list[Chunk] = []
    if corpus:
        chunks, record = corpus_chunks(corpus, build)
        found = corpus_pairs(chunks, seed)
        sources.append({**record, "pairs": len(found)})
        pairs += found
    if questions:
        if not chunks:
            raise QAError("a questions file in the dev-set format needs the corpus its `must` strings come from")
        found, record = question_pairs(questions, chunks, split)
        sources.append(record)
        pairs += found
    if stard:
        found, record = stard_pairs(stard, part=stard_part, negatives=negatives, seed=seed)
        sources.append(record)
        pairs += found
    if not pairs:
        raise QAError("no training pairs: give a corpus, a questions file or STARD")
    return PairSet(tuple(pairs), tuple(sources))


def batches(n_pairs: Sequence[Pair], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """A seeded order cut into batches in which no query and no passage repeats (a repeat would be an in-batch
    negative that is in fact a positive). Pairs with a hard negative are batched apart from pairs without, so every
    batch has the same columns."""
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(n_pairs)))
    rng.shuffle(order)
    out: list[list[int]] = []
    for with_negative in (False, True):
        out += _cut([i for i in order if bool(n_pairs[i].negative) == with_negative], n_pairs, batch_size)
    if any(p.negative for p in n_pairs) and not all(p.negative for p in n_pairs):
        rng.shuffle(out)  # the two kinds interleaved, not one after the other
    return out


def _cut(order: list[int], n_pairs: Sequence[Pair], batch_size: int) -> list[list[int]]:
    out: list[list[int]] = []
    open_: list[tuple[list[int], set[str]]] = []
    for i in order:
        keys = {"q" + n_pairs[i].query, "p" + n_pairs[i].passage}
        if n_pairs[i].negative:
            keys.add("p" + n_pairs[i].negative)
        for batch, seen in open_:
            if len(batch) < batch_size and not keys & seen:
                batch.append(i)
                seen |= keys
                break
        else:
            open_.append(([i], set(keys)))
        if len(open_[0][0]) == batch_size:
            out.append(open_.pop(0)[0])
    out.extend(b for b, _ in open_ if len(b) > 1)
    return out
