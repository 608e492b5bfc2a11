"""Corpus paths → index directory. Unchanged chunks reuse the vectors of the index being replaced."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .chunking import Chunk, chunk_documents
from .config import DEFAULT_BUILD, BuildConfig
from .corpus import Skipped, discover, read_documents
from .embedding import LEXICAL_ONLY, Embedder, load_embedder, normalise_spec
from .errors import CorpusError
from .lexical import background_sentences, build_bm25, tokenizer_recipe
from .store import IndexWriter, chunk_key, now_iso, previous_vectors
from .text import fold_recipe

log = logging.getLogger(__name__)
EMBED_BATCH = 32  # passages per model call: speed only, the vectors are the same


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


def _previous_vectors(target: Path, embedder: Embedder) -> dict[str, np.ndarray]:
    """key → vector from the index about to be replaced, when the same embedder recipe made it."""
    previous = previous_vectors(target)
    if previous is None:
        return {}
    recorded, vectors = previous
    today = embedder.recipe()
    if "query_prompt" not in recorded:  # format 1 recorded only spec and dim, and had today's prompts
        today = {key: today[key] for key in ("spec", "dim")}
    return vectors if recorded == today else {}


def _embed(chunks: Sequence[Chunk], keys: Sequence[str], embedder: Embedder, reusable: dict[str, np.ndarray],
           batch: int, progress: bool) -> tuple[np.ndarray, int]:
    from tqdm import tqdm

    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    todo = []
    for i, key in enumerate(keys):
        old = reusable.get(key)
        if old is not None and old.shape == (embedder.dim,):
            vectors[i] = old
        else:
            todo.append(i)
    with tqdm(total=len(todo), unit="chunk", desc="embedding", disable=not progress or not todo, leave=False) as bar:
        for start in range(0, len(todo), batch):
            ids = todo[start : start + batch]
            vectors[ids] = embedder.embed_passages([chunks[i].context for i in ids])
            bar.update(len(ids))
    return vectors, len(todo)


def build_index(
    paths: Iterable[str | Path],
    index_dir: str | Path,
    *,
    build: BuildConfig = DEFAULT_BUILD,
    progress: bool = False,
    embedder: Embedder | None = None,
) -> BuildReport:
    started = time.perf_counter()
    target = Path(index_dir)
    paths = [Path(p) for p in paths]
    spec = normalise_spec(embedder.spec if embedder else build.model)
    build = replace(build, model=spec)
    files, skipped = discover(paths)
    docs, cleaned_docs, chunks = [], [], []
    for doc, cleaned_text, doc_chunks in chunk_documents(
        read_documents(files, skipped), size=build.chunk_size, overlap=build.chunk_overlap, maximum=build.chunk_max,
        statutes=build.statutes,
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

    writer = IndexWriter(target)
    try:
        embedded = reused = 0
        vector_info = None
        embedder_info = None
        if spec != LEXICAL_ONLY:
            from .ann import build_vector_index

            embedder = embedder or load_embedder(spec)
            vectors, embedded = _embed(chunks, keys, embedder, _previous_vectors(target, embedder), EMBED_BATCH, progress)
            reused = len(chunks) - embedded
            index, vector_info = build_vector_index(vectors, kind=build.ann)
            writer.write_vectors(vectors, index, embedder.embed_passages(background_sentences()))
            embedder_info = embedder.recipe()
        writer.write_bm25(*build_bm25([c.context for c in chunks], k1=build.bm25_k1, b=build.bm25_b))
        writer.write_documents(
            {"doc_id": d.doc_id, "source": d.source, "line": d.line, "title": d.title, "text": t, "url": d.url}
            for d, t in zip(docs, cleaned_docs)
        )
        writer.write_chunks(chunks, keys)
        writer.commit(
            {
                "created": now_iso(),
                "build": build.to_dict(),
                "embedder": embedder_info,
                "vector_index": vector_info,
                "tokenizer": tokenizer_recipe(),
                "text": fold_recipe(),
                "bm25": {"library": "bm25s", "method": "lucene"},
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
