"""Question → ranked hits: BM25 and dense candidates fused (min-max-normalised linear fusion by default, weighted
reciprocal rank as the alternative; see QueryConfig.fusion), then a relevance gate decides whether anything is shown."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .config import DEFAULT, MODES, QueryConfig
from .errors import ConfigError, EmptyQuestionError
from .index import Index
from .lexical import expand, index_tokens, synonyms, tokenize
from .text import strip_control

log = logging.getLogger(__name__)


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
    line: int | None = None  # the JSONL line of the document, if it came from one
    page: int | None = None  # the PDF page the passage starts on
    article: str | None = None  # the statute article (第六百七十九条)
    url: str | None = None  # the web page's canonical link

    def to_dict(self) -> dict:
        out = {
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
        for where in ("line", "page", "article", "url"):
            if getattr(self, where) is not None:
                out[where] = getattr(self, where)  # only where known: rows of plain text files keep their shape
        return out


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


def prepare_question(question: str, config: QueryConfig = DEFAULT) -> Query:
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
    """Hybrid search over one `Index` with one `QueryConfig`."""

    def __init__(self, index: Index, config: QueryConfig = DEFAULT) -> None:
        self.index = index
        self.config = config

    def search(self, question: str, k: int = 10, mode: str = "hybrid",
               sources: Sequence[str] | None = None) -> tuple[SearchResult, np.ndarray | None]:
        """Ranked hits, plus the question vector (reused by answer extraction) when dense retrieval ran."""
        return self.search_many([question], k, mode, sources)[0]

    def search_many(self, questions: Sequence[str], k: int = 10, mode: str = "hybrid",
                    sources: Sequence[str] | None = None) -> list[tuple[SearchResult, np.ndarray | None]]:
        """`search` for several questions: their vectors are computed in one batch."""
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if k < 1:
            raise ConfigError("k must be at least 1")
        queries = [prepare_question(q, self.config) for q in questions]
        warning = None
        if mode != "lexical" and (not self.index.has_vectors or self.index.embedder() is None):
            reason = self.index.embedder_error or "this index was built without an embedding model"
            warning = f"{self.config.lexical_only_warning} ({reason})"
            mode = "lexical"
        mask = self.index.rows_of(sources) if sources else None
        depth = max(self.config.candidates, k)
        qvecs = self.index.embed_queries([q.text for q in queries]) if mode != "lexical" else [None] * len(queries)
        dense = self.index.search_vectors(np.stack(qvecs), depth, mask) if mode != "lexical" else [[]] * len(queries)
        return [self._rank(q, k, mode, mask, depth, qvec, ranked, warning)
                for q, qvec, ranked in zip(queries, qvecs, dense)]

    def _rank(self, query: Query, k: int, mode: str, mask: np.ndarray | None, depth: int, qvec: np.ndarray | None,
              dense_ranked: list[int], warning: str | None) -> tuple[SearchResult, np.ndarray | None]:
        terms = list(dict.fromkeys(tokenize(query.text)))
        bm25 = self.index.terms
        lexical = bm25.scores(index_tokens(query.text))
        if self.config.synonym_weight:
            lexical = lexical + self.config.synonym_weight * bm25.scores(expand(terms))
        if mask is not None:
            lexical = np.where(mask, lexical, 0.0)
        lexical_ranked = _top(lexical, depth, positive_only=True)

        if mode == "lexical":
            order = lexical_ranked
            fused = {i: float(lexical[i]) for i in order}
        elif mode == "dense":
            order = dense_ranked
            fused = {}
        else:
            fused = self._fuse(qvec, dense_ranked, lexical, lexical_ranked)
            order = sorted(fused, key=fused.__getitem__, reverse=True)
        order = order[:k]
        dense_scores = self.index.cosines(qvec, order) if qvec is not None else [None] * len(order)
        coverage = self._coverage(terms, order)
        hits = []
        for rank, (i, cos, cov) in enumerate(zip(order, dense_scores, coverage), start=1):
            c = self.index.chunks[i]
            score = fused[i] if fused else float(cos)
            hits.append(Hit(rank, score, c.doc_id, c.source, c.title, c.chunk_id, c.start, c.end, c.text, c.heading,
                            None if cos is None else float(cos), float(lexical[i]), float(cov), c.line))
        found = self._relevant(hits, self._margin(qvec, dense_ranked))
        result = SearchResult(query.text, mode, tuple(hits) if found else (), warning, query.notice, found)
        return result, qvec

    def _fuse(self, qvec: np.ndarray, dense: list[int], lexical: np.ndarray, lexical_ranked: list[int]) -> dict[int, float]:
        if self.config.fusion == "rrf":
            return rrf_fuse(dense, lexical_ranked, k=self.config.rrf_k, dense_weight=self.config.dense_weight)
        pool = list(dict.fromkeys(dense + lexical_ranked))
        cosines = self.index.cosines(qvec, pool)
        return linear_fuse(pool, cosines, len(dense), lexical, lexical_ranked, dense_weight=self.config.dense_weight)

    def _coverage(self, terms: list[str], ids: list[int]) -> list[float]:
        """idf-weighted share of the question's terms that occur (themselves or a synonym) in each passage."""
        if not terms or not ids:
            return [0.0] * len(ids)
        bm25 = self.index.terms
        weights = np.array([bm25.idf(t) for t in terms])
        present = np.zeros((len(ids), len(terms)), dtype=bool)
        targets = np.array(ids)
        for j, term in enumerate(terms):
            for variant in (term, *synonyms(term)):
                present[:, j] |= bm25.contains(variant, targets)
        return list((present @ weights) / weights.sum())

    def _margin(self, qvec: np.ndarray | None, dense_ranked: list[int]) -> float | None:
        """How much closer the best passage is to the question than off-topic background sentences are.

        Raw cosines of e5-like models sit in a narrow band that moves with the question's language and length;
        the margin over a fixed background cancels that shift.
        """
        background = self.index.background_cosines(qvec) if qvec is not None else np.zeros(0)
        if qvec is None or not dense_ranked or not len(background):
            return None
        best = float(self.index.cosines(qvec, dense_ranked[:1])[0])
        return best - float(np.sort(background)[-3:].mean())

    def _relevant(self, hits: list[Hit], margin: float | None) -> bool:
        """Some hit must be closer in meaning than the background, or share most of the question's terms."""
        if not hits:
            return False
        if max(h.coverage for h in hits) >= self.config.min_lexical_coverage:
            return True
        return margin is not None and margin >= self.config.min_dense_margin


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
