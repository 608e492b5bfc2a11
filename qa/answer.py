"""Hits → answer: the 1-3 sentences of the top passages that answer most directly, each citing its passage.

Sentences are taken verbatim from the passages (never generated). They are scored by the idf-weighted share of
the question's terms they contain and by their cosine to the question when a vector model is at hand (that is
what carries cross-language questions), plus a small prior for higher-ranked passages.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .chunking import split_sentences
from .config import DEFAULT, Config
from .lexical import tokenize
from .retrieve import Hit, SearchResult
from .text import heading_level

_MIN_SENTENCE_CHARS = 8


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citation: int  # 1-based position of the cited passage in Answer.passages

    def to_dict(self) -> dict:
        return {"text": self.text, "citation": self.citation}


@dataclass(frozen=True)
class Answer:
    question: str
    mode: str
    found: bool
    sentences: tuple[AnswerSentence, ...]
    passages: tuple[Hit, ...]
    warning: str | None = None
    notice: str | None = None
    not_found_message: str = DEFAULT.not_found_message

    @property
    def text(self) -> str:
        """The answer sentences with their [n] markers, or the not-found message."""
        if not self.found:
            return self.not_found_message
        return "".join(f"{s.text}[{s.citation}]" for s in self.sentences)

    def to_dict(self) -> dict:
        out = {"question": self.question, "mode": self.mode, "found": self.found}
        if self.warning:
            out["warning"] = self.warning
        if self.notice:
            out["notice"] = self.notice
        out["answer"] = self.text
        out["sentences"] = [s.to_dict() for s in self.sentences]
        out["passages"] = [p.to_dict() for p in self.passages]
        return out

    def to_markdown(self) -> str:
        lines = []
        for note in (self.warning, self.notice):
            if note:
                lines.append(f"> {_md_escape(note)}\n")
        lines.append(_md_escape(self.text) + "\n")
        for i, hit in enumerate(self.passages, start=1):
            lines.append(f"**[{i}] {_md_escape(hit.title)}** — `{hit.source}` (score {hit.score:.3f})\n")
            lines.append("> " + _md_escape(hit.text).replace("\n", "\n> ") + "\n")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [f"<div class='qa-answer'><p><b>{esc(self.question)}</b></p>"]
        for note in (self.warning, self.notice):
            if note:
                parts.append(f"<p><i>{esc(note)}</i></p>")
        parts.append(f"<p>{esc(self.text)}</p><ol>")
        for hit in self.passages:
            parts.append(
                f"<li><b>{esc(hit.title)}</b> <code>{esc(hit.source)}</code> ({hit.score:.3f})"
                f"<blockquote style='white-space:pre-wrap'>{esc(hit.text)}</blockquote></li>"
            )
        parts.append("</ol></div>")
        return "".join(parts)

    def __str__(self) -> str:
        lines = []
        for note in (self.warning, self.notice):
            if note:
                lines.append(f"({note})")
        lines.append(self.text)
        for i, hit in enumerate(self.passages, start=1):
            lines.append("")
            lines.append(f"[{i}] {hit.title} — {hit.source} (score {hit.score:.3f})")
            lines.append(hit.text)
        return "\n".join(lines)


def _md_escape(text: str) -> str:
    return html.escape(text, quote=False).replace("*", r"\*").replace("_", r"\_").replace("`", r"\`").replace("#", r"\#")


def _candidate_sentences(hits: Sequence[Hit]) -> list[tuple[int, str]]:
    """Statements only: headings and questions (「Q3:是否需要償還…?」) restate the question, not its answer."""
    out = []
    for i, hit in enumerate(hits):
        for a, b in split_sentences(hit.text):
            sentence = hit.text[a:b].strip()
            if (
                len(sentence) >= _MIN_SENTENCE_CHARS
                and not sentence.endswith(("?", "？"))
                and not heading_level(sentence, sentence)
            ):
                out.append((i, sentence))
    return out


def compose(
    result: SearchResult,
    *,
    k: int,
    idf: Callable[[str], float],
    embed: Callable[[list[str]], np.ndarray] | None = None,
    query_vector: np.ndarray | None = None,
    config: Config = DEFAULT,
) -> Answer:
    passages = result.hits[:k]
    common = dict(question=result.question, mode=result.mode, warning=result.warning, notice=result.notice,
                  not_found_message=config.not_found_message)
    if not result.found or not passages:
        return Answer(found=False, sentences=(), passages=(), **common)
    pool = passages[: config.answer_passages]
    candidates = _candidate_sentences(pool)
    if not candidates:
        return Answer(found=True, sentences=(), passages=passages, **common)

    terms = list(dict.fromkeys(tokenize(result.question)))
    weights = {t: idf(t) for t in terms}
    total = sum(weights.values()) or 1.0
    lexical = np.array([sum(w for t, w in weights.items() if t in set(tokenize(s))) / total for _, s in candidates])
    score = lexical.copy()
    if embed is not None and query_vector is not None:
        cosines = embed([s for _, s in candidates]) @ query_vector
        # cosines of a small e5 model sit in a narrow band; rescale within the candidates
        spread = cosines.max() - cosines.min()
        score = score + (cosines - cosines.min()) / spread if spread > 1e-6 else score
    prior = np.array([0.15 * (1.0 - i / len(pool)) for i, _ in candidates])
    score = score + prior

    best = float(score.max())
    chosen = []
    for j in np.argsort(-score, kind="stable"):
        if len(chosen) == config.max_answer_sentences or score[j] < 0.75 * best:
            break
        passage_index, sentence = candidates[j]
        if any(sentence == s.text for s in chosen):
            continue
        chosen.append(AnswerSentence(sentence, passage_index + 1))
    return Answer(found=True, sentences=tuple(chosen), passages=passages, **common)
