"""`Chunk`: one passage of a document, as an index stores it and every later layer sees it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    chunk_id: int
    doc_id: str
    source: str
    title: str
    heading: tuple[str, ...]
    start: int  # offsets into the original document text
    end: int
    text: str  # cleaned passage as shown (document's own script)
    clean_start: int  # offsets into the cleaned document text, for surrounding context
    clean_end: int
    line: int | None = None  # the JSONL line of the document, if it came from one
    page: int | None = None  # the PDF page (1-based) the passage starts on
    article: str | None = None  # the statute article it is (第六百七十九条), see qa/documents/statutes.py
    url: str | None = None  # the web page's canonical link

    @property
    def context(self) -> str:
        """What retrieval sees: title and heading path give a passage its topic."""
        head = " / ".join(h for h in (self.title, *self.heading) if h)
        return f"{head}\n{self.text}" if head else self.text
