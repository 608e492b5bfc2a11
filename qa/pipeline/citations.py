"""Where a hit is, for citations you can locate: its PDF page, statute article and web link (from its chunk), and
the articles a question names by number brought to the top (「民法典第680条」 finds 第六百八十条 directly)."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from ..documents.statutes import ArticleTable
    from ..stores.index import Index
    from .retrieve import Hit


def articles_first(question: str, hits: tuple["Hit", ...], index: "Index", table: "ArticleTable", k: int,
                   sources: Sequence[str] | None) -> tuple[tuple["Hit", ...], bool]:
    """The named articles first (found even when retrieval missed them or the gate let nothing through), then the
    rest of the ranking, k in all; and whether the question named any. Whether they are shown is the verdict's
    decision (qa.pipeline.verdict.decide), not this function's."""
    from .retrieve import Hit

    ranked = [h.chunk_id for h in hits]
    named = [i for i in table.lookup(question, ranked, k)
             if not sources or index.chunks[i].source in set(sources)]
    if not named:
        return hits, False
    existing = {h.chunk_id: h for h in hits}
    top = max((h.score for h in hits), default=1.0)
    first = []
    for i in named:
        if i in existing:
            first.append(existing[i])
            continue
        # coverage 1: the question names this very article, the strongest lexical evidence there is
        first.append(Hit.of(index.chunks[i], 0, top, coverage=1.0))
    rest = [h for h in hits if h.chunk_id not in set(named)]
    return tuple(replace(h, rank=n) for n, h in enumerate([*first, *rest][:k], start=1)), True


def locator(hit) -> str:
    """Where a passage is, in words: 「《民法典》第六百八十条 · p. 2 · https://…」; '' for a plain text passage."""
    from ..documents.statutes import citation

    parts = []
    if hit.article:
        parts.append(citation(hit.title, hit.article))
    if hit.page is not None:
        parts.append(f"p. {hit.page}")
    if hit.url:
        parts.append(hit.url)
    return " · ".join(parts)


def safe_link(url: str | None) -> str | None:
    """A link that may be rendered as a hyperlink (http/https only: a page's canonical URL is untrusted input)."""
    return url if url and url.lower().startswith(("http://", "https://")) else None
