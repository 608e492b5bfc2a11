"""Corpus paths → index directory. Unchanged chunks reuse the vectors of the index being replaced."""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .chunking import Chunk, chunk_documents
from .config import DEFAULT_BUILD, BuildConfig
from .corpus import Document, Skipped, SourceFile, discover, read_documents
from .embedding import LEXICAL_ONLY, Embedder, check_spec, load_embedder, normalise_spec
from .errors import CorpusError
from .lexical import background_sentences, build_bm25, tokenizer_recipe
from .sentences import MIN_SENTENCE_CHARS, passage_sentences, sentence_key
from .store import EmbeddingJournal, IndexWriter, check_output, chunk_key, now_iso, previous_vectors, write_failure
from .text import fold_recipe

log = logging.getLogger(__name__)
EMBED_BATCH = 32  # passages per model call: speed only, the vectors are the same
_PROGRESS_BYTES = 5_000_000  # corpora above this show a reading progress bar with an ETA
_PROGRESS_CHUNKS = 5_000  # and above this many chunks, a BM25 indexing bar


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


def _embed_rows(texts: Sequence[str], keys: Sequence[str], todo: list[int], vectors: np.ndarray, embedder: Embedder,
                batch: int, progress: bool, unit: str, journal: EmbeddingJournal) -> None:
    """Embed rows `todo` batch by batch; each batch is committed to the journal before the next, so a build that is
    killed and run again embeds only the rest."""
    from tqdm import tqdm

    desc = "embedding" if unit == "chunk" else "sentences"
    with tqdm(total=len(todo), unit=unit, desc=desc, disable=not progress or not todo, leave=False) as bar:
        for start in range(0, len(todo), batch):
            ids = todo[start : start + batch]
            vectors[ids] = embedder.embed_passages([texts[i] for i in ids])
            journal.add([keys[i] for i in ids], vectors[ids])
            bar.update(len(ids))


def _embed(chunks: Sequence[Chunk], keys: Sequence[str], embedder: Embedder, reusable: dict[str, np.ndarray],
           batch: int, progress: bool, journal: EmbeddingJournal) -> tuple[np.ndarray, int]:
    """Passage vectors: reused where the old index or an interrupted build's journal has them, else embedded."""
    vectors, todo = _reuse(keys, reusable, embedder.dim)
    _embed_rows([c.context for c in chunks], keys, todo, vectors, embedder, batch, progress, "chunk", journal)
    return vectors, len(todo)


_WORD = re.compile(r"[^\W_]")


def has_words(text: str) -> bool:
    """A letter, digit or CJK character: a text of only whitespace and punctuation would index as noise hits."""
    return _WORD.search(text) is not None


def _nothing_readable(paths: Sequence[Path], skipped: list[Skipped]) -> str:
    """The build found nothing: say why, with the reasons for the first files (a single file's reason in full)."""
    where = ", ".join(str(p) for p in paths)
    reasons = "; ".join(str(s) for s in skipped[:3]) + (" …" if len(skipped) > 3 else "")
    return f"no readable documents in {where} ({len(skipped)} skipped{': ' + reasons if reasons else ''})"


def _read_with_progress(files: Sequence[SourceFile], skipped: list[Skipped], progress: bool) -> Iterator[Document]:
    """Documents one file at a time, with a progress bar in bytes (its rate and ETA say how long a big build
    will take) when the corpus is large enough for it to matter."""
    total = sum(f.size for f in files)
    if not progress or total < _PROGRESS_BYTES:
        yield from read_documents(files, skipped)
        return
    from tqdm import tqdm

    log.info("reading %d files, %.1f MB", len(files), total / 1e6)
    with tqdm(total=total, unit="B", unit_scale=True, desc="reading", leave=False) as bar:

        def counted() -> Iterator[SourceFile]:
            for file in files:
                yield file
                bar.update(file.size)  # the file before the next one is done

        yield from read_documents(counted(), skipped)


class _Count:
    """Counts the rows a generator yields as they pass."""

    def __init__(self) -> None:
        self.n = 0

    def count(self, rows: Iterator[dict]) -> Iterator[dict]:
        for row in rows:
            self.n += 1
            yield row


def _read_corpus(files: Sequence[SourceFile], skipped: list[Skipped], build: BuildConfig, progress: bool,
                 chunks: list[Chunk]) -> Iterator[dict]:
    """Document rows for the store, one document at a time; its chunks are appended to `chunks`, numbered 0, 1, 2 … in
    order (a skipped document leaves no gap: chunk_id is a position)."""
    for doc, cleaned_text, doc_chunks in chunk_documents(
        _read_with_progress(files, skipped, progress), size=build.chunk_size, overlap=build.chunk_overlap,
        maximum=build.chunk_max, statutes=build.statutes
    ):
        if not doc_chunks or not has_words(cleaned_text):
            skipped.append(Skipped(doc.source, "no text left after cleaning (only whitespace, punctuation or markup)"))
            continue
        if doc_chunks[0].chunk_id != len(chunks):
            doc_chunks = [replace(c, chunk_id=len(chunks) + i) for i, c in enumerate(doc_chunks)]
        chunks.extend(doc_chunks)
        yield {"doc_id": doc.doc_id, "source": doc.source, "line": doc.line, "title": doc.title, "text": cleaned_text,
               "url": doc.url}


def _contexts(chunks: Sequence[Chunk], progress: bool) -> Iterator[str]:
    """Chunk contexts for BM25, one at a time (never all held at once); segmenting them is most of a big lexical
    build, so a progress bar with its ETA is shown for big corpora."""
    if not progress or len(chunks) < _PROGRESS_CHUNKS:
        yield from (c.context for c in chunks)
        return
    from tqdm import tqdm

    yield from (c.context for c in tqdm(chunks, unit="chunk", desc="BM25 indexing", leave=False))


def embed_sentences(chunks: Sequence[Chunk], embedder: Embedder, reusable: dict[str, np.ndarray], batch: int,
                    progress: bool, journal: EmbeddingJournal, chunk_vectors: np.ndarray | None = None
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
    _embed_rows(texts, keys, todo, vectors, embedder, batch, progress, "sentence", journal)
    return vectors, keys, np.asarray(indptr, dtype=np.int64), np.asarray(rows, dtype=np.int64), len(todo)


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
    out = check_output(target, paths)  # before reading anything: never replace what qa did not create
    if embedder is None:
        check_spec(build.model)  # a bad hash:N or an unreachable hub model fails now, not after reading
    missing = [p for p in paths if not p.exists()]
    if missing:  # before the output's directories are made
        raise CorpusError(f"no such file or directory: {missing[0]}")
    spec = normalise_spec(embedder.spec if embedder else build.model)
    build = replace(build, model=spec)
    writer = IndexWriter(target)  # takes the output's lock before the corpus is read: a second build fails at once
    try:
        files, skipped = discover(paths, exclude=out)  # an index inside a corpus folder is not read as documents
        chunks: list[Chunk] = []
        documents = _Count()
        # documents are written while the corpus is read: no cleaned text is held after its chunks are made
        writer.write_documents(documents.count(_read_corpus(files, skipped, build, progress, chunks)))
        if not chunks:
            raise CorpusError(_nothing_readable(paths, skipped))
        keys = [chunk_key(c) for c in chunks]
        embedded = reused = 0
        journal = None
        vector_info = None
        embedder_info = None
        if spec != LEXICAL_ONLY:
            from .ann import build_vector_index

            embedder = embedder or load_embedder(spec)
            journal = EmbeddingJournal(writer.target, embedder.recipe())
            reusable = {**_previous_vectors(target, embedder), **journal.vectors()}
            vectors, embedded = _embed(chunks, keys, embedder, reusable, EMBED_BATCH, progress, journal)
            reused = len(chunks) - embedded
            index, vector_info = build_vector_index(vectors, kind=build.ann)
            writer.write_vectors(vectors, index, embedder.embed_passages(background_sentences()))
            embedder_info = embedder.recipe()
            if build.sentence_vectors:
                s_vectors, s_keys, s_indptr, s_rows, _ = embed_sentences(
                    chunks, embedder, reusable, EMBED_BATCH, progress, journal, vectors)
                writer.write_sentence_vectors(s_vectors, s_keys, s_indptr, s_rows)
        writer.write_bm25(*build_bm25(_contexts(chunks, progress), k1=build.bm25_k1, b=build.bm25_b))
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
                "counts": {"documents": documents.n, "chunks": len(chunks)},
                "corpus": {
                    "roots": [str(p) for p in paths],
                    "files": {f.name: f.sha256 for f in files},
                    "skipped": [str(s) for s in skipped],
                },
            }
        )
        if journal is not None:
            journal.discard()  # the index holds every vector now
    except BaseException as exc:
        writer.abort()
        failure = write_failure(exc, target)  # disk full: one line, the old index untouched
        if failure is not None:
            raise failure from exc
        raise
    return BuildReport(
        index_dir=str(target),
        documents=documents.n,
        chunks=len(chunks),
        skipped=tuple(str(s) for s in skipped),
        embedded=embedded,
        reused=reused,
        seconds=time.perf_counter() - started,
        vector_index=(vector_info or {}).get("kind", "no"),
    )

