"""The one way into a built index: `Index.open(path)` → documents, chunks, sources, term statistics, the
embedder that built it, and vector search. Retrieval, the API, the CLI, the web page and the benchmarks use this
and nothing else; the files behind it belong to `qa.stores.local`, so another storage engine can stand in its place.

Opening an index checks its manifest (the build recipe) against today's code. What would silently change results
(another tokenizer dictionary or stop-word list, another text folding, another model prompt or dimension) is an
`IndexMismatchError` naming the rebuild command; what only moves answers a little (the thesaurus, library
versions) is kept in `Index.warnings`.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..documents.chunk import Chunk
from ..config import BuildConfig
from ..models.embedding import Embedder, load_embedder
from ..errors import ConfigError, EmbedderError, IndexMismatchError
from ..models.lexical import BM25Index, tokenizer_recipe
from .local import StoredDocument, StoredIndex, is_current, load
from .location import rebuild_hint
from ..text import fold_recipe

log = logging.getLogger(__name__)

# recipe entries whose change makes stored tokens or vectors disagree with the question's: (section, key, what)
_MUST_MATCH = (
    ("tokenizer", "name", "the tokenizer"),
    ("tokenizer", "userdict", "the user dictionary (qa/data/userdict.txt)"),
    ("tokenizer", "stopwords", "the stop words (qa/data/stopwords.txt)"),
    ("text", "steps", "the text folding"),
)
_MAY_DIFFER = (
    ("tokenizer", "synonyms", "the thesaurus (qa/data/synonyms.txt); questions are expanded with today's"),
    ("tokenizer", "jieba", "the jieba version"),
    ("text", "opencc", "the OpenCC version"),
)
_EMBEDDER_MUST_MATCH = ("spec", "dim", "query_prompt", "passage_prompt", "normalise", "fold", "model_sha256")
_SENTENCE_SCAN_MAX = 300_000  # exact scan of all sentence vectors up to here (~384 · 300k MACs, a few ms)


@dataclass(frozen=True)
class Recipe:
    """What the manifest says the index was built with."""

    build: BuildConfig
    embedder: Mapping[str, Any] | None
    tokenizer: Mapping[str, Any]
    text: Mapping[str, Any]
    vector_index: Mapping[str, Any] | None


def check_recipe(manifest: Mapping[str, Any], directory: Path) -> tuple[Recipe, tuple[str, ...]]:
    """The index's recipe and warnings; raises IndexMismatchError where today's code would read it wrongly."""
    build, unknown = BuildConfig.from_dict(manifest.get("build") or {})
    today = {"tokenizer": tokenizer_recipe(), "text": fold_recipe()}
    recorded = {"tokenizer": manifest.get("tokenizer") or {}, "text": manifest.get("text") or {}}
    changed = [what for section, key, what in _MUST_MATCH if recorded[section].get(key) != today[section][key]]
    if changed:
        raise IndexMismatchError(
            f"index {directory} was built with another {', '.join(changed)} than this qa uses; "
            f"{rebuild_hint(directory, dict(manifest))}"
        )
    warnings = [f"index {directory}: {what} changed since it was built"
                for section, key, what in _MAY_DIFFER if recorded[section].get(key) != today[section][key]]
    if unknown:
        warnings.append(f"index {directory}: build settings unknown to this qa ignored: {', '.join(unknown)}")
    recipe = Recipe(build, manifest.get("embedder"), recorded["tokenizer"], recorded["text"],
                    manifest.get("vector_index"))
    return recipe, tuple(warnings)


class Index:
    """A loaded index: one consistent snapshot of its files, plus its embedder once a question needs it."""

    def __init__(self, stored: StoredIndex, embedder: Embedder | None = None, *, query_cache: int = 1024) -> None:
        self._stored = stored
        self.recipe, self.warnings = check_recipe(stored.manifest, stored.directory)
        self._embedder = None
        self._embedder_error: str | None = None
        self._lock = threading.RLock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = query_cache
        self._sentence_owner: np.ndarray | None = None
        self._sentence_row: dict[str, int] | None = None
        if embedder is not None:
            self._embedder = self._checked(embedder)
        self._sources = np.array([c.source for c in stored.chunks])
        # statute articles (one 第X条 a chunk) are fused with their own dense share (QueryConfig.dense_shares)
        self.statute_articles = np.array([c.article is not None for c in stored.chunks], dtype=bool)
        self.sources: tuple[str, ...] = tuple(sorted(set(self._sources.tolist())))  # the corpus files, sorted

    @classmethod
    def open(cls, directory: str | Path, *, embedder: Embedder | None = None, query_cache: int = 1024) -> "Index":
        """A local index directory. Any location, a Milvus store too: `qa.stores.factory.open_index` (`QA.load`)."""
        return cls(load(directory), embedder, query_cache=query_cache)

    # -- what it holds ---------------------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        return self._stored.directory

    @property
    def manifest(self) -> Mapping[str, Any]:
        return self._stored.manifest

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        return self._stored.chunks

    @property
    def keys(self) -> tuple[str, ...]:
        """Each chunk's embedding-input key (rebuilds reuse the vectors of unchanged keys)."""
        return self._stored.keys

    @property
    def documents(self) -> Mapping[str, StoredDocument]:
        return self._stored.documents

    @property
    def terms(self) -> BM25Index:
        """BM25 scores and term statistics (idf, which passages hold a term)."""
        return self._stored.bm25

    @property
    def has_vectors(self) -> bool:
        return self._stored.vectors is not None

    @property
    def vectors(self) -> np.ndarray | None:
        """(chunks, dim) passage vectors, memory-mapped; row i is chunk i."""
        return self._stored.vectors

    @property
    def sentences(self):
        """Per-sentence vectors (qa.models.sentences.SentenceVectors, memory-mapped), or None for an index built without."""
        return self._stored.sentences

    def sentence_owner(self) -> np.ndarray:
        """Sentence row → the first chunk holding it (-1 for none); computed once."""
        with self._lock:
            if self._sentence_owner is None:
                sv = self.sentences
                owner = np.full(len(sv.vectors), -1, dtype=np.int64)
                chunk_of_entry = np.repeat(np.arange(len(sv.indptr) - 1), np.diff(sv.indptr))
                owner[sv.rows[::-1]] = chunk_of_entry[::-1]  # first chunk wins
                self._sentence_owner = owner
            return self._sentence_owner

    def nearest_sentences(self, qvec: np.ndarray, depth: int, among: Sequence[int] = ()
                          ) -> tuple[np.ndarray, np.ndarray]:
        """The `depth` sentences nearest the question, nearest first: the first chunk holding each (-1 for none) and
        its cosine. Above _SENTENCE_SCAN_MAX sentences an exact scan would cost more than it brings: then only the
        sentences of the passages `among` are scored, and no owners are given (they are among's already)."""
        sv = self.sentences
        none = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if sv is None:
            return none
        if len(sv.vectors) > _SENTENCE_SCAN_MAX:
            rows = np.array(sv.rows_of(among), dtype=np.int64)
            sims = np.sort(np.asarray(sv.vectors[rows]) @ qvec)[::-1][:depth] if len(rows) else none[1]
            return np.full(len(sims), -1, dtype=np.int64), sims
        sims = np.asarray(sv.vectors) @ qvec
        top = np.argpartition(-sims, depth)[:depth] if len(sims) > depth else np.arange(len(sims))
        top = top[np.argsort(-sims[top], kind="stable")]
        return self.sentence_owner()[top], sims[top]

    def sentence_vector(self, key: str) -> np.ndarray | None:
        """The vector stored at build time for the sentence with this key (qa.models.sentences.sentence_key), if any."""
        if self.sentences is None:
            return None
        with self._lock:
            if self._sentence_row is None:
                self._sentence_row = self.sentences.row_of()
        row = self._sentence_row.get(key)
        return None if row is None else np.asarray(self.sentences.vectors[row])

    def is_current(self) -> bool:
        """False once the directory has been rebuilt since this snapshot was read (load it again to see it)."""
        return is_current(self._stored)

    def rows_of(self, sources: Sequence[str]) -> np.ndarray:
        """Which passages come from `sources` (a boolean mask)."""
        return np.isin(self._sources, list(sources))

    # -- the model ----------------------------------------------------------------------------------------------
    def embedder(self) -> Embedder | None:
        """The index's embedder, or None (with the reason in `embedder_error`) when it cannot be loaded here."""
        with self._lock:  # the web app asks from several threads; load once
            if self._embedder is None and self._embedder_error is None and self.has_vectors:
                try:
                    self._embedder = self._checked(load_embedder(self.recipe.embedder["spec"]))
                except EmbedderError as exc:
                    self._embedder_error = str(exc)
                    log.warning("dense retrieval unavailable: %s", exc)
            return self._embedder

    @property
    def embedder_error(self) -> str | None:
        return self._embedder_error

    def _checked(self, embedder: Embedder) -> Embedder:
        recorded = self.recipe.embedder or {}
        today = embedder.recipe()
        changed = [key for key in _EMBEDDER_MUST_MATCH if recorded.get(key) != today.get(key)]
        if changed:
            raise IndexMismatchError(
                f"index {self.directory} was built with another embedder recipe ({', '.join(changed)}: "
                f"{', '.join(f'{recorded.get(k)!r} → {today.get(k)!r}' for k in changed)}); "
                f"{rebuild_hint(self.directory, dict(self.manifest))}"
            )
        if recorded.get("engine") != today.get("engine"):
            self.warnings = (*self.warnings, f"index {self.directory}: the embedding engine changed since it was "
                             f"built ({recorded.get('engine')} → {today.get('engine')})")
        return embedder

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Question vectors (L2-normalised rows); recent questions come from a cache."""
        embedder = self.embedder()
        if embedder is None:
            raise EmbedderError(self._embedder_error or "this index was built without an embedding model")
        with self._lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
        todo = [t for t in dict.fromkeys(texts) if t not in found]
        if todo:
            found.update(zip(todo, embedder.embed_queries(todo)))
            if self._cache_size:
                with self._lock:
                    for text in todo:
                        self._cache[text] = found[text]
                    while len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)  # least recently added
        if not texts:
            return np.zeros((0, embedder.dim), dtype=np.float32)
        return np.stack([found[t] for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        embedder = self.embedder()
        if embedder is None:
            raise EmbedderError(self._embedder_error or "this index was built without an embedding model")
        return embedder.embed_passages(texts)

    # -- vectors ------------------------------------------------------------------------------------------------
    def search_vectors(self, queries: np.ndarray, depth: int, mask: np.ndarray | None = None) -> list[list[int]]:
        """Nearest passages (row ids, best first) of each query vector, optionally among the rows in `mask`."""
        from ..models import ann

        if not self.has_vectors:
            raise ConfigError("this index has no vectors (built with --model none)")
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        index = self._stored.faiss
        if mask is None:
            _, found = ann.search(index, queries, min(depth, index.ntotal))
            return [[int(i) for i in row if i >= 0] for row in found]
        ids = np.flatnonzero(mask)
        if len(ids) <= ann.EXACT_SUBSET_MAX:
            # a selective filter starves an ANN graph of allowed neighbours; scoring the rows exactly is cheap
            return [[int(i) for i in ann.exact_subset_search(self.vectors, q, ids, depth)[1]] for q in queries]
        import faiss

        params = ann.search_parameters(index, faiss.IDSelectorBatch(ids.astype("int64")))
        _, found = ann.search(index, queries, min(depth, index.ntotal), params)
        return [[int(i) for i in row if i >= 0] for row in found]

    def cosines(self, query: np.ndarray, ids: Sequence[int]) -> np.ndarray:
        """Cosine of one question vector with the passages `ids`."""
        if not len(ids):
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self.vectors[list(ids)]) @ query

    def background_cosines(self, query: np.ndarray) -> np.ndarray:
        """Cosine of the question with the off-topic reference sentences stored at build time."""
        background = self._stored.background
        return background @ query if background is not None and len(background) else np.zeros(0, dtype=np.float32)

    # -- documents ----------------------------------------------------------------------------------------------
    def context(self, chunk_id: int, chars: int = 400) -> str:
        """The passage with up to `chars` characters of its document before and after (cleaned, original script)."""
        n = len(self.chunks)
        if not is_integer(chunk_id) or not 0 <= chunk_id < n:
            raise ConfigError(f"chunk_id must be an integer from 0 to {n - 1}, got {chunk_id!r}")
        if not is_integer(chars) or chars < 0:
            raise ConfigError(f"chars must be a non-negative integer, got {chars!r}")
        chunk = self.chunks[chunk_id]
        text = self.documents[chunk.doc_id].text
        start = max(0, chunk.clean_start - chars)
        end = min(len(text), chunk.clean_end + chars)
        return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")

    def info(self) -> dict:
        manifest = self.manifest
        return {
            "index": str(self.directory),
            "format_version": manifest["format_version"],
            "qa_version": manifest.get("qa_version"),
            "created": manifest.get("created"),
            "documents": manifest["counts"]["documents"],
            "chunks": manifest["counts"]["chunks"],
            "build": self.recipe.build.to_dict(),
            "embedder": manifest.get("embedder"),
            "vector_index": manifest.get("vector_index"),
            "tokenizer": manifest.get("tokenizer"),
            "sources": list(self.sources),
            "skipped": manifest.get("corpus", {}).get("skipped", []),
            "warnings": list(self.warnings),
        }


def is_integer(value) -> bool:
    """An int (numpy's too), not a bool: what passage ids, k and sizes must be."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
