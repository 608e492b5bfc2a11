"""The index directory: atomic writes, a self-describing manifest written last, validated loading.

Layout: manifest.json, documents.jsonl (cleaned texts, for surrounding context), chunks.jsonl, vectors.npy +
vectors.faiss (absent for a lexical-only index), bm25/ (bm25s's files plus df.npy).
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
from .errors import REBUILD_HINT, IndexCorruptError, IndexNotFoundError

MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
DOCUMENTS = "documents.jsonl"
VECTORS = "vectors.npy"
FAISS = "vectors.faiss"
BACKGROUND = "background.npy"
# sentence-level vectors (issue 8), additive: an index without them still loads and works
SENTENCE_VECTORS = "sentence_vectors.npy"  # (sentences, dim) float32, one row per distinct sentence text
SENTENCE_KEYS = "sentence_keys.json"  # row → key (sha256 of the sentence text), for reuse on rebuild
CHUNK_SENTENCES = "chunk_sentences.npz"  # CSR: indptr (chunks + 1) and rows: chunk i's sentences
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
class StoredIndex:
    directory: Path
    manifest: dict[str, Any]
    chunks: tuple[Chunk, ...]
    keys: tuple[str, ...]
    documents: dict[str, dict[str, str]]  # doc_id → {"source", "title", "text" (cleaned)}

    @property
    def embedder_spec(self) -> str | None:
        embedder = self.manifest.get("embedder")
        return embedder["spec"] if embedder else None

    def vectors(self) -> np.ndarray | None:
        path = self.directory / VECTORS
        return np.load(path, mmap_mode="r") if path.exists() else None

    def background(self) -> np.ndarray | None:
        path = self.directory / BACKGROUND
        return np.load(path) if path.exists() else None

    def sentence_vectors(self):
        """The per-sentence vectors (memory-mapped) with their keys and chunk → rows map, or None."""
        from .sentences import SentenceVectors

        path = self.directory / SENTENCE_VECTORS
        if not path.exists():
            return None
        try:
            keys = tuple(json.loads((self.directory / SENTENCE_KEYS).read_text(encoding="utf-8")))
            with np.load(self.directory / CHUNK_SENTENCES) as csr:
                indptr, rows = csr["indptr"].astype(np.int64), csr["rows"].astype(np.int64)
            vectors = np.load(path, mmap_mode="r")
        except (OSError, ValueError, KeyError) as exc:
            raise _corrupt(self.directory, f"cannot read the sentence vectors: {exc}") from exc
        if len(keys) != len(vectors) or len(indptr) != len(self.chunks) + 1:
            raise _corrupt(self.directory, "sentence vectors do not agree with their keys or the chunks")
        return SentenceVectors(vectors, keys, indptr, rows)

    def faiss_index(self):
        import faiss

        from .ann import prepare_for_search

        path = self.directory / FAISS
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise _corrupt(self.directory, f"cannot read {FAISS}: {exc}") from exc
        prepare_for_search(index, self.manifest.get("vector_index") or {"kind": "flat"})
        return index


def _corrupt(directory: Path, what: str) -> IndexCorruptError:
    return IndexCorruptError(f"index {directory} is damaged ({what}); {REBUILD_HINT.format(index=directory)}")


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

    def write_vectors(self, vectors: np.ndarray, index, background: np.ndarray) -> None:
        import faiss

        np.save(self.tmp / VECTORS, vectors)
        np.save(self.tmp / BACKGROUND, background)
        faiss.write_index(index, str(self.tmp / FAISS))

    def write_sentence_vectors(self, vectors: np.ndarray, keys: list[str], indptr: np.ndarray, rows: np.ndarray) -> None:
        np.save(self.tmp / SENTENCE_VECTORS, vectors.astype(np.float32))
        (self.tmp / SENTENCE_KEYS).write_text(json.dumps(keys), encoding="utf-8")
        np.savez(self.tmp / CHUNK_SENTENCES, indptr=indptr.astype(np.int64), rows=rows.astype(np.int32))

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


def read_manifest(directory: Path) -> dict[str, Any]:
    directory = Path(directory)
    hint = REBUILD_HINT.format(index=directory)
    if not directory.is_dir():
        raise IndexNotFoundError(f"no index at {directory}; build one with: qa build [PATHS…] -o {directory}")
    path = directory / MANIFEST
    if not path.exists():
        raise _corrupt(directory, f"{MANIFEST} is missing") if any(directory.iterdir()) else IndexNotFoundError(
            f"no index at {directory} (empty directory); {hint}"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(directory, f"{MANIFEST} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise IndexCorruptError(
            f"index {directory} has format version {found}, this qa reads version {FORMAT_VERSION}; {hint}"
        )
    return manifest


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


def load(directory: str | Path) -> StoredIndex:
    directory = Path(directory)
    manifest = read_manifest(directory)
    verify_files(directory, manifest)
    chunks, keys = [], []
    try:
        with (directory / CHUNKS).open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                keys.append(row.pop("key"))
                row["heading"] = tuple(row["heading"])
                chunks.append(Chunk(**row))
        documents = {}
        with (directory / DOCUMENTS).open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                documents[row.pop("doc_id")] = row
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _corrupt(directory, f"cannot read the chunk store: {exc}") from exc
    expected = (manifest.get("counts") or {}).get("chunks")
    if expected != len(chunks):
        raise _corrupt(directory, f"{len(chunks)} chunks stored, the manifest says {expected}")
    return StoredIndex(directory, manifest, tuple(chunks), tuple(keys), documents)


def chunk_row(chunk: Chunk, key: str) -> dict[str, Any]:
    return {**asdict(chunk), "key": key}


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
