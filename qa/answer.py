"""Hits → answer: the 1-3 sentences of the top passages that answer most directly, each citing its passage.

Sentences are taken verbatim from the passages (never generated). They are scored by the idf-weighted share of
the question's terms they contain and by their cosine to the question when a vector model is at hand (that is
what carries cross-language questions), plus a small prior for higher-ranked passages.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .chunking import split_sentences
from .citations import locator, safe_link
from .config import DEFAULT, QueryConfig
from .lexical import synonyms, tokenize
from .retrieve import Hit, SearchResult, result_head
from .text import heading_level

_MIN_SENTENCE_CHARS = 8
_EMBED_SHORTLIST = 8
_COSINE_WEIGHT = 0.3  # dev answer_hit 0.85 → 0.90 against 0.7 (docs/EVALUATION.md)


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
    support: str | None = None  # a calm message with hotline numbers when the question signals distress

    @property
    def text(self) -> str:
        """The answer sentences with their [n] markers, or the not-found message."""
        if not self.found:
            return self.not_found_message
        return "".join(f"{s.text}[{s.citation}]" for s in self.sentences)

    def to_dict(self) -> dict:
        out = result_head(self)
        if self.support:
            out["support"] = self.support
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
            where = f" — {_md_escape(locator(hit))}" if locator(hit) else ""
            lines.append(f"**[{i}] {_md_escape(hit.title)}** — `{hit.source}`{where} (score {hit.score:.3f})\n")
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
            where = f" <span class='qa-where'>{esc(locator(hit))}</span>" if locator(hit) else ""
            if safe_link(hit.url):
                where += f" <a href='{esc(hit.url)}' rel='noopener noreferrer'>链接</a>"
            parts.append(
                f"<li><b>{esc(hit.title)}</b> <code>{esc(hit.source)}</code>{where} ({hit.score:.3f})"
                f"<blockquote style='white-space:pre-wrap'>{esc(hit.text)}</blockquote></li>"
            )
        parts.append("</ol></div>")
        return "".join(parts)

    def __str__(self) -> str:
        lines = [self.support] if self.support else []
        for note in (self.warning, self.notice):
            if note:
                lines.append(f"({note})")
        lines.append(self.text)
        for i, hit in enumerate(self.passages, start=1):
            lines.append("")
            where = f" — {locator(hit)}" if locator(hit) else ""
            lines.append(f"[{i}] {hit.title} — {hit.source}{where} (score {hit.score:.3f})")
            lines.append(hit.text)
        return "\n".join(lines)


def _md_escape(text: str) -> str:
    return html.escape(text, quote=False).replace("*", r"\*").replace("_", r"\_").replace("`", r"\`").replace("#", r"\#")


@dataclass(frozen=True)
class _Sentence:
    passage: int
    text: str
    selectable: bool  # headings, questions (「Q3:是否需要償還…?」) and lead-ins (「…主要包括:」) do not answer
    anchor: int | None  # the question, heading or lead-in this sentence answers by position (FAQ, lists), if any


_LABEL = re.compile(r"^(?:[-•·*]\s*)*(?:(?:A|答)\s*[:：]\s*)?")  # list bullets and FAQ answer labels: layout


def _sentences(hits: Sequence[Hit]) -> list[_Sentence]:
    out: list[_Sentence] = []
    for i, hit in enumerate(hits):
        anchor, anchor_is_lead_in = None, False
        for a, b in split_sentences(hit.text):
            raw = hit.text[a:b].strip()
            text = raw[_LABEL.match(raw).end():].strip()
            is_heading = bool(heading_level(text, text))
            is_question = text.endswith(("?", "？"))
            is_lead_in = text.endswith((":", "：")) and not is_heading
            selectable = len(text) >= _MIN_SENTENCE_CHARS and not (is_question or is_heading or is_lead_in)
            out.append(_Sentence(i, text, selectable, anchor if selectable else None))
            if is_question or is_heading or is_lead_in:
                # a question or heading is answered by the next sentence; a lead-in by the list that follows it
                anchor, anchor_is_lead_in = len(out) - 1, is_lead_in
            elif selectable and not anchor_is_lead_in:
                anchor = None
    return out


def _coverage(sentence: str, weights: dict[str, float], total: float) -> float:
    tokens = set(tokenize(sentence))
    return sum(w for term, w in weights.items() if term in tokens or synonyms(term) & tokens) / total


def compose(
    result: SearchResult,
    *,
    k: int,
    idf: Callable[[str], float],
    embed: Callable[[list[str]], np.ndarray] | None = None,
    query_vector: np.ndarray | None = None,
    config: QueryConfig = DEFAULT,
) -> Answer:
    passages = result.hits[:k]
    common = dict(question=result.question, mode=result.mode, warning=result.warning, notice=result.notice,
                  not_found_message=config.not_found_message)
    if not result.found or not passages:
        return Answer(found=False, sentences=(), passages=(), **common)
    pool = passages[: config.answer_passages]
    sentences = _sentences(pool)
    if not any(s.selectable for s in sentences):
        return Answer(found=True, sentences=(), passages=passages, **common)

    terms = list(dict.fromkeys(tokenize(result.question)))
    weights = {t: idf(t) for t in terms}
    total = sum(weights.values()) or 1.0
    score = np.array([_coverage(s.text, weights, total) for s in sentences])
    if embed is not None and query_vector is not None:
        # Embedding costs ~25 ms a sentence on 2 cores: only the lexically best few are compared by meaning,
        # more when no term matched at all (a question in another language).
        shortlist = _EMBED_SHORTLIST if score.max() > 0 else 2 * _EMBED_SHORTLIST
        prior = np.array([1.0 - s.passage / len(pool) for s in sentences]) * 1e-3
        ids = [j for j in np.argsort(-(score + prior), kind="stable") if sentences[j].selectable or
               any(s.anchor == j for s in sentences)][:shortlist]
        cosines = embed([sentences[j].text for j in ids]) @ query_vector
        # cosines of a small e5 model sit in a narrow band (0.86-0.90 is typical); rescaled within the shortlist
        # they break ties between sentences of similar coverage, at a weight that keeps noise from outvoting it
        spread = float(cosines.max() - cosines.min())
        if spread > 1e-6:
            score[ids] = score[ids] + _COSINE_WEIGHT * (cosines - cosines.min()) / spread
    # the answer right after a matching question or heading (FAQ layout), or the items of a matching lead-in,
    # are as good as that match
    score = np.array([max(v, score[s.anchor]) if s.anchor is not None else v for v, s in zip(score, sentences)])
    score = score + np.array([0.15 * (1.0 - s.passage / len(pool)) for s in sentences])
    score[[not s.selectable for s in sentences]] = -np.inf

    best = float(score.max())
    chosen = []
    for j in np.argsort(-score, kind="stable"):
        if len(chosen) == config.max_answer_sentences or score[j] < 0.75 * best:
            break
        sentence = sentences[j]
        if any(sentence.text == c.text for c in chosen):
            continue
        chosen.append(AnswerSentence(sentence.text, sentence.passage + 1))
    return Answer(found=True, sentences=tuple(chosen), passages=passages, **common)
