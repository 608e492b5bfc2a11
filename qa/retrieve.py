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
from .lexical import BM25_DIR, BM25Index, expand, index_tokens, synonyms, tokenize
from .store import StoredIndex
from .text import strip_control

log = logging.getLogger(__name__)
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
        if mode != "lexical":
            qvec = query_vector if query_vector is not None else self.embed_question(query.text)
            dense_ranked = self._dense_search(qvec, depth, mask)

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
        dense_scores = self._cosines(qvec, order)
        coverage = self._coverage(terms, order)
        hits = []
        for rank, (i, cos, cov) in enumerate(zip(order, dense_scores, coverage), start=1):
            c = self.chunks[i]
            score = fused[i] if fused else float(cos)
            hits.append(Hit(rank, score, c.doc_id, c.source, c.title, c.chunk_id, c.start, c.end, c.text, c.heading,
                            None if cos is None else float(cos), float(lexical[i]), float(cov)))
        found = self._relevant(hits, self._margin(qvec, dense_ranked))
        result = SearchResult(query.text, mode, tuple(hits) if found else (), warning, query.notice, found)
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

    def _fuse(self, qvec: np.ndarray, dense: list[int], lexical: np.ndarray, lexical_ranked: list[int]) -> dict[int, float]:
        if self.config.fusion == "rrf":
            return rrf_fuse(dense, lexical_ranked, k=self.config.rrf_k, dense_weight=self.config.dense_weight)
        pool = list(dict.fromkeys(dense + lexical_ranked))
        cosines = np.asarray(self._vectors[pool]) @ qvec if pool else np.zeros(0)
        return linear_fuse(pool, cosines, len(dense), lexical, lexical_ranked, dense_weight=self.config.dense_weight)

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

    def _margin(self, qvec: np.ndarray | None, dense_ranked: list[int]) -> float | None:
        """How much closer the best passage is to the question than off-topic background sentences are.

        Raw cosines of e5-like models sit in a narrow band that moves with the question's language and length;
        the margin over a fixed background cancels that shift.
        """
        if qvec is None or not dense_ranked or self._background is None or not len(self._background):
            return None
        best = float(np.asarray(self._vectors[dense_ranked[0]]) @ qvec)
        background = np.sort(self._background @ qvec)[-3:].mean()
        return best - float(background)

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
