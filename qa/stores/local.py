"""The local index directory: the only module that reads or writes index files.

Layout: manifest.json (the build recipe, written last), documents.jsonl (cleaned texts, for surrounding context),
chunks.jsonl, vectors.npy + vectors.faiss + background.npy (absent for a lexical-only index), bm25/ (bm25s's
arrays plus df.npy). Writes go to a temporary sibling directory that `IndexWriter.commit` swaps into place; `load`
reads every file at once (vectors memory-mapped), so a loaded index is one consistent snapshot even when the
directory is rebuilt under it.
"""
from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .. import __version__
from ..documents.chunk import Chunk
from ..config import FORMAT_VERSION
from ..errors import IndexCorruptError, IndexNotFoundError, OutputError
from ..models.lexical import BM25Index
from .location import rebuild_hint

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
_HASH_LIMIT = 64 * 1024 * 1024  # files up to this size are checksummed on every load; larger ones by sampled blocks
_BLOCK = 4 * 1024 * 1024  # block size of the per-block checksums recorded for large files
_SAMPLED_BLOCKS = 8  # blocks of a large file checked on load (first, last, the rest at random); all with --verify
# sentence vectors: one row per distinct sentence text, and each chunk's rows (CSR); absent when built without them
SENTENCE_VECTORS = "sentence_vectors.npy"
SENTENCE_KEYS = "sentence_keys.json"  # row → key (sha256 of the sentence text), for reuse on rebuild
CHUNK_SENTENCES = "chunk_sentences.npz"  # indptr (chunks + 1) and rows: chunk i's sentence rows


def chunk_key(chunk: Chunk) -> str:
    """Identity of a chunk's embedding input: same key and same embedder → the stored vector is reused."""
    return hashlib.sha256(chunk.context.encode("utf-8")).hexdigest()[:24]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_record(path: Path) -> dict[str, Any]:
    """bytes + sha256, in one streamed pass; a large file also gets per-block checksums for sampled checks on load."""
    size = path.stat().st_size
    if size <= _HASH_LIMIT:
        return {"bytes": size, "sha256": _sha256(path)}
    digest, blocks = hashlib.sha256(), []
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
            blocks.append(hashlib.sha256(block).hexdigest()[:16])
    return {"bytes": size, "sha256": digest.hexdigest(), "block_bytes": _BLOCK, "blocks": blocks}


def _check_sampled_blocks(path: Path, expected: dict[str, Any]) -> bool:
    """A large file's first, last and some random blocks against their recorded checksums (a few MB read, not GBs)."""
    import random

    blocks, size = expected.get("blocks"), expected.get("block_bytes")
    if not isinstance(blocks, list) or not isinstance(size, int) or size <= 0 or not blocks:
        return _sha256(path) == expected.get("sha256")  # no block checksums: a full check, never none
    picks = {0, len(blocks) - 1} | set(random.sample(range(len(blocks)), min(_SAMPLED_BLOCKS - 2, len(blocks))))
    with path.open("rb") as handle:
        for i in sorted(picks):
            handle.seek(i * size)
            if hashlib.sha256(handle.read(size)).hexdigest()[:16] != blocks[i]:
                return False
    return True


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
    sentences: Any  # qa.models.sentences.SentenceVectors (memory-mapped), or None for an index built without them
    stamp: str  # sha256 of manifest.json as read: tells whether the directory was rebuilt since


def _corrupt(directory: Path, what: str, manifest: dict[str, Any] | None = None) -> IndexCorruptError:
    """A damaged index, with the command that rebuilds it (its own corpus and model when the manifest is readable)."""
    return IndexCorruptError(f"index {directory} is damaged ({what}); {_rebuild_hint(directory, manifest)}")


def _rebuild_hint(directory: Path, manifest: dict[str, Any] | None = None) -> str:
    """Suggest `qa build -o DIR` only where a build may replace DIR: never for the user's own files."""
    reason = replaceable(directory)
    if reason is None:
        return rebuild_hint(directory, manifest)
    return f"qa build will not replace it ({reason}); build into a new directory with: qa build [PATHS…] -o NEW_DIR"


# -- where an index may be written: never over anything qa did not create ------------------------------------
_LAYOUT = {MANIFEST, CHUNKS, DOCUMENTS, VECTORS, FAISS, BACKGROUND, BM25_DIR, SENTENCE_VECTORS, SENTENCE_KEYS,
           CHUNK_SENTENCES}  # every name qa writes into an index
_PARTIAL = ".qa-partial"  # marker inside a build's temp directory: qa made it, so qa may delete it


def _manifest_names(directory: Path) -> set[str] | None:
    """Top-level names a parseable qa manifest lists, or None when it cannot be read as one."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(manifest, dict) or "format_version" not in manifest or not isinstance(manifest.get("files"), dict):
        return None
    return {str(name).split("/", 1)[0] for name in manifest["files"]}


def replaceable(directory: Path) -> str | None:
    """None when `qa build -o DIRECTORY` may write there, else why not.

    Allowed: a path that does not exist, an empty directory, or a qa index — a directory holding manifest.json and
    nothing but the names qa writes (those its manifest lists, or the standard layout when the manifest is damaged).
    Refused: a symbolic link, a file or device, any directory holding something else.
    """
    directory = Path(directory)
    if os.path.islink(directory):
        return "it is a symbolic link; give the real directory"
    if not os.path.lexists(directory):
        return None
    if not directory.is_dir():
        return "it is not a directory"
    try:
        entries = os.listdir(directory)
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    if not entries:
        return None
    if MANIFEST not in entries:
        return f"it is not a qa index (a non-empty directory without {MANIFEST})"
    known = _LAYOUT | {_PARTIAL} | (_manifest_names(directory) or set())
    foreign = sorted(e for e in entries if e not in known)
    if foreign:
        shown = ", ".join(foreign[:3]) + (" …" if len(foreign) > 3 else "")
        return f"it holds files qa did not write ({shown})"
    return None


def output_path(target: str | Path) -> Path:
    """The absolute output path, parent symlinks resolved, the last component kept as given (a link is refused)."""
    target = Path(os.path.abspath(target))
    return target.parent.resolve() / target.name if target.name else target


def check_output(target: str | Path, corpus: list[Path]) -> Path:
    """Refuse an output that would replace anything but a qa index: the corpus, a folder holding it, the current
    directory, a file, a link. Returns the output path; an output inside a corpus directory is excluded from reading
    by the caller."""
    out = output_path(target)
    cwd = Path.cwd().resolve()
    if out == cwd or out in cwd.parents or not out.name:
        raise OutputError(f"refusing to write the index over {out}: it is (or contains) the current directory")
    for path in corpus:
        real = Path(path).resolve()
        if real == out or out in real.parents:
            raise OutputError(f"refusing to write the index over {out}: it is (or contains) the corpus path {path}")
    reason = replaceable(out)
    if reason is not None:
        raise OutputError(f"refusing to replace {out}: {reason}; choose a new or empty directory, or a qa index")
    return out


def try_lock_file(path: Path) -> tuple[int | None, str | None]:
    """One try at an exclusive flock on `path`: `(fd, None)` when taken (this process's line written into it), else
    `(None, holder)` with the holder's line ("pid 1234 on host"), or `(None, None)` when the file was swapped under
    us (its holder released it between our open and flock): try again. The kernel drops a flock when its holder
    dies, so a killed process never leaves a lock behind."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        return None, holder
    try:
        same = os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return None, None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
    return fd, None


def unlock_file(path: Path, fd: int) -> None:
    """Release a lock taken by `try_lock_file`: the file goes first, so no one waits on a stale one."""
    try:
        os.unlink(path)
    except OSError:
        pass
    os.close(fd)


class OutputLock:
    """An exclusive lock on one output (`.NAME.lock` beside it): a second build into it fails with who holds it."""

    def __init__(self, target: Path) -> None:
        self.path = target.parent / f".{target.name}.lock"
        while True:
            fd, holder = try_lock_file(self.path)
            if fd is not None:
                break
            if holder is not None:
                raise OutputError(
                    f"another qa build is writing {target} ({holder}); wait for it to finish or choose another -o"
                )
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            unlock_file(self.path, self.fd)
            self.fd = None


def output_lock_holder(target: str | Path) -> str | None:
    """Who holds the build lock of this output ("pid 1234 on host"), or None when no build is writing it. Probes
    without creating the lock file and without taking the lock for longer than the probe."""
    import fcntl

    target = output_path(target)
    try:
        fd = os.open(target.parent / f".{target.name}.lock", os.O_RDWR)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
    finally:
        os.close(fd)  # closing releases a lock the probe took
    return None


class EmbeddingJournal:
    """Vectors committed batch by batch beside the output (`.NAME.embeddings/`) while a build embeds, so a build
    that is killed (or fails) and run again embeds only what was not yet done. Removed once the index is committed;
    one written by another embedder recipe is discarded. Only the build holding the output's lock touches it."""

    _MARK = ".qa-journal"

    def __init__(self, target: Path, recipe: dict[str, Any]) -> None:
        self.path = target.parent / f".{target.name}.embeddings"
        recipe_text = json.dumps(recipe, sort_keys=True, ensure_ascii=False)
        if self.path.is_dir() and not self.path.is_symlink() and (self.path / self._MARK).is_file():
            if (self.path / "recipe.json").read_text(encoding="utf-8") != recipe_text:
                shutil.rmtree(self.path)  # another embedder's vectors: of no use
        elif os.path.lexists(self.path):
            raise OutputError(f"{self.path} is in the way of the build's embedding journal and was not made by qa")
        if not self.path.is_dir():
            self.path.mkdir()
            (self.path / self._MARK).write_text("qa build: embedded vectors, reused when a build is run again\n",
                                                encoding="utf-8")
            (self.path / "recipe.json").write_text(recipe_text, encoding="utf-8")
        self._parts = len(list(self.path.glob("part-*.npz")))

    def vectors(self) -> dict[str, np.ndarray]:
        """key → vector of every batch committed so far (a part cut short by a kill is never renamed into place)."""
        found: dict[str, np.ndarray] = {}
        for part in sorted(self.path.glob("part-*.npz")):
            try:
                with np.load(part) as data:
                    found.update(zip(data["keys"].tolist(), data["vectors"]))
            except (OSError, ValueError, KeyError):
                os.replace(part, part.with_suffix(".bad"))  # kept aside, not trusted
        return found

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        tmp = self.path / f".part-{self._parts:06d}.tmp.npz"
        with tmp.open("wb") as handle:
            np.savez(handle, keys=np.array(keys), vectors=np.asarray(vectors, dtype=np.float32))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path / f"part-{self._parts:06d}.npz")
        self._parts += 1

    def discard(self) -> None:
        if (self.path / self._MARK).is_file():
            shutil.rmtree(self.path, ignore_errors=True)


def _remove_stale(target: Path) -> None:
    """Temp and old directories a killed build left beside the target; called holding the lock, so no live build
    owns them. Only what carries qa's marker (temp) or is a qa index (old) is removed."""
    prefix = glob.escape(f".{target.name}")  # a name with [ ] * ? must not widen the match
    for stale in target.parent.glob(f"{prefix}.tmp-*"):
        if stale.is_dir() and not stale.is_symlink() and (stale / _PARTIAL).is_file():
            shutil.rmtree(stale, ignore_errors=True)
    for stale in target.parent.glob(f"{prefix}.old-*"):
        if stale.is_dir() and not stale.is_symlink() and (stale / MANIFEST).exists() and replaceable(stale) is None:
            shutil.rmtree(stale, ignore_errors=True)


def write_failure(exc: BaseException, target: Path) -> OutputError | None:
    """The one-line error for a failed write that the user can act on (disk full), else None."""
    if _no_space(exc):
        return OutputError(f"no space left on device while writing the index {target}; the previous index is unchanged")
    return None


def _write_faiss(index, path: Path) -> None:
    """faiss.write_index to a path reports a full disk only on stderr at close (the file is silently short);
    written through a Python file, every failure is an exception, ENOSPC included."""
    import faiss

    with path.open("wb") as handle:
        writer = faiss.PyCallbackIOWriter(handle.write)
        faiss.write_index(index, writer)
        del writer  # flushes faiss's buffer into the file before it closes


def _read_faiss_file(path: Path):
    """Through a Python file, like _write_faiss: faiss's own path argument cannot take a path with undecodable bytes."""
    import faiss

    with path.open("rb") as handle:
        reader = faiss.PyCallbackIOReader(handle.read)
        index = faiss.read_index(reader)
        del reader
    return index


def _no_space(exc: BaseException) -> bool:
    """ENOSPC however it arrives: an OSError, numpy's 'N requested and M written', faiss's RuntimeError text."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left" in text or "Disk quota" in text or ("requested and" in text and "written" in text)


class IndexWriter:
    """Writes a new index into a temporary sibling directory; `commit()` swaps it into place."""

    def __init__(self, target: Path) -> None:
        self.target = output_path(target)
        reason = replaceable(self.target)
        if reason is not None:
            raise OutputError(f"refusing to replace {self.target}: {reason}; choose a new or empty directory, or a qa index")
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self._lock = OutputLock(self.target)
        except (FileExistsError, NotADirectoryError):  # a file where a folder of the path goes: say which
            file = next((p for p in (self.target.parent, *self.target.parent.parents) if p.exists()), None)
            raise OutputError(f"cannot write the index at {self.target}: {file} is not a directory") from None
        except PermissionError:
            raise OutputError(f"cannot write the index at {self.target}: no permission to write in "
                              f"{self.target.parent}") from None
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise OutputError(f"cannot write the index at {self.target}: {exc.strerror} "
                              f"({exc.filename or self.target.parent})") from None
        try:
            _remove_stale(self.target)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-{os.getpid()}-", dir=self.target.parent))
            (self.tmp / _PARTIAL).write_text(f"qa build, pid {os.getpid()} on {socket.gethostname()}\n", encoding="utf-8")
        except BaseException:
            self._lock.release()
            raise

    def write_jsonl(self, name: str, rows: Iterator[dict[str, Any]]) -> None:
        # backslashreplace: a path holding undecodable bytes (surrogates) is written as a JSON \udcXX escape
        with (self.tmp / name).open("w", encoding="utf-8", errors="backslashreplace") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def write_documents(self, rows: Iterator[dict[str, Any]]) -> None:
        self.write_jsonl(DOCUMENTS, ({k: v for k, v in row.items() if v is not None} for row in rows))

    @contextmanager
    def chunk_rows(self) -> Iterator[Callable[[Chunk, str], None]]:
        """chunks.jsonl written a chunk at a time as chunks are made, so a big build never holds them all."""
        with (self.tmp / CHUNKS).open("w", encoding="utf-8", errors="backslashreplace") as handle:
            yield lambda chunk, key: handle.write(json.dumps(chunk_row(chunk, key), ensure_ascii=False) + "\n")

    def written_chunks(self) -> Iterator[tuple[Chunk, str]]:
        """(chunk, key) of the chunks.jsonl written so far, streamed back in order."""
        yield from _iter_chunks(self.tmp / CHUNKS)

    def write_vectors(self, vectors: np.ndarray, index, background: np.ndarray) -> None:
        np.save(self.tmp / VECTORS, vectors)
        np.save(self.tmp / BACKGROUND, background)
        _write_faiss(index, self.tmp / FAISS)

    def write_bm25(self, retriever, df: np.ndarray) -> None:
        """bm25s's saved arrays (term → passages with precomputed scores) plus document frequencies."""
        out = self.tmp / BM25_DIR
        out.mkdir(parents=True, exist_ok=True)
        retriever.save(str(out), show_progress=False)
        np.save(out / DF, df)

    def write_sentence_vectors(self, vectors: np.ndarray, keys: list[str], indptr: np.ndarray, rows: np.ndarray) -> None:
        np.save(self.tmp / SENTENCE_VECTORS, vectors.astype(np.float32))
        (self.tmp / SENTENCE_KEYS).write_text(json.dumps(keys), encoding="utf-8")
        np.savez(self.tmp / CHUNK_SENTENCES, indptr=indptr.astype(np.int64), rows=rows.astype(np.int32))

    def commit(self, manifest: dict[str, Any]) -> None:
        files = {}
        for path in sorted(p for p in self.tmp.rglob("*") if p.is_file() and p.name != _PARTIAL):
            files[path.relative_to(self.tmp).as_posix()] = _file_record(path)
        manifest = {**manifest, "format_version": FORMAT_VERSION, "qa_version": __version__, "files": files}
        manifest_tmp = self.tmp / (MANIFEST + ".part")
        manifest_tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8",
                                errors="backslashreplace")  # corpus roots may hold undecodable bytes
        os.replace(manifest_tmp, self.tmp / MANIFEST)  # the manifest is the last file to appear
        reason = replaceable(self.target)  # checked again: something may have been put there during the build
        if reason is not None:
            raise OutputError(f"refusing to replace {self.target}: {reason}")
        old = None
        if os.path.lexists(self.target):
            old = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.old-{os.getpid()}-", dir=self.target.parent))
            os.replace(self.target, old)  # an empty directory, or a qa index: replaceable() said so
        os.replace(self.tmp, self.target)
        (self.target / _PARTIAL).unlink(missing_ok=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self._lock.release()

    def abort(self) -> None:
        if (self.tmp / _PARTIAL).is_file():
            shutil.rmtree(self.tmp, ignore_errors=True)
        self._lock.release()


def read_manifest(directory: str | Path) -> dict[str, Any]:
    return _read_manifest(Path(directory))[0]


def _read_manifest(directory: Path) -> tuple[dict[str, Any], str]:
    hint = _rebuild_hint(directory)
    if not os.path.lexists(directory):
        raise IndexNotFoundError(f"no index at {directory}; build one with: qa build [PATHS…] -o {directory}")
    if not directory.is_dir():
        raise IndexNotFoundError(f"{directory} is not a qa index (not a directory); give the index directory")
    path = directory / MANIFEST
    if not path.exists():
        if any(directory.iterdir()):
            raise IndexNotFoundError(f"{directory} is not a qa index (no {MANIFEST}); give the index directory")
        raise IndexNotFoundError(f"no index at {directory} (empty directory); {hint}")
    raw = path.read_bytes()
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(directory, f"{MANIFEST} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise IndexCorruptError(
            f"index {directory} has format version {found}, this qa reads version {FORMAT_VERSION}; "
            f"{_rebuild_hint(directory, manifest if isinstance(manifest, dict) else None)}"
        )
    return manifest, hashlib.sha256(raw).hexdigest()


def verify_files(directory: Path, manifest: dict[str, Any], *, full: bool = False) -> int:
    """Every file the manifest lists, by size and checksum; files over 64 MB by sampled blocks unless `full`
    (`qa info --verify`). A manifest cannot opt out: one without a list of files is damaged. Returns bytes checked."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files or not all(isinstance(v, dict) for v in files.values()):
        raise _corrupt(directory, f"{MANIFEST} lists no files to check", manifest)
    required = [CHUNKS, DOCUMENTS] + ([VECTORS, FAISS] if manifest.get("embedder") else [])
    if not any(name.startswith("bm25/") for name in files):
        required.append("bm25/")
    for needed in required:
        if needed not in files:
            raise _corrupt(directory, f"{MANIFEST} does not list {needed}", manifest)
    checked = 0
    for name, expected in files.items():
        path = directory / name
        if not path.is_file():
            raise _corrupt(directory, f"{name} is missing", manifest)
        size = path.stat().st_size
        if size != expected.get("bytes"):
            raise _corrupt(directory, f"{name} has {size} bytes, the manifest says {expected.get('bytes')}",
                           manifest)
        if size <= _HASH_LIMIT or full:
            ok = _sha256(path) == expected.get("sha256")
            checked += size
        else:
            ok = _check_sampled_blocks(path, expected)
            checked += min(size, _SAMPLED_BLOCKS * int(expected.get("block_bytes") or _BLOCK))
        if not ok:
            raise _corrupt(directory, f"{name} does not match its checksum", manifest)
    return checked


def verify(directory: str | Path) -> int:
    """The full check of `qa info --verify`: every byte of every file against its checksum. Returns bytes read."""
    directory = Path(directory)
    return verify_files(directory, read_manifest(directory), full=True)


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def chunk_row(chunk: Chunk, key: str) -> dict[str, Any]:
    row = asdict(chunk)
    for optional in ("line", "page", "article", "url"):
        if row.get(optional) is None:
            row.pop(optional, None)  # text files have none of these: keep their rows as they were
    return {**row, "key": key}


def chunk_of_row(row: dict[str, Any]) -> tuple[Chunk, str]:
    """The (chunk, key) that `chunk_row` wrote."""
    row = dict(row)
    key = row.pop("key")
    row["heading"] = tuple(row["heading"])
    return Chunk(**row), key


def _iter_chunks(path: Path) -> Iterator[tuple[Chunk, str]]:
    for row in _read_jsonl(path):
        yield chunk_of_row(row)


def _read_chunks(directory: Path) -> tuple[list[Chunk], list[str]]:
    chunks, keys = [], []
    for chunk, key in _iter_chunks(directory / CHUNKS):
        chunks.append(chunk)
        keys.append(key)
    return chunks, keys


def read_bm25(folder: Path, n_docs: int) -> BM25Index:
    """A BM25 folder as saved by `IndexWriter.write_bm25` (or by bm25s, plus df.npy)."""
    data, indices = (np.load(folder / name, mmap_mode="r") for name in _BM25_ARRAYS[:2])
    indptr = np.load(folder / _BM25_ARRAYS[2])
    vocab = json.loads((folder / _BM25_VOCAB).read_text(encoding="utf-8"))
    return BM25Index(data, indices, indptr, vocab, np.load(folder / DF), n_docs)


def _read_faiss(directory: Path, manifest: dict[str, Any]):
    from ..models.ann import prepare_for_search

    try:
        index = _read_faiss_file(directory / FAISS)
    except (RuntimeError, OSError) as exc:
        raise _corrupt(directory, f"cannot read {FAISS}: {exc}", manifest) from exc
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
        raise _corrupt(directory, f"cannot read the chunk store: {exc}", manifest) from exc
    expected = (manifest.get("counts") or {}).get("chunks")
    if expected != len(chunks):
        raise _corrupt(directory, f"{len(chunks)} chunks stored, the manifest says {expected}", manifest)
    vectors = background = index = None
    if manifest.get("embedder"):
        try:
            vectors = np.load(directory / VECTORS, mmap_mode="r")
            background = np.load(directory / BACKGROUND)
        except (OSError, ValueError) as exc:
            raise _corrupt(directory, f"cannot read the vectors: {exc}", manifest) from exc
        index = _read_faiss(directory, manifest)
        if len(vectors) != len(chunks) or index.ntotal != len(chunks):
            raise _corrupt(directory, f"{len(vectors)} vectors for {len(chunks)} chunks", manifest)
    sentences = _read_sentences(directory, len(chunks)) if SENTENCE_VECTORS in manifest.get("files", {}) else None
    return StoredIndex(directory, manifest, tuple(chunks), tuple(keys), documents, bm25, vectors, background, index,
                       sentences, stamp)


def _read_sentences(directory: Path, n_chunks: int):
    """The per-sentence vectors (memory-mapped) with their keys and the chunk → rows map."""
    from ..models.sentences import SentenceVectors

    try:
        keys = tuple(json.loads((directory / SENTENCE_KEYS).read_text(encoding="utf-8")))
        with np.load(directory / CHUNK_SENTENCES) as csr:
            indptr, rows = csr["indptr"].astype(np.int64), csr["rows"].astype(np.int64)
        vectors = np.load(directory / SENTENCE_VECTORS, mmap_mode="r")
    except (OSError, ValueError, KeyError) as exc:
        raise _corrupt(directory, f"cannot read the sentence vectors: {exc}") from exc
    if len(keys) != len(vectors) or len(indptr) != n_chunks + 1:
        raise _corrupt(directory, "sentence vectors do not agree with their keys or the chunks")
    return SentenceVectors(vectors, keys, indptr, rows)


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
    """(embedder entry of its manifest, text key → vector for its passages and sentences) of the index at
    `directory`, for a rebuild to reuse.

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
    found = {key: vectors[i] for i, key in enumerate(keys)}
    if SENTENCE_VECTORS in manifest["files"]:  # sentence keys hash the sentence's text as chunk keys hash theirs
        try:
            found.update(zip(json.loads((directory / SENTENCE_KEYS).read_text(encoding="utf-8")),
                             np.load(directory / SENTENCE_VECTORS, mmap_mode="r")))
        except (OSError, ValueError):
            pass
    return manifest["embedder"], found


def is_current(stored: StoredIndex) -> bool:
    """Whether the directory still holds the index that was loaded (False once it has been rebuilt)."""
    try:
        return hashlib.sha256((stored.directory / MANIFEST).read_bytes()).hexdigest() == stored.stamp
    except OSError:
        return False


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
