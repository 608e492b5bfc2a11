"""Corpus paths → index directory. Unchanged chunks reuse the vectors of the index being replaced."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .chunking import Chunk, chunk_documents
from .config import DEFAULT, Config
from .corpus import Skipped, discover, read_documents
from .embedding import LEXICAL_ONLY, Embedder, load_embedder, normalise_spec
from .errors import ConfigError, CorpusError, QAError
from .lexical import BM25_DIR, background_sentences, build_bm25, dictionary_hash
from .sentences import MIN_SENTENCE_CHARS, passage_sentences, sentence_key
from .store import CHUNKS, DOCUMENTS, IndexWriter, chunk_key, chunk_row, load, now_iso

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildReport:
    index_dir: str
    documents: int
    chunks: int
    skipped: tuple[str, ...]
    embedded: int
    reused: int
    seconds: float
    vector_index: str

    def summary(self) -> str:
        return (
            f"{self.documents} documents, {self.chunks} chunks ({self.embedded} embedded, {self.reused} reused), "
            f"{len(self.skipped)} skipped, {self.vector_index} vectors, {self.seconds:.1f} s → {self.index_dir}"
        )


def _previous_vectors(target: Path, spec: str) -> dict[str, np.ndarray]:
    """key → vector from the index about to be replaced, when it used the same embedder."""
    if not (target / "manifest.json").exists():
        return {}
    try:
        old = load(target)
    except QAError as exc:
        log.info("not reusing vectors from %s: %s", target, exc)
        return {}
    vectors = old.vectors()
    if old.embedder_spec != spec or vectors is None or len(vectors) != len(old.keys):
        return {}
    return {key: vectors[i] for i, key in enumerate(old.keys)}


def _reuse(keys: Sequence[str], reusable: dict[str, np.ndarray], dim: int) -> tuple[np.ndarray, list[int]]:
    """Vectors filled from `reusable` where a key has one of the right size, and the rows still to embed."""
    vectors = np.zeros((len(keys), dim), dtype=np.float32)
    todo = []
    for i, key in enumerate(keys):
        old = reusable.get(key)
        if old is not None and old.shape == (dim,):
            vectors[i] = old
        else:
            todo.append(i)
    return vectors, todo


def _embed_rows(texts: Sequence[str], todo: list[int], vectors: np.ndarray, embedder: Embedder, batch: int,
                progress: bool, unit: str) -> None:
    from tqdm import tqdm

    desc = "embedding" if unit == "chunk" else "sentences"
    with tqdm(total=len(todo), unit=unit, desc=desc, disable=not progress or not todo, leave=False) as bar:
        for start in range(0, len(todo), batch):
            ids = todo[start : start + batch]
            vectors[ids] = embedder.embed_passages([texts[i] for i in ids])
            bar.update(len(ids))


def _embed(chunks: Sequence[Chunk], keys: Sequence[str], embedder: Embedder, reusable: dict[str, np.ndarray],
           batch: int, progress: bool) -> tuple[np.ndarray, int]:
    vectors, todo = _reuse(keys, reusable, embedder.dim)
    _embed_rows([c.context for c in chunks], todo, vectors, embedder, batch, progress, "chunk")
    return vectors, len(todo)


def _previous_sentence_vectors(target: Path, spec: str) -> dict[str, np.ndarray]:
    """sentence key → vector from the index about to be replaced, when it used the same embedder."""
    if not (target / "manifest.json").exists():
        return {}
    try:
        old = load(target)
        stored = old.sentence_vectors()
    except QAError as exc:
        log.info("not reusing sentence vectors from %s: %s", target, exc)
        return {}
    if stored is None or old.embedder_spec != spec:
        return {}
    return {key: stored.vectors[i] for i, key in enumerate(stored.keys)}


def embed_sentences(chunks: Sequence[Chunk], embedder: Embedder, reusable: dict[str, np.ndarray], batch: int,
                    progress: bool, chunk_vectors: np.ndarray | None = None
                    ) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray, int]:
    """One vector per distinct answer-sized sentence of the chunks (overlaps embedded once), plus the chunk → rows
    CSR map. Sentences are embedded shortest first so that a batch pads little. A chunk that is one sentence
    already has its vector (`chunk_vectors`): that sentence is not embedded again."""

    row_of: dict[str, int] = {}
    texts: list[str] = []
    whole: dict[int, int] = {}  # sentence row → the one-sentence chunk it is
    indptr = [0]
    rows: list[int] = []
    for c, chunk in enumerate(chunks):
        units = [t for t in passage_sentences(chunk.text) if len(t) >= MIN_SENTENCE_CHARS]
        for text in units:
            key = sentence_key(text)
            if key not in row_of:
                row_of[key] = len(texts)
                texts.append(text)
                if len(units) == 1:
                    whole[row_of[key]] = c
            rows.append(row_of[key])
        indptr.append(len(rows))
    keys = list(row_of)
    vectors, todo = _reuse(keys, reusable, embedder.dim)
    if chunk_vectors is not None:
        for i in [i for i in todo if i in whole]:
            vectors[i] = chunk_vectors[whole[i]]
        todo = [i for i in todo if i not in whole]
    todo.sort(key=lambda i: len(texts[i]))
    _embed_rows(texts, todo, vectors, embedder, batch, progress, "sentence")
    return vectors, keys, np.asarray(indptr, dtype=np.int64), np.asarray(rows, dtype=np.int64), len(todo)


def build_index(
    paths: Iterable[str | Path],
    index_dir: str | Path,
    *,
    config: Config = DEFAULT,
    model: str | None = None,
    ann: str | None = None,
    progress: bool = False,
    embedder: Embedder | None = None,
) -> BuildReport:
    started = time.perf_counter()
    target = Path(index_dir)
    paths = [Path(p) for p in paths]
    if config.chunk_overlap >= config.chunk_size or config.chunk_size < 20:
        raise ConfigError("chunk size must be at least 20 and larger than the overlap")
    files, skipped = discover(paths)
    docs, cleaned_docs, chunks = [], [], []
    for doc, cleaned_text, doc_chunks in chunk_documents(
        read_documents(files, skipped), size=config.chunk_size, overlap=config.chunk_overlap, maximum=config.chunk_max
    ):
        if not doc_chunks:
            skipped.append(Skipped(doc.source, "no text left after cleaning"))
            continue
        docs.append(doc)
        cleaned_docs.append(cleaned_text)
        chunks.extend(doc_chunks)
    if not chunks:
        where = ", ".join(str(p) for p in paths)
        raise CorpusError(f"no readable documents in {where} ({len(skipped)} skipped)")
    keys = [chunk_key(c) for c in chunks]

    spec = normalise_spec(embedder.spec if embedder else (model or config.model))
    writer = IndexWriter(target)
    try:
        embedded = reused = 0
        vector_info = None
        embedder_info = None
        if spec != LEXICAL_ONLY:
            from .ann import build_vector_index

            embedder = embedder or load_embedder(spec)
            vectors, embedded = _embed(chunks, keys, embedder, _previous_vectors(target, spec), config.embed_batch, progress)
            reused = len(chunks) - embedded
            index, vector_info = build_vector_index(vectors, kind=ann or config.ann)
            writer.write_vectors(vectors, index, embedder.embed_passages(background_sentences()))
            if config.sentence_vectors:
                s_vectors, s_keys, s_indptr, s_rows, _ = embed_sentences(
                    chunks, embedder, _previous_sentence_vectors(target, spec), config.embed_batch, progress, vectors)
                writer.write_sentence_vectors(s_vectors, s_keys, s_indptr, s_rows)
            embedder_info = {"spec": spec, "dim": int(embedder.dim)}
        build_bm25([c.context for c in chunks], writer.tmp / BM25_DIR, k1=config.bm25_k1, b=config.bm25_b)
        writer.write_jsonl(
            DOCUMENTS,
            ({"doc_id": d.doc_id, "source": d.source, "title": d.title, "text": t} for d, t in zip(docs, cleaned_docs)),
        )
        writer.write_jsonl(CHUNKS, (chunk_row(c, k) for c, k in zip(chunks, keys)))
        import jieba

        writer.commit(
            {
                "created": now_iso(),
                "embedder": embedder_info,
                "vector_index": vector_info,
                "tokenizer": {"name": "jieba-search", "jieba": jieba.__version__, "dictionary_hash": dictionary_hash()},
                "bm25": {"library": "bm25s", "method": "lucene", "k1": config.bm25_k1, "b": config.bm25_b},
                "chunking": {"size": config.chunk_size, "overlap": config.chunk_overlap, "max": config.chunk_max},
                "counts": {"documents": len(docs), "chunks": len(chunks)},
                "corpus": {
                    "roots": [str(p) for p in paths],
                    "files": {f.name: f.sha256 for f in files},
                    "skipped": [str(s) for s in skipped],
                },
            }
        )
    except BaseException:
        writer.abort()
        raise
    return BuildReport(
        index_dir=str(target),
        documents=len(docs),
        chunks=len(chunks),
        skipped=tuple(str(s) for s in skipped),
        embedded=embedded,
        reused=reused,
        seconds=time.perf_counter() - started,
        vector_index=(vector_info or {}).get("kind", "no"),
    )

