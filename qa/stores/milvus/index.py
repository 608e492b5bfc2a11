"""An `Index` whose vectors and BM25 postings live in Milvus; Retriever, QA, CLI and web page use it unchanged.

Held client-side from load: the chunks and documents (every hit, citation and context needs them, and they fix
the snapshot a reader answers from), the term document frequencies (idf, coverage, foreign-topic evidence), each
chunk's sentence keys and the background vectors. Asked of Milvus per question: BM25 scores (the BM25 function
over our tokens), nearest passages and sentences (FLAT, inner product of normalised vectors) and the vectors of
the few passages and sentences a question's scoring needs (cached, bounded).
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Callable, Sequence

import numpy as np

from . import store as ms
from ...config import FORMAT_VERSION
from ...models.embedding import Embedder
from ...errors import ConfigError, IndexCorruptError
from ..index import Index
from ...models.lexical import index_tokens, smoothed_idf
from ..local import StoredDocument, StoredIndex, chunk_of_row
from ..location import rebuild_hint

_CACHE = 50_000  # vectors fetched from Milvus kept per index (~75 MB at 384 dimensions)


class _VectorCache:
    """key → vector, fetched from Milvus in one query for all missing keys, least recently added dropped."""

    def __init__(self, fetch: Callable[[list], dict]) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._vectors: OrderedDict = OrderedDict()

    def get(self, keys: Sequence) -> dict:
        with self._lock:
            found = {k: self._vectors[k] for k in keys if k in self._vectors}
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing:
            fetched = self._fetch(missing)
            found.update(fetched)
            with self._lock:
                self._vectors.update(fetched)
                while len(self._vectors) > _CACHE:
                    self._vectors.popitem(last=False)
        return found


def _in_filter(field: str, values: Sequence) -> str:
    return f"{field} in {json.dumps(list(values), ensure_ascii=False)}"


class MilvusTerms:
    """BM25 scores from Milvus; term statistics (idf, which passages hold a term) as `qa.models.lexical.BM25Index`."""

    def __init__(self, client, collection: str, df: dict[str, int], n_docs: int, scale: float, chunks) -> None:
        self._client, self._collection, self._scale, self._chunks = client, collection, scale, chunks
        self.vocab = df  # term → passages holding it (callers ask only whether a term is known)
        self.n_docs = n_docs
        self._tokens: OrderedDict[int, frozenset[str]] = OrderedDict()
        self._lock = threading.Lock()  # the web page asks from several threads

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """bm25s's lucene scores: Milvus's divided by (k1 + 1). milvus-lite 3 returns them negated, a server
        positive; BM25 is never negative, so the magnitude is the score."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        wanted = [t for t in terms if t in self.vocab]  # repeats kept: Milvus, like BM25Index, weighs a term by them
        if not wanted:
            return out
        found = self._client.search(self._collection, data=[ms.token_text(wanted)], anns_field="sparse",
                                    limit=min(self.n_docs, ms.SEARCH_LIMIT), search_params={"metric_type": "BM25"},
                                    output_fields=["chunk_id"])  # not every field of every hit: 5-10× slower
        for hit in found[0]:
            out[int(hit["chunk_id"])] = abs(float(hit["distance"])) / self._scale
        return out

    def contains(self, term: str, rows: np.ndarray) -> np.ndarray:
        """Which of `rows` hold the term: their tokens, made again from the cached chunks (a few per question)."""
        return np.array([term in self._tokens_of(int(r)) for r in rows], dtype=bool)

    def _tokens_of(self, row: int) -> frozenset[str]:
        with self._lock:
            tokens = self._tokens.get(row)
        if tokens is None:
            tokens = frozenset(index_tokens(self._chunks[row].context))
            with self._lock:
                self._tokens[row] = tokens
                while len(self._tokens) > 4096:
                    self._tokens.popitem(last=False)
        return tokens

    def idf(self, term: str) -> float:
        return smoothed_idf(self.vocab.get(term, 0), self.n_docs)


class MilvusSentences:
    """Sentence vectors in `NAME__vN__s`, found through each chunk's sentence keys."""

    def __init__(self, client, collection: str, chunk_keys: list[list[str]], count: int) -> None:
        self._client, self._collection, self.chunk_keys, self.count = client, collection, chunk_keys, count
        self.cache = _VectorCache(self._fetch)

    def _fetch(self, keys: list[str]) -> dict[str, np.ndarray]:
        rows = self._client.get(self._collection, ids=keys, output_fields=["key", "vector"])
        return {r["key"]: np.asarray(r["vector"], dtype=np.float32) for r in rows}

    def nearest(self, qvec: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """The first chunk of each of the `depth` sentences nearest the question, and its cosine, nearest first."""
        found = self._client.search(self._collection, data=[np.asarray(qvec, dtype=np.float32).tolist()],
                                    anns_field="vector", limit=min(depth, self.count, ms.SEARCH_LIMIT),
                                    output_fields=["owner"], search_params={"metric_type": "IP"})
        return (np.array([int(hit["entity"]["owner"]) for hit in found[0]], dtype=np.int64),
                np.array([float(hit["distance"]) for hit in found[0]], dtype=np.float32))

    def best_per_chunk(self, qvec: np.ndarray, chunk_ids) -> np.ndarray:
        """Each chunk's best sentence cosine to the question (-1 for a chunk without stored sentences)."""
        out = np.full(len(chunk_ids), -1.0, dtype=np.float32)
        vectors = self.cache.get([k for c in chunk_ids for k in self.chunk_keys[int(c)]])
        for j, c in enumerate(chunk_ids):
            keys = [k for k in self.chunk_keys[int(c)] if k in vectors]
            if keys:
                out[j] = float((np.stack([vectors[k] for k in keys]) @ qvec).max())
        return out


class MilvusIndex(Index):
    """One version of a Milvus store, resolved from its alias at load."""

    def __init__(self, target: ms.MilvusTarget, client, collection: str, manifest: dict, stamp: str,
                 embedder: Embedder | None = None, *, query_cache: int = 1024) -> None:
        self._target, self._client, self._collection = target, client, collection
        names = ms.load_version(client, collection)
        documents, df, background = ms.read_meta(client, names[2])
        rows = sorted(ms.scan(client, collection, ["chunk_id", "key", "chunk", "sentences"]),
                      key=lambda r: r["chunk_id"])
        if len(rows) != (manifest.get("counts") or {}).get("chunks") or any(
                r["chunk_id"] != i for i, r in enumerate(rows)):
            raise IndexCorruptError(f"index {target.uri} is damaged ({len(rows)} chunk rows, the manifest says "
                                    f"{(manifest.get('counts') or {}).get('chunks')}); {rebuild_hint(target.uri, manifest)}")
        chunks, keys = zip(*(chunk_of_row({**r["chunk"], "key": r["key"]}) for r in rows)) if rows else ((), ())
        self._dim = (manifest.get("embedder") or {}).get("dim") if manifest.get("vector_index") else None
        sentences = None
        if self._dim and client.has_collection(names[1]):
            count = client.query(names[1], filter="", output_fields=["count(*)"])[0]["count(*)"]
            if count:
                sentences = MilvusSentences(client, names[1], [list(r["sentences"]) for r in rows], count)
        self._passages = _VectorCache(self._fetch_passages)
        terms = MilvusTerms(client, collection, df, len(chunks), ms.bm25_scale(manifest), chunks)
        stored = StoredIndex(
            target.uri, manifest, tuple(chunks), tuple(keys),
            {d["doc_id"]: StoredDocument(d["doc_id"], d["source"], d.get("line"), d["title"], d["text"])
             for d in documents},
            terms, None, background, None, sentences, stamp)
        super().__init__(stored, embedder, query_cache=query_cache)

    @classmethod
    def open(cls, uri: str, *, embedder: Embedder | None = None, query_cache: int = 1024) -> "MilvusIndex":
        target = ms.parse_target(uri)
        client = target.connect()
        collection, manifest, stamp = ms.read_manifest(client, target)
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexCorruptError(f"index {uri} has format version {manifest.get('format_version')}, this qa "
                                    f"reads version {FORMAT_VERSION}; {rebuild_hint(uri, manifest)}")
        return cls(target, client, collection, manifest, stamp, embedder, query_cache=query_cache)

    @property
    def has_vectors(self) -> bool:
        return bool(self._dim)

    def is_current(self) -> bool:
        """False once a rebuild has moved the alias to another version (load it again to see it)."""
        try:
            return ms.read_manifest(self._client, self._target)[2] == self._stored.stamp
        except Exception:  # noqa: BLE001 — a store that cannot say is not current
            return False

    # -- vectors ----------------------------------------------------------------------------------------------
    def _fetch_passages(self, ids: list[int]) -> dict[int, np.ndarray]:
        rows = self._client.get(self._collection, ids=ids, output_fields=["chunk_id", "dense"])
        return {int(r["chunk_id"]): np.asarray(r["dense"], dtype=np.float32) for r in rows}

    def _filter(self, mask: np.ndarray | None) -> str:
        """The Milvus filter for a mask of `rows_of(sources)`; any other mask by its row ids."""
        if mask is None:
            return ""
        sources = sorted(set(self._sources[mask].tolist()))
        if np.array_equal(self.rows_of(sources), mask):
            return _in_filter("source", sources)
        return _in_filter("chunk_id", np.flatnonzero(mask).tolist())

    def search_vectors(self, queries: np.ndarray, depth: int, mask: np.ndarray | None = None) -> list[list[int]]:
        if not self.has_vectors:
            raise ConfigError("this index has no vectors (built with --model none)")
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        limit = min(depth, len(self.chunks))
        if limit > ms.SEARCH_LIMIT:  # fewer candidates than asked would rank differently from the local store
            raise ConfigError(f"Milvus returns at most {ms.SEARCH_LIMIT} passages per search; asked for {depth}")
        found = self._client.search(self._collection, data=queries.tolist(), anns_field="dense",
                                    limit=limit, filter=self._filter(mask),
                                    search_params={"metric_type": "IP"}, output_fields=["chunk_id"])
        return [[int(hit["chunk_id"]) for hit in hits] for hits in found]

    def cosines(self, query: np.ndarray, ids: Sequence[int]) -> np.ndarray:
        if not len(ids):
            return np.zeros(0, dtype=np.float32)
        vectors = self._passages.get([int(i) for i in ids])
        return np.stack([vectors[int(i)] for i in ids]) @ query

    def nearest_sentences(self, qvec: np.ndarray, depth: int, among: Sequence[int] = ()
                          ) -> tuple[np.ndarray, np.ndarray]:
        if self.sentences is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return self.sentences.nearest(qvec, depth)

    def sentence_vector(self, key: str) -> np.ndarray | None:
        if self.sentences is None:
            return None
        return self.sentences.cache.get([key]).get(key)

    def info(self) -> dict:
        return {**super().info(), "store": self.manifest.get("store")}
