"""Corpus files → documents: discovery, decoding, JSONL parsing. Bad inputs are reported and skipped."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .errors import CorpusError

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
JSONL_SUFFIXES = {".jsonl"}
_ID_LIKE = re.compile(r"^[\d_\-]*[0-9a-f]{8,}$|^\d+$", re.IGNORECASE)


@dataclass(frozen=True)
class Document:
    doc_id: str
    source: str  # file path as given (relative to the corpus root), plus ":line" for JSONL records
    title: str
    text: str  # decoded original text


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class SourceFile:
    path: Path
    name: str  # shown and stored: relative to the root it was found under
    sha256: str
    data: bytes


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
        candidates = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in candidates:
            resolved = path.resolve()
            if exclude is not None and (resolved == exclude or exclude in resolved.parents):
                continue
            if resolved in seen or any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            seen.add(resolved)
            name = path.relative_to(root).as_posix() if root.is_dir() else path.name
            if path.suffix.lower() not in TEXT_SUFFIXES | JSONL_SUFFIXES:
                skipped.append(Skipped(name, f"unsupported file type {path.suffix or '(none)'}"))
                continue
            data = path.read_bytes()
            files.append(SourceFile(path, name, hashlib.sha256(data).hexdigest(), data))
    return files, skipped


def decode(data: bytes) -> str:
    """Bytes → text: UTF-8 (BOM or not), UTF-16 with BOM, else what charset-normalizer finds (GB18030, Big5 …).

    Raises ValueError for empty, binary or undecodable input.
    """
    if not data.strip():
        raise ValueError("empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:4096]:
        raise ValueError("binary file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=["gb18030", "big5", "utf_16", "cp1252"]).best()
    if best is None:
        best = from_bytes(data).best()
    if best is None:
        raise ValueError("cannot detect the text encoding")
    text = str(best)
    if not text.strip() or _mostly_unprintable(text):
        raise ValueError(f"cannot decode as text (best guess {best.encoding})")
    return text


def _mostly_unprintable(text: str) -> bool:
    bad = sum(1 for ch in text if not ch.isprintable() and ch not in "\r\n\t")
    return bad > len(text) * 0.05


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


def read_documents(files: Iterable[SourceFile], skipped: list[Skipped]) -> Iterator[Document]:
    """Decode files into documents; each problem is appended to `skipped` and the rest goes on."""
    for file in files:
        try:
            text = decode(file.data)
        except ValueError as exc:
            skipped.append(Skipped(file.name, str(exc)))
            continue
        if file.path.suffix.lower() in JSONL_SUFFIXES:
            yield from _jsonl_documents(file.name, text, skipped)
        else:
            yield Document(doc_id=file.name, source=file.name, title=title_for(file.name, text), text=text)


def _jsonl_documents(name: str, text: str, skipped: list[Skipped]) -> Iterator[Document]:
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name}:{line_no}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            skipped.append(Skipped(where, f"bad JSON ({exc.msg})"))
            continue
        if not isinstance(record, dict):
            skipped.append(Skipped(where, "not a JSON object"))
            continue
        doc_id = record.get("id", record.get("_id"))
        body = record.get("text")
        if doc_id is None or not isinstance(body, str) or not body.strip():
            skipped.append(Skipped(where, "needs an id (or _id) and a non-empty text"))
            continue
        title = record.get("title") or ""
        yield Document(doc_id=str(doc_id), source=where, title=str(title), text=body)
