"""Corpus paths → index directory. Unchanged chunks reuse the vectors of the index being replaced."""
from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, Union

import numpy as np

from ..documents.chunk import Chunk
from ..documents.chunking import chunk_documents
from ..config import DEFAULT_BUILD, BuildConfig
from ..documents.corpus import Document, Skipped, SourceFile, discover, read_documents
from ..models.embedding import LEXICAL_ONLY, Embedder, check_spec, load_embedder, normalise_spec
from ..errors import CorpusError
from ..models.lexical import BM25Builder, background_sentences, tokenizer_recipe
from ..models.sentences import MIN_SENTENCE_CHARS, passage_sentences, sentence_key
from .local import EmbeddingJournal, IndexWriter, check_output, chunk_key, now_iso, previous_vectors, write_failure
from ..text import empty_reason, fold_recipe, has_words, one_line_name

log = logging.getLogger(__name__)
EMBED_BATCH = 32  # passages per model call: speed only, the vectors are the same
_PROGRESS_BYTES = 5_000_000  # corpora above this show a progress bar with an ETA for reading and BM25 indexing

# A build's progress for a caller's own display (the web page's status line): (stage, done, total) with stage one
# of "reading" (files), "indexing" (BM25), "embedding" (passages), "sentences", "writing"; total 0 when unknown.
# `progress=True` shows tqdm bars instead; a callable gets these calls and no bars are drawn.
ProgressFn = Callable[[str, int, int], None]
Progress = Union[bool, ProgressFn]


def _report(progress: Progress, stage: str, done: int = 0, total: int = 0) -> None:
    if callable(progress):
        progress(stage, done, total)


def _bars(progress: Progress) -> bool:
    """tqdm bars only when asked with True: a caller that passed a callable draws its own."""
    return bool(progress) and not callable(progress)


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
            f"{len(self.skipped)} skipped, {self.vector_index} vectors, {self.seconds:.1f} s → "
            f"{one_line_name(str(self.index_dir))}"
        )


def previous_vectors_for(target: Path, embedder: Embedder) -> dict[str, np.ndarray]:
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


def _embed_rows(rows: Iterable[tuple[int, str]], total: int, keys: Sequence[str], vectors: np.ndarray,
                embedder: Embedder, batch: int, progress: Progress, unit: str, journal: EmbeddingJournal) -> None:
    """Embed (row, text) pairs batch by batch into `vectors`; each batch is committed to the journal before the
    next, so a build that is killed and run again embeds only the rest."""
    from tqdm import tqdm

    stage = "embedding" if unit == "chunk" else "sentences"  # the bar's label and the reported stage
    done = 0
    with tqdm(total=total, unit=unit, desc=stage, disable=not _bars(progress) or not total, leave=False) as bar:
        ids: list[int] = []
        texts: list[str] = []

        def flush() -> None:
            nonlocal done
            vectors[ids] = embedder.embed_passages(texts)
            journal.add([keys[i] for i in ids], vectors[ids])
            bar.update(len(ids))
            done += len(ids)
            _report(progress, stage, done, total)

        _report(progress, stage, 0, total)
        for row, text in rows:
            ids.append(row)
            texts.append(text)
            if len(ids) == batch:
                flush()
                ids, texts = [], []
        if ids:
            flush()


def _embed(written: Iterator[tuple[Chunk, str]], keys: Sequence[str], embedder: Embedder,
           reusable: dict[str, np.ndarray], batch: int, progress: Progress,
           journal: EmbeddingJournal) -> tuple[np.ndarray, int]:
    """Passage vectors: reused where the old index or an interrupted build's journal has them, else embedded. The
    chunks are streamed back from the chunk store already written (`written`), never held all at once."""
    vectors, todo = _reuse(keys, reusable, embedder.dim)
    wanted = set(todo)
    rows = ((i, chunk.context) for i, (chunk, _) in enumerate(written if todo else ()) if i in wanted)
    _embed_rows(rows, len(todo), keys, vectors, embedder, batch, progress, "chunk", journal)
    return vectors, len(todo)


def _nothing_readable(paths: Sequence[Path], skipped: list[Skipped]) -> str:
    """The build found nothing: say why, with the reasons for the first files (a single file's reason in full)."""
    where = ", ".join(str(p) for p in paths)
    reasons = "; ".join(str(s) for s in skipped[:3]) + (" …" if len(skipped) > 3 else "")
    return f"no readable documents in {where} ({len(skipped)} skipped{': ' + reasons if reasons else ''})"


def _read_with_progress(files: Sequence[SourceFile], skipped: list[Skipped], progress: Progress) -> Iterator[Document]:
    """Documents one file at a time, with a progress bar in bytes (its rate and ETA say how long a big build
    will take: chunks are segmented for BM25 as they are read) when the corpus is large enough for it to matter."""
    total = sum(f.size for f in files)
    if callable(progress):

        def reported() -> Iterator[SourceFile]:
            for n, file in enumerate(files):
                _report(progress, "reading", n, len(files))
                yield file

        yield from read_documents(reported(), skipped)
        return
    if not progress or total < _PROGRESS_BYTES:
        yield from read_documents(files, skipped)
        return
    from tqdm import tqdm

    log.info("reading %d files, %.1f MB", len(files), total / 1e6)
    with tqdm(total=total, unit="B", unit_scale=True, desc="reading, BM25 indexing", leave=False) as bar:

        def counted() -> Iterator[SourceFile]:
            for file in files:
                yield file
                bar.update(file.size)  # the file before the next one is done

        yield from read_documents(counted(), skipped)


def _release_free_memory() -> None:
    """Collect cycles and hand freed heap back to the system between build stages: the next stage's big numpy
    arrays are mapped anew and cannot reuse it, so without this the peak is the sum of the stages (glibc only)."""
    import ctypes

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _Count:
    """Counts the rows a generator yields as they pass."""

    def __init__(self) -> None:
        self.n = 0

    def count(self, rows: Iterator[dict]) -> Iterator[dict]:
        for row in rows:
            self.n += 1
            yield row


def _read_corpus(files: Sequence[SourceFile], skipped: list[Skipped], build: BuildConfig, progress: Progress,
                 take: Callable[[Chunk], None]) -> Iterator[dict]:
    """Document rows for the store, one document at a time; its chunks are handed to `take` as they are made,
    numbered 0, 1, 2 … in order (a skipped document leaves no gap: chunk_id is a position)."""
    taken = 0
    for doc, cleaned_text, doc_chunks in chunk_documents(
        _read_with_progress(files, skipped, progress), size=build.chunk_size, overlap=build.chunk_overlap,
        maximum=build.chunk_max, statutes=build.statutes
    ):
        if not has_words(cleaned_text):
            skipped.append(Skipped(doc.source, empty_reason(doc.text), "empty"))
            continue
        if not doc_chunks:
            skipped.append(Skipped(doc.source, "no passage could be made from its text", "empty"))
            continue
        if doc_chunks[0].chunk_id != taken:
            doc_chunks = [replace(c, chunk_id=taken + i) for i, c in enumerate(doc_chunks)]
        for chunk in doc_chunks:
            take(chunk)
        taken += len(doc_chunks)
        yield {"doc_id": doc.doc_id, "source": doc.source, "line": doc.line, "title": doc.title, "text": cleaned_text,
               "url": doc.url}


def embed_sentences(chunks: Iterable[Chunk], embedder: Embedder, reusable: dict[str, np.ndarray], batch: int,
                    progress: Progress, journal: EmbeddingJournal, chunk_vectors: np.ndarray | None = None
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
    _embed_rows(((i, texts[i]) for i in todo), len(todo), keys, vectors, embedder, batch, progress, "sentence",
                journal)
    return vectors, keys, np.asarray(indptr, dtype=np.int64), np.asarray(rows, dtype=np.int64), len(todo)


def build_index(
    paths: Iterable[str | Path],
    index_dir: str | Path,
    *,
    build: BuildConfig = DEFAULT_BUILD,
    progress: Progress = False,
    embedder: Embedder | None = None,
    previous: Callable[[Embedder], dict[str, np.ndarray]] | None = None,
) -> BuildReport:
    """Build into a local index directory (any location, a Milvus store too: `qa.stores.factory.build_into`).
    `progress`: True for tqdm bars, or a `ProgressFn` called with each stage's progress; `previous(embedder)`
    gives vectors to reuse by key (default: those of the index at `index_dir`)."""
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
        documents = _Count()
        keys: list[str] = []
        lexical = BM25Builder(k1=build.bm25_k1, b=build.bm25_b, spill_dir=writer.tmp)
        # One pass, nothing held whole (issue 9): documents and chunks are written to the store while the corpus is
        # read, and each chunk is segmented for BM25 as it is made; only its key and its distinct term ids and
        # counts are kept.
        with writer.chunk_rows() as write_chunk:

            def take(chunk: Chunk) -> None:
                key = chunk_key(chunk)
                write_chunk(chunk, key)
                keys.append(key)
                lexical.add(chunk.context)

            writer.write_documents(documents.count(_read_corpus(files, skipped, build, progress, take)))
        if not keys:
            raise CorpusError(_nothing_readable(paths, skipped))
        _release_free_memory()  # what reading and chunking freed goes back before BM25's arrays are allocated
        _report(progress, "indexing")
        writer.write_bm25(*lexical.finish())
        lexical = None  # its arrays freed before the vectors are built
        _release_free_memory()
        embedded = reused = 0
        journal = None
        vector_info = None
        embedder_info = None
        if spec != LEXICAL_ONLY:
            from ..models.ann import build_vector_index

            embedder = embedder or load_embedder(spec)
            journal = EmbeddingJournal(writer.target, embedder.recipe())
            reusable = {**(previous(embedder) if previous else previous_vectors_for(target, embedder)),
                        **journal.vectors()}
            vectors, embedded = _embed(writer.written_chunks(), keys, embedder, reusable, EMBED_BATCH, progress,
                                       journal)
            reused = len(keys) - embedded
            index, vector_info = build_vector_index(vectors, kind=build.ann)
            writer.write_vectors(vectors, index, embedder.embed_passages(background_sentences()))
            embedder_info = embedder.recipe()
            if build.sentence_vectors:
                s_vectors, s_keys, s_indptr, s_rows, _ = embed_sentences(
                    (c for c, _ in writer.written_chunks()), embedder, reusable, EMBED_BATCH, progress, journal,
                    vectors)
                writer.write_sentence_vectors(s_vectors, s_keys, s_indptr, s_rows)
            del reusable
        _report(progress, "writing")
        writer.commit(
            {
                "created": now_iso(),
                "build": build.to_dict(),
                "embedder": embedder_info,
                "vector_index": vector_info,
                "tokenizer": tokenizer_recipe(),
                "text": fold_recipe(),
                "bm25": {"library": "bm25s", "method": "lucene"},
                "counts": {"documents": documents.n, "chunks": len(keys)},
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
        chunks=len(keys),
        skipped=tuple(str(s) for s in skipped),
        embedded=embedded,
        reused=reused,
        seconds=time.perf_counter() - started,
        vector_index=(vector_info or {}).get("kind", "no"),
    )

