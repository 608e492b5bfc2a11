"""Managing the library an index is built from: add files to its corpus folder, take documents out, rebuild.

Both go through the ordinary incremental build (unchanged chunks reuse their vectors); `QA.add`/`QA.remove` then
load the rebuilt index (this module sits below the API and never imports it). An index being rebuilt keeps
answering from its previous snapshot until the new one is swapped in. Safety:
only types on the allow-list and files under the size limit (`QueryConfig.library_types`, `library_max_bytes`) are
taken; names are reduced to a plain file name inside the corpus folder (no path traversal, no hidden files, no
writing through links); an existing file is never overwritten unless asked; a file that no reader can parse is
refused before it is copied. Removed files are moved to the corpus's `.removed/` folder (which discovery skips),
never deleted: the tool does not delete what it did not create.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any, Iterable, Protocol, Union

from .errors import ConfigError, CorpusError
from .text import one_line_name

from .stores.factory import build_into
from .stores.location import IndexLocation, recorded_corpus

if TYPE_CHECKING:
    from .stores.build import BuildReport, Progress
    from .config import QueryConfig
    from .documents.corpus import Skipped

REMOVED_DIR = ".removed"
MAX_NAME_CHARS = 120
MAX_NAME_BYTES = 255  # NAME_MAX of Linux and macOS file systems, in UTF-8 bytes
_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>:\"/\\|?*]")
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()



class Loaded(Protocol):
    """What the library needs of a loaded `qa.QA`: its index, its settings and where the index lives."""

    index: Any  # qa.stores.index.Index
    config: "QueryConfig"

    @property
    def directory(self) -> Path | str: ...

    @property
    def sources(self) -> tuple[str, ...]: ...


# what may be added: a file path, or (file name, content) as an upload delivers it
Item = Union[str, Path, tuple[str, bytes]]


@dataclass(frozen=True)
class Refusal:
    """A file `add_files` did not take: its name as given, the reason in one line, and the reason's code
    (qa.documents.corpus.Skipped.code, or "size" / "type" from `check_file`) for wording it in another language."""

    name: str
    reason: str
    code: str = "unreadable"

    def __str__(self) -> str:
        return f"{one_line_name(self.name)}: {self.reason}"


@dataclass(frozen=True)
class LibraryChange:
    added: tuple[str, ...]  # names in the corpus folder
    removed: tuple[str, ...]
    refused: tuple[Refusal, ...]
    report: "BuildReport | None"  # None when nothing changed, so nothing was rebuilt
    qa: Any = field(repr=False, compare=False, default=None)  # the reloaded qa.QA, set by QA.add / QA.remove
    # names already in the corpus folder with exactly this content: nothing written (an existing file is never
    # overwritten), so a caller can say why nothing changed
    unchanged: tuple[str, ...] = ()
    # (name given, name stored under) where another file already held the name: kept, the new one stored beside it
    renamed: tuple[tuple[str, str], ...] = ()

    def summary(self) -> str:
        parts = []
        if self.added:
            parts.append(f"added {len(self.added)}: {', '.join(map(one_line_name, self.added))}")
        if self.removed:
            parts.append(f"removed {len(self.removed)}: {', '.join(map(one_line_name, self.removed))}")
        if self.refused:
            parts.append(f"refused {len(self.refused)}: {'; '.join(map(str, self.refused))}")
        if self.unchanged:
            parts.append(f"already there with the same content (not added again): {', '.join(self.unchanged)}")
        for name, stored in self.renamed:
            parts.append(f"{name} exists with other content (not overwritten); added as {stored}")
        if self.report:
            parts.append(self.report.summary())
        return "; ".join(parts) or "nothing changed"


class FileRefused(CorpusError):
    """A file the library will not take, and by which rule: `reason` is "size" (over `limit` bytes) or "type"
    (its `suffix` is not on the allow-list), so a caller can word the refusal in its own language."""

    def __init__(self, message: str, reason: str, *, size: int = 0, limit: int = 0, suffix: str = "") -> None:
        super().__init__(message)
        self.reason, self.size, self.limit, self.suffix = reason, size, limit, suffix


class NothingAdded(CorpusError):
    """Every file given to `add_files` was refused; `refused` holds a `Refusal` for each."""

    def __init__(self, refused: list[Refusal]) -> None:
        super().__init__("nothing added: " + "; ".join(map(str, refused)))
        self.refused = tuple(refused)


def check_file(name: str, size: int, config: "QueryConfig") -> str:
    """The safe name a file of `size` bytes would be added under; FileRefused when it is over the size limit or
    its type is not allowed. The web page checks uploads with this before it hands them to `add_files`."""
    if size > config.library_max_bytes:
        raise FileRefused(f"{size / 1e6:.1f} MB is over the limit of {config.library_max_bytes / 1e6:.0f} MB",
                          "size", size=size, limit=config.library_max_bytes)
    safe = safe_name(name)
    suffix = os.path.splitext(safe)[1].lower()
    allowed = {t.lower() for t in config.library_types}
    if suffix not in allowed:
        raise FileRefused(f"type {suffix or '(none)'} is not allowed ({', '.join(sorted(allowed))})", "type",
                          suffix=suffix)
    return safe


def safe_name(name: str) -> str:
    """A plain file name for an uploaded or added file: the last path component of either path style, control
    and reserved characters replaced, no leading dots (hidden files are not indexed), NFC, at most 120 chars."""
    base = PureWindowsPath(PurePosixPath(str(name)).name).name
    base = unicodedata.normalize("NFC", _UNSAFE.sub("_", base)).strip().lstrip(".").strip()
    stem, suffix = os.path.splitext(base)
    if len(base) > MAX_NAME_CHARS:
        base = stem[: MAX_NAME_CHARS - len(suffix)] + suffix
    base = _fit_bytes(base)
    if not os.path.splitext(base)[0].strip(" _"):
        base = "document" + suffix
    return base


def _fit_bytes(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """The name with its stem shortened (whole characters) until it is at most `limit` bytes in UTF-8: 120 Chinese
    characters are 360 bytes, which no file system takes."""
    stem, suffix = os.path.splitext(name)
    while len((stem + suffix).encode("utf-8")) > limit and stem:
        stem = stem[:-1]
    return stem + suffix


def _writable(qa: Loaded) -> None:
    if qa.config.library_read_only:
        raise ConfigError("this library is read-only (library_read_only): documents cannot be added or removed")


def corpus_folder(qa: Loaded, corpus: str | Path | None) -> Path:
    """The folder files are added to: given, or the one directory the index was built from."""
    if corpus is not None:
        folder = Path(corpus)
    else:
        roots = recorded_corpus(qa.index.manifest)
        dirs = [r for r in roots if r.is_dir()]
        if len(dirs) != 1:
            raise ConfigError(
                f"index {qa.directory} was built from {', '.join(map(str, roots)) or 'no recorded folder'}; "
                "name the corpus folder to change (corpus=… / --corpus DIR)"
            )
        folder = dirs[0]
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist")
    return folder


def _lock(index_dir: Path | str) -> threading.Lock:
    key = IndexLocation.parse(index_dir).key
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


class _Turn:
    """This process's turn at changing an index, across processes: an flock on `.NAME.library.lock` beside it (so a
    second `qa add`/`qa remove` waits for the first), then no build writing it. Waits at most `seconds`, saying so
    once; raises CorpusError when the time is up, before anything was copied or moved. The kernel drops the lock
    when its holder dies."""

    def __init__(self, qa: Loaded, seconds: float, say) -> None:
        self.qa, self.seconds, self.say, self.fd = qa, seconds, say, None

    def __enter__(self) -> "_Turn":
        from .stores.local import output_lock_holder, output_path, try_lock_file

        if IndexLocation.parse(self.qa.directory).is_milvus:  # a Milvus store: its build takes its own lock
            return self
        target = output_path(self.qa.directory)
        deadline, said = time.monotonic() + self.seconds, False
        path = target.parent / f".{target.name}.library.lock"
        while True:
            fd, holder = try_lock_file(path)
            if fd is not None:
                holder = output_lock_holder(target)  # our turn, once no build writes the index either
                if holder is None:
                    break
                os.close(fd)
            if holder is not None:
                if time.monotonic() >= deadline:
                    raise CorpusError(f"another qa build, add or remove is changing {target} ({holder}) and did not "
                                      f"finish within {self.seconds:g} s; nothing was copied or moved, try again later")
                if not said:
                    self.say(f"waiting for another qa build, add or remove of {target} ({holder}) …")
                    said = True
            time.sleep(0.1)
        self.fd, self.path = fd, path
        return self

    def __exit__(self, *exc) -> None:
        from .stores.local import unlock_file

        if self.fd is not None:
            unlock_file(self.path, self.fd)
            self.fd = None


def _say(progress: "Progress"):
    """Where a wait is reported: stderr when progress is shown (the command line), else nowhere."""
    if progress is True:
        import sys

        return lambda message: print(f"qa: {message}", file=sys.stderr, flush=True)
    return lambda message: None


def _roots(qa: Loaded, folder: Path) -> list[Path]:
    """The paths to rebuild from: those the index was built from, with the corpus folder among them."""
    roots = [r for r in recorded_corpus(qa.index.manifest) if r.exists()]
    if not any(r.resolve() == folder.resolve() for r in roots):
        roots.append(folder)
    return roots


def _rebuild(qa: Loaded, folder: Path, progress: "Progress") -> "BuildReport":
    return build_into(qa.directory, _roots(qa, folder), build=qa.index.recipe.build, progress=progress)


def _readable(name: str, data: bytes) -> Skipped | None:
    """Why no document would come out of this file, or None when one does (the same readers as a build)."""
    from .documents.corpus import Skipped, discover, read_documents

    with tempfile.TemporaryDirectory(prefix="qa-add-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        files, skipped = discover([path])
        docs = list(read_documents(files, skipped))
    from .text import clean, empty_reason, has_words

    if any(has_words(clean(doc.text).text) for doc in docs):
        return None
    if docs:  # read, but the build would skip it: say so now rather than report it as added
        return Skipped(name, empty_reason(docs[0].text), "empty")
    return skipped[0] if skipped else Skipped(name, "no document in it", "empty")


def _load_item(item: Item, config: "QueryConfig") -> tuple[str, bytes]:
    """(safe name, content) of a file that passes `check_file`; its content is read only then."""
    if isinstance(item, tuple):
        if len(item) != 2 or not isinstance(item[1], (bytes, bytearray, memoryview, str)):
            raise CorpusError("an upload must be (file name, bytes)")
        name, data = item
        data = data.encode("utf-8") if isinstance(data, str) else bytes(data)  # text given as str: stored as UTF-8
        return check_file(str(name), len(data), config), data
    if not isinstance(item, (str, Path)):
        raise CorpusError(f"not a file path: {item!r}")
    from .documents.corpus import not_a_document, open_regular

    path = Path(item)
    if not path.exists():
        raise CorpusError("no such file")
    problem = not_a_document(path)  # a FIFO or a /proc file would block the read
    if problem:
        raise CorpusError(problem)
    name = check_file(path.name, path.stat().st_size, config)
    with open_regular(path) as handle:
        return name, handle.read()


def _free_name(folder: Path, name: str, data: bytes, replace_existing: bool) -> tuple[Path, bool]:
    """(target path, whether it already holds exactly this content)."""
    target = folder / name
    stem, suffix = os.path.splitext(name)
    n = 2
    while target.exists() or target.is_symlink():
        if target.is_file() and not target.is_symlink():
            if hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest():
                return target, True
            if replace_existing:
                return target, False
        candidate = f"{stem}-{n}{suffix}"
        if len(candidate.encode("utf-8")) > MAX_NAME_BYTES:  # room for the -N within NAME_MAX
            candidate = os.path.splitext(_fit_bytes(name, MAX_NAME_BYTES - len(f"-{n}")))[0] + f"-{n}{suffix}"
        target = folder / candidate
        n += 1
    return target, False


def _write(target: Path, data: bytes) -> None:
    """Write beside the target and rename into place, so a reader never sees half a file."""
    # a short hidden name (discovery skips it): `.` + name + `.part-PID` overflowed NAME_MAX for long legal names
    part = target.with_name(f".qa-part-{os.getpid()}-{threading.get_ident()}")
    try:
        with part.open("xb") as handle:
            handle.write(data)
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)  # ours: a half-written copy (disk full, interrupted)
        raise


def add_files(qa: Loaded, items: Iterable[Item], *, corpus: str | Path | None = None, progress: "Progress" = False,
              replace_existing: bool = False) -> LibraryChange:
    _writable(qa)
    folder = corpus_folder(qa, corpus)
    added, refused, unchanged, renamed, undo = [], [], [], [], []
    with _lock(qa.directory), _Turn(qa, qa.config.library_wait_seconds, _say(progress)):
        for item in items:
            shown = item[0] if isinstance(item, tuple) else str(item)
            try:
                name, data = _load_item(item, qa.config)
                problem = _readable(name, data)
                if problem:
                    refused.append(Refusal(shown, problem.reason, problem.code))
                    continue
                target, same = _free_name(folder, name, data, replace_existing)
                if target.resolve().parent != folder.resolve():
                    raise CorpusError("would be written outside the corpus folder")
                indexed = {Path(src).as_posix() for src in qa.sources}
                if same and target.relative_to(folder).as_posix() not in indexed:
                    added.append(target.name)  # copied by an add that was killed before its rebuild: index it now
                elif same:
                    unchanged.append(target.name)
                else:
                    undo.append((target, target.read_bytes() if target.is_file() else None))
                    _write(target, data)
                    added.append(target.name)
                    if target.name != name:
                        renamed.append((name, target.name))
            except FileRefused as exc:
                refused.append(Refusal(shown, str(exc), exc.reason))
            except (CorpusError, OSError) as exc:
                refused.append(Refusal(shown, str(exc)))
        if not added:
            if refused and not unchanged:
                raise NothingAdded(refused)
            return LibraryChange((), (), tuple(refused), None, None, tuple(unchanged))
        try:
            report = _rebuild(qa, folder, progress)
        except BaseException:
            _take_back(undo)  # the corpus and the index stay as they were: the same files, the same documents
            raise
    return LibraryChange(tuple(added), (), tuple(refused), report, None, tuple(unchanged), tuple(renamed))


def _take_back(undo: list[tuple[Path, bytes | None]]) -> None:
    """Undo the copies of an add whose rebuild failed: a file it created is removed (it is ours), a file it replaced
    gets its old content back."""
    for target, previous in reversed(undo):
        try:
            if previous is None:
                target.unlink(missing_ok=True)
            else:
                _write(target, previous)
        except OSError:
            pass  # the rebuild's error says what went wrong; a file that stays is the user's to judge


def remove_files(qa: Loaded, docs: Iterable[str], *, corpus: str | Path | None = None,
                 progress: "Progress" = False) -> LibraryChange:
    _writable(qa)
    folder = corpus_folder(qa, corpus)
    sources = set(qa.sources)
    by_id = {doc_id: d.source for doc_id, d in qa.index.documents.items()}
    moved = []
    with _lock(qa.directory), _Turn(qa, qa.config.library_wait_seconds, _say(progress)):
        targets = []
        for doc in docs:
            source = doc if doc in sources else by_id.get(doc)
            if source is None and safe_name(doc) in sources:
                source = safe_name(doc)  # the name as given to add, which stored it under its safe name (a\nb → a_b)
            if source is None:
                raise CorpusError(f"no document {doc!r} in index {qa.directory}")
            if source != doc and doc in by_id and qa.index.documents[doc].line is not None:
                raise CorpusError(f"{doc!r} is a record of {source}; remove {source} or edit it")
            path = (folder / source)
            if not path.resolve().is_relative_to(folder.resolve()) or not path.is_file():
                raise CorpusError(f"{source} is not a file in the corpus folder {folder}")
            targets.append((source, path))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            for source, path in dict(targets).items():  # a document named twice is moved once
                destination = folder / REMOVED_DIR / stamp / source
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(path), str(destination))
                moved.append(source)
            if not moved:
                return LibraryChange((), (), (), None)
            report = _rebuild(qa, folder, progress)
        except BaseException as exc:  # a move that failed (read-only folder, disk full) or the rebuild
            # put the files back rather than leave a corpus that no longer matches its index
            for source in moved:
                shutil.move(str(folder / REMOVED_DIR / stamp / source), str(folder / source))
            if isinstance(exc, CorpusError):  # nothing left to index
                raise CorpusError("cannot remove every document of the index; add others first") from None
            raise
    return LibraryChange((), tuple(moved), (), report)


@dataclass(frozen=True)
class LibraryEntry:
    """One file of the library as the index holds it (what a library panel lists)."""

    source: str  # the file, relative to the corpus folder (what `remove` takes)
    title: str
    kind: str  # file type: "pdf", "docx", "html", "txt", "md", "jsonl", "png" …
    documents: int  # 1, or the records of a JSONL file
    chunks: int
    pages: int | None  # PDF pages with passages
    url: str | None
    added: str | None  # when the file was last written into the corpus folder (ISO time), if it is there

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def library_entries(qa: Loaded, corpus: str | Path | None = None) -> list[LibraryEntry]:
    try:
        folder: Path | None = corpus_folder(qa, corpus)
    except (ConfigError, CorpusError):
        folder = None
    per_source: dict[str, list] = {}
    for chunk in qa.index.chunks:
        per_source.setdefault(chunk.source, []).append(chunk)
    documents: dict[str, list] = {}
    for doc in qa.index.documents.values():
        documents.setdefault(doc.source, []).append(doc)
    entries = []
    for source, chunks in per_source.items():
        docs = documents.get(source, [])
        title = docs[0].title if len(docs) == 1 else source
        pages = {c.page for c in chunks if c.page is not None}
        added = None
        if folder is not None and (folder / source).is_file():
            added = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime((folder / source).stat().st_mtime))
        entries.append(LibraryEntry(source, title, os.path.splitext(source)[1].lstrip(".").lower() or "txt", len(docs),
                                    len(chunks), max(pages) if pages else None, chunks[0].url, added))
    return sorted(entries, key=lambda e: e.source)
