"""Corpus files → documents: discovery, decoding, JSONL parsing. Bad inputs are reported and skipped."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import CorpusError
from .decoding import decode
from .formats import SUFFIXES as FORMAT_SUFFIXES
from ..text import one_line_name, repair_surrogates

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
JSONL_SUFFIXES = {".jsonl"}
_ID_LIKE = re.compile(r"^[\d_\-]*[0-9a-f]{8,}$|^\d+$", re.IGNORECASE)


@dataclass(frozen=True)
class Document:
    doc_id: str
    source: str  # file path as given (relative to the corpus root)
    title: str
    text: str  # decoded original text
    line: int | None = None  # the line of a JSONL record
    url: str | None = None  # a web page's canonical link (qa/documents/formats.py)
    page_starts: tuple[int, ...] = ()  # offsets in `text` where page 1, 2, … of a PDF or image begin


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str
    # formats.REASON_CODES, or unreadable, not_regular, bad_record, empty; duplicate_id and pages_left_out are notes
    # about a document that was kept
    code: str = "unreadable"

    def __str__(self) -> str:
        return f"{one_line_name(self.path)}: {self.reason}"


@dataclass(frozen=True)
class SourceFile:
    path: Path
    name: str  # shown and stored: relative to the root it was found under (undecodable name bytes decoded)
    sha256: str
    size: int

    @property
    def data(self) -> bytes:
        """The file's bytes, read when needed: discovery holds no file in memory."""
        with open_regular(self.path) as handle:
            return handle.read()


_KINDS = {stat.S_ISFIFO: "a FIFO (named pipe)", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
          stat.S_ISSOCK: "a socket", stat.S_ISDIR: "a directory"}
# Kernel and virtual file systems: their "regular" files are not documents, and some block on read forever
# (/sys/kernel/tracing/trace_pipe, a /proc file that waits for data) or never end.
SPECIAL_FILE_SYSTEMS = frozenset({
    "proc", "sysfs", "debugfs", "tracefs", "securityfs", "cgroup", "cgroup2", "pstore", "bpf", "configfs", "devtmpfs",
    "devpts", "mqueue", "efivarfs", "binfmt_misc", "fusectl", "hugetlbfs", "rpc_pipefs", "nsfs", "autofs",
})


def _special_devices() -> dict[int, str]:
    """st_dev → file system type of every mounted kernel/virtual file system (from /proc/self/mountinfo)."""
    found: dict[int, str] = {}
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if " - " not in line or len(fields) < 3:
                    continue
                fstype = line.split(" - ", 1)[1].split()[0]
                if fstype in SPECIAL_FILE_SYSTEMS:
                    major, minor = fields[2].split(":")
                    found[os.makedev(int(major), int(minor))] = fstype
    except (OSError, ValueError):  # not Linux: /proc and /sys do not exist there either
        pass
    return found


_SPECIAL: dict[int, str] | None = None


def _special_fs(st_dev: int) -> str | None:
    global _SPECIAL
    if _SPECIAL is None or st_dev in _SPECIAL:
        _SPECIAL = _special_devices()  # read again on a hit: mounts change, a cached device number may be reused
    return _SPECIAL.get(st_dev)


def _mode_problem(st: os.stat_result) -> str | None:
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS.items() if test(st.st_mode)), "not a regular file")
        return f"{kind}, not a regular file: not opened"
    fstype = _special_fs(st.st_dev)
    if fstype:
        return f"a file of the kernel's {fstype} file system, not a document: not opened"
    return None


def not_a_document(path: Path) -> str | None:
    """Why a path cannot be read as a document without opening it (a FIFO, a device, a /proc or /sys file would
    block or never end), or None. Links are followed: a link into /proc is judged by what it points to."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    return _mode_problem(st)


def open_regular(path: Path):
    """Open a file for reading only if it is (still) a regular file on an ordinary file system: opened without
    blocking (a FIFO swapped in after discovery would wait forever for a writer) and checked on the open file."""
    import fcntl

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        problem = _mode_problem(os.fstat(fd))
        if problem:
            raise OSError(errno.EINVAL, f"no longer a regular file: {problem.split(',')[0]}", str(path))
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _sha256_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open_regular(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def discover(paths: Iterable[str | Path], exclude: Path | None = None) -> tuple[list[SourceFile], list[Skipped]]:
    """Walk files and directories (recursively, sorted). Unsupported files are skipped and counted.

    `exclude`: the index being written; when it lies inside a corpus folder its files are not documents."""
    files: list[SourceFile] = []
    skipped: list[Skipped] = []
    seen: set[Path] = set()
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise CorpusError(f"no such file or directory: {given}")
        # not is_file(): FIFOs, devices and sockets are listed so that they can be reported, never opened
        candidates = sorted(p for p in root.rglob("*") if not p.is_dir()) if root.is_dir() else [root]
        for path in candidates:
            resolved = path.resolve()
            if exclude is not None and (resolved == exclude or exclude in resolved.parents):
                continue
            if resolved in seen or any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            seen.add(resolved)
            # a name with bytes that are not UTF-8 arrives with surrogates: decode it (GB18030) or mark it (U+FFFD)
            name, _ = repair_surrogates(path.relative_to(root).as_posix() if root.is_dir() else path.name)
            problem = not_a_document(path)
            if problem:
                skipped.append(Skipped(name, problem, "not_regular"))
                continue
            if path.suffix.lower() not in TEXT_SUFFIXES | JSONL_SUFFIXES | FORMAT_SUFFIXES:
                skipped.append(Skipped(name, f"unsupported file type {path.suffix or '(none)'}", "unsupported"))
                continue
            try:
                sha256, size = _sha256_file(path)  # streamed: no file is held in memory here
            except OSError as exc:
                skipped.append(Skipped(name, f"cannot be read ({exc.strerror})"))
                continue
            files.append(SourceFile(path, name, sha256, size))
    return files, skipped


def title_for(name: str, text: str) -> str:
    """First Markdown heading; else the file name unless it looks like an id; else the first short line."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# "):
            return stripped[2:].strip().strip("*").strip()
    stem = Path(name).stem
    if stem and not _ID_LIKE.match(stem):
        return stem
    for line in text.splitlines():
        stripped = line.strip().strip("#*").strip()
        if 4 <= len(stripped) <= 40:
            return stripped
    return stem


_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?\r?\n)?(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_FRONT_TITLE = re.compile(r"^title\s*:\s*[\"']?(.*?)[\"']?\s*$", re.MULTILINE)


def strip_front_matter(text: str) -> tuple[str, str | None]:
    """Markdown's YAML front matter blanked out (same length, newlines kept, so offsets into the file stay true),
    and its `title:` if it has one."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return text, None
    title = _FRONT_TITLE.search(match.group(1) or "")
    blank = re.sub(r"[^\n]", " ", match.group(0))
    return blank + text[match.end():], (title.group(1).strip() or None) if title else None


def read_documents(files: Iterable[SourceFile], skipped: list[Skipped]) -> Iterator[Document]:
    """Decode files into documents, one file in memory at a time; each problem is appended to `skipped` and the
    rest goes on. Document ids are unique: a repeated id is stored with a suffix (a~2) and reported."""
    from ..config import DEFAULT_READ_LIMITS

    first_seen: dict[str, str] = {}
    for file in files:
        if file.size > DEFAULT_READ_LIMITS.max_file_bytes:  # read whole and cleaned: ~10× its size in memory
            size, limit = (f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"
                           for n in (file.size, DEFAULT_READ_LIMITS.max_file_bytes))
            skipped.append(Skipped(file.name, f"{size} is over the limit of {limit} for one file "
                                              "(ReadLimits.max_file_bytes); split it", "too_large"))
            continue
        try:
            formatted = _formatted_document(file, skipped) if file.path.suffix.lower() in FORMAT_SUFFIXES else None
            text = decode(file.data) if formatted is None else ""
        except ValueError as exc:  # an UnreadableError (decoding's, a reader's) is one, with its reason code
            skipped.append(Skipped(file.name, str(exc), getattr(exc, "code", "unreadable")))
            continue
        except OSError as exc:
            skipped.append(Skipped(file.name, f"cannot be read ({exc.strerror})"))
            continue
        if formatted is not None:
            docs: Iterable[Document] = [formatted]
        elif file.path.suffix.lower() in JSONL_SUFFIXES:
            docs = _jsonl_documents(file.name, text, skipped)
        else:
            title = None
            if file.path.suffix.lower() in (".md", ".markdown"):
                text, title = strip_front_matter(text)
            docs = [Document(doc_id=file.name, source=file.name, title=title or title_for(file.name, text), text=text)]
        del text
        for doc in docs:
            yield _unique(doc, first_seen, skipped)


def _unique(doc: Document, first_seen: dict[str, str], skipped: list[Skipped]) -> Document:
    """Documents are keyed by id: a second document with the same id (`"a"` twice, `7` and `"7"`) would show the
    first one's text. It keeps its text under a new id, and the renaming is reported."""
    where = doc.source if doc.line is None else f"{doc.source}:{doc.line}"
    if doc.doc_id not in first_seen:
        first_seen[doc.doc_id] = where
        return doc
    n = 2
    while f"{doc.doc_id}~{n}" in first_seen:
        n += 1
    new_id = f"{doc.doc_id}~{n}"
    skipped.append(Skipped(where, f"duplicate id {doc.doc_id!r} (first in {first_seen[doc.doc_id]}); "
                                  f"kept under the id {new_id!r}", "duplicate_id"))
    first_seen[new_id] = where
    return replace(doc, doc_id=new_id)


def _jsonl_documents(name: str, text: str, skipped: list[Skipped]) -> Iterator[Document]:
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name}:{line_no}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            skipped.append(Skipped(where, f"bad JSON ({exc.msg})", "bad_record"))
            continue
        if not isinstance(record, dict):
            skipped.append(Skipped(where, "not a JSON object", "bad_record"))
            continue
        doc_id = record.get("id", record.get("_id"))
        body = record.get("text")
        if doc_id is None or isinstance(doc_id, (dict, list)) or not isinstance(body, str) or not body.strip():
            skipped.append(Skipped(where, "needs an id (or _id) and a non-empty text", "bad_record"))
            continue
        title = record.get("title") or ""
        yield Document(doc_id=str(doc_id), source=name, title=str(title), text=body, line=line_no)


def _formatted_document(file: SourceFile, skipped: list[Skipped]) -> Document:
    """A web page, PDF, DOCX or image through its reader (qa/documents/formats.py); raises formats.UnreadableError (a
    ValueError) with the reason. Pages left out (no text layer) are reported in `skipped`."""
    from .formats import extract

    found = extract(file.path.suffix, file.data)
    skipped.extend(Skipped(file.name, note, "pages_left_out") for note in found.notes)
    title = found.title or title_for(file.name, found.text)
    return Document(doc_id=file.name, source=file.name, title=title, text=found.text, url=found.url,
                   page_starts=found.page_starts)
