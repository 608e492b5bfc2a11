"""The local index directory: the only module that reads or writes index files.

Layout: manifest.json (the build recipe, written last), documents.jsonl (cleaned texts, for surrounding context),
chunks.jsonl, vectors.npy + vectors.faiss + background.npy (absent for a lexical-only index), bm25/ (bm25s's
arrays plus df.npy). Writes go to a temporary sibling directory that `IndexWriter.commit` swaps into place; `load`
reads every file at once (vectors memory-mapped), so a loaded index is one consistent snapshot even when the
directory is rebuilt under it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import __version__
from .chunking import Chunk
from .config import FORMAT_VERSION
from .errors import IndexCorruptError, IndexNotFoundError, rebuild_hint
from .lexical import BM25Index

MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
DOCUMENTS = "documents.jsonl"
VECTORS = "vectors.npy"
FAISS = "vectors.faiss"
BACKGROUND = "background.npy"
BM25_DIR = "bm25"
DF = "df.npy"
_BM25_ARRAYS = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")
_BM25_VOCAB = "vocab.index.json"
_HASH_LIMIT = 64 * 1024 * 1024  # files up to this size are checksummed on every load; larger ones by size


def chunk_key(chunk: Chunk) -> str:
    """Identity of a chunk's embedding input: same key and same embedder → the stored vector is reused."""
    return hashlib.sha256(chunk.context.encode("utf-8")).hexdigest()[:24]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredDocument:
    doc_id: str
    source: str  # the file, relative to the corpus root it was found under
    line: int | None  # the line of a JSONL record, else None
    title: str
    text: str  # cleaned, original script


@dataclass(frozen=True)
class StoredIndex:
    """Everything one index directory holds, read at one moment."""

    directory: Path
    manifest: dict[str, Any]
    chunks: tuple[Chunk, ...]
    keys: tuple[str, ...]
    documents: dict[str, StoredDocument]
    bm25: BM25Index
    vectors: np.ndarray | None  # (chunks, dim) float32, memory-mapped
    background: np.ndarray | None  # off-topic reference sentences' vectors
    faiss: Any  # the FAISS index over `vectors`, or None
    stamp: str  # sha256 of manifest.json as read: tells whether the directory was rebuilt since

    @property
    def embedder_spec(self) -> str | None:
        embedder = self.manifest.get("embedder")
        return embedder["spec"] if embedder else None


def _corrupt(directory: Path, what: str) -> IndexCorruptError:
    return IndexCorruptError(f"index {directory} is damaged ({what}); {rebuild_hint(directory)}")


class IndexWriter:
    """Writes a new index into a temporary sibling directory; `commit()` swaps it into place."""

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.target.parent.glob(f".{self.target.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a build that was killed
        self.tmp = self.target.parent / f".{self.target.name}.tmp-{os.getpid()}"
        self.tmp.mkdir()

    def write_jsonl(self, name: str, rows: Iterator[dict[str, Any]]) -> None:
        with (self.tmp / name).open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def write_documents(self, rows: Iterator[dict[str, Any]]) -> None:
        self.write_jsonl(DOCUMENTS, ({k: v for k, v in row.items() if v is not None} for row in rows))

    def write_chunks(self, chunks: Iterator[Chunk], keys: Iterator[str]) -> None:
        self.write_jsonl(CHUNKS, (_chunk_row(c, k) for c, k in zip(chunks, keys)))

    def write_vectors(self, vectors: np.ndarray, index, background: np.ndarray) -> None:
        import faiss

        np.save(self.tmp / VECTORS, vectors)
        np.save(self.tmp / BACKGROUND, background)
        faiss.write_index(index, str(self.tmp / FAISS))

    def write_bm25(self, retriever, df: np.ndarray) -> None:
        """bm25s's saved arrays (term → passages with precomputed scores) plus document frequencies."""
        out = self.tmp / BM25_DIR
        out.mkdir(parents=True, exist_ok=True)
        retriever.save(str(out), show_progress=False)
        np.save(out / DF, df)

    def commit(self, manifest: dict[str, Any]) -> None:
        files = {}
        for path in sorted(p for p in self.tmp.rglob("*") if p.is_file()):
            files[path.relative_to(self.tmp).as_posix()] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
        manifest = {**manifest, "format_version": FORMAT_VERSION, "qa_version": __version__, "files": files}
        manifest_tmp = self.tmp / (MANIFEST + ".part")
        manifest_tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(manifest_tmp, self.tmp / MANIFEST)  # the manifest is the last file to appear
        old = None
        if self.target.exists():
            old = self.target.parent / f".{self.target.name}.old-{os.getpid()}"
            os.replace(self.target, old)
        os.replace(self.tmp, self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def read_manifest(directory: str | Path) -> dict[str, Any]:
    return _read_manifest(Path(directory))[0]


def _read_manifest(directory: Path) -> tuple[dict[str, Any], str]:
    if not directory.is_dir():
        raise IndexNotFoundError(f"no index at {directory}; build one with: qa build [PATHS…] -o {directory}")
    path = directory / MANIFEST
    if not path.exists():
        raise _corrupt(directory, f"{MANIFEST} is missing") if any(directory.iterdir()) else IndexNotFoundError(
            f"no index at {directory} (empty directory); build one with: qa build [PATHS…] -o {directory}"
        )
    raw = path.read_bytes()
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(directory, f"{MANIFEST} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise IndexCorruptError(
            f"index {directory} has format version {found}, this qa reads version {FORMAT_VERSION}; "
            f"{rebuild_hint(directory, manifest if isinstance(manifest, dict) else None)}"
        )
    return manifest, hashlib.sha256(raw).hexdigest()


def verify_files(directory: Path, manifest: dict[str, Any]) -> None:
    for name, expected in (manifest.get("files") or {}).items():
        path = directory / name
        if not path.exists():
            raise _corrupt(directory, f"{name} is missing")
        size = path.stat().st_size
        if size != expected.get("bytes"):
            raise _corrupt(directory, f"{name} has {size} bytes, the manifest says {expected.get('bytes')}")
        if size <= _HASH_LIMIT and _sha256(path) != expected.get("sha256"):
            raise _corrupt(directory, f"{name} does not match its checksum")


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def _chunk_row(chunk: Chunk, key: str) -> dict[str, Any]:
    row = asdict(chunk)
    for optional in ("line", "page", "article", "url"):
        if row.get(optional) is None:
            row.pop(optional, None)  # text files have none of these: keep their rows as they were
    return {**row, "key": key}


def _read_chunks(directory: Path) -> tuple[list[Chunk], list[str]]:
    chunks, keys = [], []
    for row in _read_jsonl(directory / CHUNKS):
        keys.append(row.pop("key"))
        row["heading"] = tuple(row["heading"])
        chunks.append(Chunk(**row))
    return chunks, keys


def read_bm25(folder: Path, n_docs: int) -> BM25Index:
    """A BM25 folder as saved by `IndexWriter.write_bm25` (or by bm25s, plus df.npy)."""
    data, indices = (np.load(folder / name, mmap_mode="r") for name in _BM25_ARRAYS[:2])
    indptr = np.load(folder / _BM25_ARRAYS[2])
    vocab = json.loads((folder / _BM25_VOCAB).read_text(encoding="utf-8"))
    return BM25Index(data, indices, indptr, vocab, np.load(folder / DF), n_docs)


def _read_faiss(directory: Path, manifest: dict[str, Any]):
    import faiss

    from .ann import prepare_for_search

    try:
        index = faiss.read_index(str(directory / FAISS))
    except RuntimeError as exc:
        raise _corrupt(directory, f"cannot read {FAISS}: {exc}") from exc
    prepare_for_search(index, manifest.get("vector_index") or {"kind": "flat"})
    return index


def _read(directory: Path, manifest: dict[str, Any], stamp: str) -> StoredIndex:
    verify_files(directory, manifest)
    try:
        chunks, keys = _read_chunks(directory)
        documents = {}
        for row in _read_jsonl(directory / DOCUMENTS):
            documents[row["doc_id"]] = StoredDocument(row["doc_id"], row["source"], row.get("line"), row["title"],
                                                      row["text"])
        bm25 = read_bm25(directory / BM25_DIR, len(chunks))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _corrupt(directory, f"cannot read the chunk store: {exc}") from exc
    expected = (manifest.get("counts") or {}).get("chunks")
    if expected != len(chunks):
        raise _corrupt(directory, f"{len(chunks)} chunks stored, the manifest says {expected}")
    vectors = background = index = None
    if manifest.get("embedder"):
        try:
            vectors = np.load(directory / VECTORS, mmap_mode="r")
            background = np.load(directory / BACKGROUND)
        except (OSError, ValueError) as exc:
            raise _corrupt(directory, f"cannot read the vectors: {exc}") from exc
        index = _read_faiss(directory, manifest)
        if len(vectors) != len(chunks) or index.ntotal != len(chunks):
            raise _corrupt(directory, f"{len(vectors)} vectors for {len(chunks)} chunks")
    return StoredIndex(directory, manifest, tuple(chunks), tuple(keys), documents, bm25, vectors, background, index,
                       stamp)


def load(directory: str | Path) -> StoredIndex:
    """Read the whole index. A rebuild that lands while reading is noticed (the manifest changed) and read again."""
    directory = Path(directory)
    for _ in range(3):
        manifest, stamp = _read_manifest(directory)
        stored = _read(directory, manifest, stamp)
        if is_current(stored):
            break
    return stored


def previous_vectors(directory: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """(embedder entry of its manifest, chunk key → vector) of the index at `directory`, for a rebuild to reuse.

    Reads indexes of earlier format versions too, so upgrading qa does not re-embed an unchanged corpus.
    None when there is no intact index with vectors there.
    """
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        if not manifest.get("embedder") or not manifest.get("files"):
            return None
        verify_files(directory, manifest)
        _, keys = _read_chunks(directory)
        vectors = np.load(directory / VECTORS, mmap_mode="r")
    except (OSError, ValueError, KeyError, TypeError, IndexCorruptError):
        return None
    if len(vectors) != len(keys):
        return None
    return manifest["embedder"], {key: vectors[i] for i, key in enumerate(keys)}


def is_current(stored: StoredIndex) -> bool:
    """Whether the directory still holds the index that was loaded (False once it has been rebuilt)."""
    try:
        return hashlib.sha256((stored.directory / MANIFEST).read_bytes()).hexdigest() == stored.stamp
    except OSError:
        return False


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
