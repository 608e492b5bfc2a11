"""Documents → chunks: sentence-aware Chinese chunking with overlap, heading paths and original offsets."""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import replace
from typing import Iterable, Iterator

from .chunk import Chunk
from .corpus import Document
from .statutes import chunk_statute, is_statute, record_article
from ..text import Cleaned, clean

# A sentence ends after one of these (full or half width), or at a line break. Half-width marks followed by a
# Latin letter or digit are inside something else: a URL's query string, scraped mojibake (當?shù).
_SENTENCE_END = re.compile(r"[。！？；!?;…]*(?:[。！？；…]|[!?;](?![A-Za-z0-9]))[”’」』）)]*|\n")
_CLAUSE_END = re.compile(r"[，,、：:]")


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of text[start:end], whitespace-trimmed, empty ones dropped."""
    end = len(text) if end is None else end
    spans = []
    pos = start
    for match in _SENTENCE_END.finditer(text, start, end):
        spans.append((pos, match.end()))
        pos = match.end()
    if pos < end:
        spans.append((pos, end))
    return [s for s in (_trim(text, a, b) for a, b in spans) if s[1] > s[0]]


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _limit(text: str, spans: list[tuple[int, int]], maximum: int) -> list[tuple[int, int]]:
    """Cut sentences longer than `maximum` at clause marks (，、：), and hard-cut what is still too long."""
    out = []
    for a, b in spans:
        if b - a <= maximum:
            out.append((a, b))
            continue
        piece_start = a
        last_clause = None
        for match in _CLAUSE_END.finditer(text, a, b):
            if match.end() - piece_start > maximum and last_clause:
                out.append((piece_start, last_clause))
                piece_start = last_clause
            last_clause = match.end()
        while b - piece_start > maximum:
            cut = last_clause if last_clause and piece_start < last_clause < piece_start + maximum else piece_start + maximum
            out.append((piece_start, cut))
            piece_start = cut
        out.append((piece_start, b))
    return [s for s in (_trim(text, x, y) for x, y in out) if s[1] > s[0]]


def _heading_paths(cleaned: Cleaned) -> list[tuple[int, tuple[str, ...]]]:
    """(offset, heading path in force from that offset on), in offset order."""
    stack: list[tuple[int, str]] = []
    paths = []
    for offset, level, text in cleaned.headings:
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, text))
        paths.append((offset, tuple(t for _, t in stack)))
    return paths


def _path_at(paths: list[tuple[int, tuple[str, ...]]], offset: int) -> tuple[str, ...]:
    # binary search: a linear scan per chunk made a 20 MB file with many headings quadratic (~30 s)
    i = bisect_right(paths, offset, key=lambda p: p[0])
    return paths[i - 1][1] if i else ()


def chunk_document(
    doc: Document, *, size: int, overlap: int, maximum: int, first_id: int = 0, cleaned: Cleaned | None = None,
    statutes: bool = True,
) -> list[Chunk]:
    cleaned = cleaned or clean(doc.text)
    if not cleaned.text.strip():
        return []
    if statutes:
        if is_statute(cleaned):
            return located(doc, chunk_statute(doc, cleaned, maximum=maximum, first_id=first_id))
    return located(doc, _chunk_prose(doc, cleaned, size=size, overlap=overlap, maximum=maximum, first_id=first_id,
                                     breaks=page_breaks(doc, cleaned)), statutes=statutes)


def page_breaks(doc: Document, cleaned: Cleaned) -> set[int]:
    """Cleaned offsets where a new PDF page begins: a passage never spans two pages, so its page is exact."""
    from bisect import bisect_left

    return {bisect_left(cleaned.offsets, start, 0, len(cleaned.text)) for start in doc.page_starts[1:]}


def located(doc: Document, chunks: list[Chunk], *, statutes: bool = True) -> list[Chunk]:
    """Where each passage is, for citations: its PDF page, the web page's link, the article a record is."""
    article = None
    if statutes and doc.line is not None:
        article = record_article(doc.title)  # a JSONL record that is one article (STARD)
    if not (doc.page_starts or doc.url or article):
        return chunks
    return [
        replace(c, page=bisect_right(doc.page_starts, c.start) or 1 if doc.page_starts else None, url=doc.url,
                article=c.article or article)
        for c in chunks
    ]


def _chunk_prose(doc: Document, cleaned: Cleaned, *, size: int, overlap: int, maximum: int, first_id: int,
                 breaks: set[int] = frozenset()) -> list[Chunk]:
    text = cleaned.text
    sentences = _limit(text, split_sentences(text), maximum)
    paths = _heading_paths(cleaned)
    section_starts = {offset for offset, level, _ in cleaned.headings if level <= 2}
    groups: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []

    def length(group: list[tuple[int, int]]) -> int:
        return group[-1][1] - group[0][0] if group else 0

    for sentence in sentences:
        starts_section = sentence[0] in section_starts or sentence[0] in breaks
        too_long = current and sentence[1] - current[0][0] > size
        new_page = sentence[0] in breaks
        if current and (too_long or new_page or (starts_section and length(current) >= size // 3)):
            groups.append(current)
            carried: list[tuple[int, int]] = []
            if not starts_section:
                # overlap: whole trailing sentences of the previous chunk, up to `overlap` characters
                for prev in reversed(current):
                    if current[-1][1] - prev[0] > overlap:
                        break
                    carried.insert(0, prev)
                if carried and sentence[1] - carried[0][0] > size:
                    carried = []
            current = carried
        current.append(sentence)
    if current:
        groups.append(current)

    chunks = []
    for group in groups:
        a, b = group[0][0], group[-1][1]
        start, end = cleaned.span(a, b)
        chunks.append(
            Chunk(
                chunk_id=first_id + len(chunks),
                doc_id=doc.doc_id,
                source=doc.source,
                title=doc.title,
                heading=_path_at(paths, a),
                start=start,
                end=end,
                text=text[a:b],
                clean_start=a,
                clean_end=b,
                line=doc.line,
            )
        )
    return chunks


def chunk_documents(docs: Iterable[Document], *, size: int, overlap: int, maximum: int,
                    statutes: bool = True) -> Iterator[tuple[Document, str, list[Chunk]]]:
    """Yield (document, cleaned text, chunks) with globally numbered chunk ids."""
    next_id = 0
    for doc in docs:
        cleaned = clean(doc.text)
        chunks = chunk_document(doc, size=size, overlap=overlap, maximum=maximum, first_id=next_id, cleaned=cleaned,
                                statutes=statutes)
        next_id += len(chunks)
        yield doc, cleaned.text, chunks
