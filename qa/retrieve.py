"""Question → ranked hits: BM25 and dense retrieval fused by weighted reciprocal rank, with a relevance gate."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .config import DEFAULT, Config
from .embedding import Embedder, load_embedder
from .errors import ConfigError, EmbedderError, EmptyQuestionError
from .lexical import BM25_DIR, BM25Index, content_words, expand, index_tokens, synonyms, tokenize
from .store import StoredIndex
from .text import strip_control

log = logging.getLogger(__name__)
_GATE_DEPTH = 5  # the gate looks at the sentences of this many top passages (fused and dense)
_SENTENCE_SCAN_MAX = 300_000  # exact scan of all sentence vectors up to here (~384 · 300k MACs, a few ms)
MODES = ("hybrid", "dense", "lexical")


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float  # fused score (mode "hybrid"), cosine ("dense") or BM25 ("lexical"); higher is better
    doc_id: str
    source: str
    title: str
    chunk_id: int
    start: int
    end: int
    text: str
    heading: tuple[str, ...] = ()
    dense_score: float | None = None  # cosine similarity of question and passage
    lexical_score: float = 0.0  # BM25
    coverage: float = 0.0  # idf-weighted share of the question's terms found in the passage

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "doc_id": self.doc_id,
            "source": self.source,
            "title": self.title,
            "chunk_id": self.chunk_id,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "heading": list(self.heading),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "lexical_score": round(self.lexical_score, 6),
            "coverage": round(self.coverage, 4),
        }


@dataclass(frozen=True)
class Query:
    text: str  # what is searched: control characters stripped, truncated
    notice: str | None  # said to the user when the question was changed


@dataclass(frozen=True)
class SearchResult:
    question: str
    mode: str
    hits: tuple[Hit, ...]
    warning: str | None = None
    notice: str | None = None
    found: bool = True
    evidence: "Evidence | None" = None  # what the relevance gate saw

    def to_dict(self) -> dict:
        return {**result_head(self), "hits": [h.to_dict() for h in self.hits]}


def result_head(result) -> dict:
    """What a SearchResult and an Answer share, as JSON: question, mode, warning and notice if any, found."""
    out = {"question": result.question, "mode": result.mode}
    if result.warning:
        out["warning"] = result.warning
    if result.notice:
        out["notice"] = result.notice
    out["found"] = result.found
    return out


def prepare_question(question: str, config: Config = DEFAULT) -> Query:
    if not isinstance(question, str):
        raise EmptyQuestionError("the question must be text")
    cleaned = strip_control(question).strip()
    if not cleaned:
        raise EmptyQuestionError("the question is empty: type a question, e.g. 被强制下款的钱需要还吗？")
    notice = None
    if len(cleaned) > config.max_question_chars:
        cleaned = cleaned[: config.max_question_chars]
        notice = f"问题过长，只使用了前 {config.max_question_chars} 个字。"
    return Query(cleaned, notice)


class Retriever:
    def __init__(self, stored: StoredIndex, config: Config = DEFAULT, embedder: Embedder | None = None) -> None:
        self.stored = stored
        self.config = config
        self.chunks = stored.chunks
        self.bm25 = BM25Index(stored.directory / BM25_DIR, len(stored.chunks))
        self._embedder = embedder
        self._embedder_error: str | None = None
        self._lock = threading.RLock()
        self._faiss = None
        self._vectors = None
        self._background = None
        self._sentences = None  # SentenceVectors, when the index stores them
        self._sentence_chunk = None  # sentence row → the first chunk holding it
        self._sentence_row = None  # sentence key → row, built on first answer
        self._source_of = np.array([c.source.rsplit(":", 1)[0] if ":" in c.source else c.source for c in self.chunks])

    # -- dense side, loaded on first use -------------------------------------------------------------------
    @property
    def has_vectors(self) -> bool:
        return self.stored.embedder_spec is not None

    def embedder(self) -> Embedder | None:
        """The index's embedder, or None (with the reason kept) when it cannot be loaded here."""
        with self._lock:  # the web app asks from several threads; load once
            if self._embedder is None and self._embedder_error is None and self.has_vectors:
                try:
                    self._embedder = load_embedder(self.stored.embedder_spec)
                except EmbedderError as exc:
                    self._embedder_error = str(exc)
                    log.warning("dense retrieval unavailable: %s", exc)
            return self._embedder

    def _dense_ready(self) -> bool:
        if self.embedder() is None:
            return False
        with self._lock:
            if self._faiss is None:
                self._vectors = self.stored.vectors()
                self._background = self.stored.background()
                self._sentences = self.stored.sentence_vectors()
                if self._sentences is not None:
                    sv = self._sentences
                    owner = np.full(len(sv.vectors), -1, dtype=np.int64)
                    chunk_of_entry = np.repeat(np.arange(len(sv.indptr) - 1), np.diff(sv.indptr))
                    owner[sv.rows[::-1]] = chunk_of_entry[::-1]  # first chunk wins
                    self._sentence_chunk = owner
                self._faiss = self.stored.faiss_index()  # set last: it marks the dense side as loaded
        return True

    def embed_question(self, text: str) -> np.ndarray:
        return self.embedder().embed_queries([text])[0]

    # -- search ------------------------------------------------------------------------------------------------
    def search(self, question: str, k: int = 10, mode: str = "hybrid", sources: Sequence[str] | None = None,
               query_vector: np.ndarray | None = None) -> tuple[SearchResult, np.ndarray | None]:
        """Ranked hits, plus the question vector (reused by answer extraction) when dense retrieval ran."""
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if k < 1:
            raise ConfigError("k must be at least 1")
        query = prepare_question(question, self.config)
        warning = None
        if mode != "lexical" and not self._dense_ready():
            reason = self._embedder_error or "this index was built without an embedding model"
            warning = f"{self.config.lexical_only_warning} ({reason})"
            mode = "lexical"
        mask = self._source_mask(sources)
        depth = max(self.config.candidates, k)
        terms = list(dict.fromkeys(tokenize(query.text)))
        lexical = self.bm25.scores(index_tokens(query.text))
        if self.config.synonym_weight:
            lexical = lexical + self.config.synonym_weight * self.bm25.scores(expand(terms))
        if mask is not None:
            lexical = np.where(mask, lexical, 0.0)
        lexical_ranked = _top(lexical, depth, positive_only=True)

        qvec = None
        dense_ranked: list[int] = []
        dense_blend: dict[int, float] = {}
        if mode != "lexical":
            qvec = query_vector if query_vector is not None else self.embed_question(query.text)
            dense_ranked, dense_blend = self._dense_candidates(qvec, depth, mask)

        if mode == "lexical":
            order = lexical_ranked
            fused = {i: float(lexical[i]) for i in order}
        elif mode == "dense":
            order = dense_ranked
            fused = dict(dense_blend)
        else:
            fused = self._fuse(qvec, dense_ranked, dense_blend, lexical, lexical_ranked)
            order = sorted(fused, key=fused.__getitem__, reverse=True)
        order = order[:k]
        dense_scores = self._cosines(qvec, order)
        coverage = self._coverage(terms, order)
        hits = []
        for rank, (i, cos, cov) in enumerate(zip(order, dense_scores, coverage), start=1):
            c = self.chunks[i]
            score = fused[i] if i in fused else float(cos)
            hits.append(Hit(rank, score, c.doc_id, c.source, c.title, c.chunk_id, c.start, c.end, c.text, c.heading,
                            None if cos is None else float(cos), float(lexical[i]), float(cov)))
        evidence = self._evidence(query.text, hits, qvec, dense_ranked, order, mode)
        found = self._relevant(hits, evidence)
        result = SearchResult(query.text, mode, tuple(hits) if found else (), warning, query.notice, found, evidence)
        return result, qvec

    def _source_mask(self, sources: Sequence[str] | None) -> np.ndarray | None:
        if not sources:
            return None
        wanted = set(sources)
        mask = np.array([s in wanted for s in self._source_of])
        return mask

    def _dense_search(self, qvec: np.ndarray, depth: int, mask: np.ndarray | None) -> list[int]:
        from . import ann

        if mask is None:
            _, found = ann.search(self._faiss, qvec, min(depth, self._faiss.ntotal))
            return [int(i) for i in found[0] if i >= 0]
        ids = np.flatnonzero(mask)
        if len(ids) <= ann.EXACT_SUBSET_MAX:
            # a selective filter starves an ANN graph of allowed neighbours; scoring the rows exactly is cheap
            _, found = ann.exact_subset_search(self._vectors, qvec, ids, depth)
            return [int(i) for i in found]
        import faiss

        params = ann.search_parameters(self._faiss, faiss.IDSelectorBatch(ids.astype("int64")))
        _, found = ann.search(self._faiss, qvec, min(depth, self._faiss.ntotal), params)
        return [int(i) for i in found[0] if i >= 0]

    def _dense_candidates(self, qvec: np.ndarray, depth: int, mask: np.ndarray | None) -> tuple[list[int], dict[int, float]]:
        """Dense candidates ranked by the blend of passage cosine and best-sentence cosine.

        One 320-character passage is one vector of a small model: the sentence that answers is averaged away.
        With sentence vectors, passages holding a close sentence join the candidates and rank by
        (1 - w) · passage cosine + w · best sentence cosine (Dense X Retrieval, Chen et al. 2023).
        """
        ranked = self._dense_search(qvec, depth, mask)
        sv = self._sentences
        w = self.config.sentence_weight
        if sv is None or not w:
            return ranked, {i: float(c) for i, c in zip(ranked, self._cosines(qvec, ranked))}
        if len(sv.vectors) <= _SENTENCE_SCAN_MAX:
            sims = np.asarray(sv.vectors) @ qvec
            top = np.argpartition(-sims, min(depth, len(sims) - 1))[:depth] if len(sims) > depth else np.arange(len(sims))
            extra = [int(c) for c in self._sentence_chunk[top] if c >= 0 and (mask is None or mask[c])]
            ranked = list(dict.fromkeys(ranked + extra))
        passage = np.asarray(self._vectors[ranked]) @ qvec if ranked else np.zeros(0)
        best = sv.best_per_chunk(qvec, ranked) if ranked else np.zeros(0)
        blend = np.where(best > -1, (1 - w) * passage + w * best, passage)
        order = np.argsort(-blend, kind="stable")
        return [ranked[j] for j in order], {ranked[j]: float(blend[j]) for j in order}

    def _fuse(self, qvec: np.ndarray, dense: list[int], dense_blend: dict[int, float], lexical: np.ndarray,
              lexical_ranked: list[int]) -> dict[int, float]:
        if self.config.fusion == "rrf":
            return rrf_fuse(dense, lexical_ranked, k=self.config.rrf_k, dense_weight=self.config.dense_weight)
        pool = list(dict.fromkeys(dense + lexical_ranked))
        missing = [i for i in pool if i not in dense_blend]
        if missing:
            dense_blend = {**dense_blend, **self._blend(qvec, missing)}
        cosines = np.array([dense_blend[i] for i in pool]) if pool else np.zeros(0)
        return linear_fuse(pool, cosines, len(dense), lexical, lexical_ranked, dense_weight=self.config.dense_weight)

    def stored_sentence_vector(self, key: str) -> np.ndarray | None:
        """The vector stored at build time for the sentence with this key (sentences.sentence_key), if any."""
        if self._sentences is None:
            return None
        if self._sentence_row is None:
            with self._lock:
                if self._sentence_row is None:
                    self._sentence_row = self._sentences.row_of()
        row = self._sentence_row.get(key)
        return None if row is None else np.asarray(self._sentences.vectors[row])

    def answer_floor(self, qvec: np.ndarray | None) -> float | None:
        """Cosine a sentence must reach to answer without sharing a word: background level plus a margin."""
        if qvec is None or self._background is None or not len(self._background) or self._sentences is None:
            return None
        return float(np.sort(self._background @ qvec)[-3:].mean()) + self.config.answer_min_sentence_margin

    def _blend(self, qvec: np.ndarray, ids: list[int]) -> dict[int, float]:
        passage = np.asarray(self._vectors[ids]) @ qvec
        sv, w = self._sentences, self.config.sentence_weight
        if sv is None or not w:
            return {i: float(c) for i, c in zip(ids, passage)}
        best = sv.best_per_chunk(qvec, ids)
        return {i: float((1 - w) * p + w * b) if b > -1 else float(p) for i, p, b in zip(ids, passage, best)}

    def _cosines(self, qvec: np.ndarray | None, ids: list[int]) -> list[float | None]:
        if qvec is None or self._vectors is None or not ids:
            return [None] * len(ids)
        return [float(x) for x in np.asarray(self._vectors[ids]) @ qvec]

    def _coverage(self, terms: list[str], ids: list[int]) -> list[float]:
        """idf-weighted share of the question's terms that occur (themselves or a synonym) in each passage."""
        if not terms or not ids:
            return [0.0] * len(ids)
        weights = np.array([self.bm25.idf(t) for t in terms])
        present = np.zeros((len(ids), len(terms)), dtype=bool)
        targets = np.array(ids)
        for j, term in enumerate(terms):
            for variant in (term, *synonyms(term)):
                present[:, j] |= self.bm25.contains(variant, targets)
        return list((present @ weights) / weights.sum())

    def _evidence(self, query: str, hits: list[Hit], qvec: np.ndarray | None, dense_ranked: list[int],
                  order: list[int], mode: str) -> "Evidence":
        """What the gate decides on; see Evidence."""
        margin = sentence_margin = None
        if qvec is not None and dense_ranked and self._background is not None and len(self._background):
            background = float(np.sort(self._background @ qvec)[-3:].mean())
            margin = float(np.asarray(self._vectors[dense_ranked[0]]) @ qvec) - background
            if self._sentences is not None:
                top = list(dict.fromkeys(order[:_GATE_DEPTH] + dense_ranked[:_GATE_DEPTH]))
                best = self._sentences.best_per_chunk(qvec, top)
                if (best > -1).any():
                    sentence_margin = float(best.max()) - background
        coverage = max((h.coverage for h in hits), default=0.0)
        return Evidence(mode, self._foreign_share(query), coverage, margin, sentence_margin)

    def _foreign_share(self, query: str) -> float:
        """idf-weighted share of the question's content words that are topic words (nouns) the corpus never uses.

        A question about 股票 or 遗产 asked of a corpus that never says so is about something else, however
        close its other words are. Only nouns count: a colloquial verb or pronoun the corpus lacks (「抱团」 is a
        noun to jieba, 「打通」 is not) does not change the subject. Latin words are left out: an English
        question to a Chinese corpus is normal.
        """
        words = content_words(query)
        if not words:
            return 0.0
        weights = np.array([self.bm25.idf(w) for w, _ in words])
        foreign = np.array([topic and w not in self.bm25.vocab and not any(v in self.bm25.vocab for v in synonyms(w))
                            for w, topic in words])
        return float(weights[foreign].sum() / weights.sum())

    def _relevant(self, hits: list[Hit], evidence: "Evidence") -> bool:
        """Decide 未找到 from the evidence (weights and thresholds in Config, calibrated in docs/EVALUATION.md)."""
        if not hits:
            return False
        c = self.config
        if evidence.mode == "lexical" or evidence.margin is None:
            return evidence.lexical_score(c) >= c.gate_lexical_min_score
        if evidence.sentence_margin is None:  # an index built without sentence vectors: the older rule
            return evidence.coverage >= c.min_lexical_coverage or evidence.margin >= c.min_dense_margin
        return evidence.score(c) >= c.gate_min_score


@dataclass(frozen=True)
class Evidence:
    """Why a question was (not) answered.

    foreign: idf-weighted share of the question's content words that are nouns the corpus never uses;
    coverage: the best passage's idf-weighted share of question terms; margin: best passage cosine minus the mean
    of the top-3 background cosines; sentence_margin: the same for the best sentence of the top passages (None
    without sentence vectors or a model).
    """

    mode: str
    foreign: float
    coverage: float
    margin: float | None
    sentence_margin: float | None

    def score(self, config: Config = DEFAULT) -> float:
        """Dense-mode gate score: the sentence margin, lowered by foreign topic words, raised by term coverage."""
        return ((self.sentence_margin or 0.0) - config.gate_foreign_weight * self.foreign
                + config.gate_coverage_weight * self.coverage)

    def lexical_score(self, config: Config = DEFAULT) -> float:
        """Lexical-mode gate score: term coverage, lowered by foreign topic words."""
        return self.coverage - config.gate_lexical_foreign_weight * self.foreign

    def to_dict(self) -> dict:
        r = lambda x: None if x is None else round(x, 4)  # noqa: E731
        return {"mode": self.mode, "foreign": r(self.foreign), "coverage": r(self.coverage), "margin": r(self.margin),
                "sentence_margin": r(self.sentence_margin)}


def rrf_fuse(dense: Sequence[int], lexical: Sequence[int], *, k: float, dense_weight: float) -> dict[int, float]:
    """Weighted reciprocal-rank fusion: w/(k + dense rank) + (1 - w)/(k + lexical rank), ranks from 1.

    Ranks only, so the two retrievers' score scales never need calibrating; a passage found by one list only
    gets that list's share.
    """
    fused: dict[int, float] = {}
    for weight, ranked in ((dense_weight, dense), (1.0 - dense_weight, lexical)):
        for rank, i in enumerate(ranked, start=1):
            fused[i] = fused.get(i, 0.0) + weight / (k + rank)
    return fused


def linear_fuse(pool: Sequence[int], cosines: np.ndarray, n_dense: int, lexical: np.ndarray,
                lexical_ranked: Sequence[int], *, dense_weight: float) -> dict[int, float]:
    """Convex combination of min-max normalised cosine and BM25 over both candidate lists.

    `pool` is the dense list (its first `n_dense` entries) followed by lexical-only candidates, `cosines` their
    cosines. Each score is scaled by its own retriever's candidate list (top → 1, the list's last → 0).
    """
    if not len(pool):
        return {}
    dense_norm = _minmax(cosines, cosines[:n_dense] if n_dense else cosines)
    if len(lexical_ranked):
        lexical_norm = _minmax(lexical[list(pool)], lexical[list(lexical_ranked)])
    else:
        lexical_norm = np.zeros(len(pool))
    fused = dense_weight * dense_norm + (1.0 - dense_weight) * lexical_norm
    return {int(i): float(f) for i, f in zip(pool, fused)}


def _minmax(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    lo, hi = float(reference.min()), float(reference.max())
    if hi - lo < 1e-9:  # a one-candidate list (or all tied): its best is still the best
        return (values >= lo - 1e-9).astype(np.float64)
    return np.clip((values - lo) / (hi - lo), 0.0, None)


def _top(scores: np.ndarray, depth: int, positive_only: bool = False) -> list[int]:
    if positive_only:
        candidates = np.flatnonzero(scores > 0)
    else:
        candidates = np.arange(len(scores))
    if len(candidates) > depth:
        part = np.argpartition(-scores[candidates], depth - 1)[:depth]
        candidates = candidates[part]
    return [int(i) for i in candidates[np.argsort(-scores[candidates], kind="stable")]]
