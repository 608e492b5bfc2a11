"""Library results → escaped HTML and plain text for the page: pure functions, no Gradio, unit-tested.

Everything that comes from the corpus or the question is HTML-escaped here before it reaches the page; question
terms are highlighted on the escaped pieces and the answer sentence is marked inside its cited card. A display
script (简/繁) converts what is shown; the citation (source file, and the copied text) stays the original.
"""
from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from .. import messages
from ..library import LibraryEntry
from ..pipeline import render as view
from ..pipeline.answer import Answer
from ..pipeline.retrieve import Hit

PROMPT = messages.PROMPT
SUGGESTIONS = messages.SUGGESTIONS
LEXICAL_NOTICE = messages.LEXICAL_ONLY
MODES = messages.MODES
MODE_NAMES = {value: label.split("（")[0] for label, value in MODES}
# display script: the label shown on the toggle → the OpenCC conversion (None: the documents' own script)
SCRIPTS = messages.SCRIPTS

Convert = Callable[[str], str]


def _same(text: str) -> str:
    return text


@lru_cache(maxsize=4)
def converter(conversion: str | None) -> Convert:
    """OpenCC conversion for display ("t2s", "s2t"), or the identity for None / an unknown name."""
    if conversion not in {c for _, c in SCRIPTS if c}:
        return _same
    import opencc

    return opencc.OpenCC(conversion).convert


def esc(text: object) -> str:
    """HTML-escape for text and attributes; `$`, backtick and braces too, so no template syntax survives."""
    out = html.escape("" if text is None else str(text), quote=True)
    return out.replace("$", "&#36;").replace("`", "&#96;").replace("{", "&#123;").replace("}", "&#125;")


def question_terms(question: str) -> list[str]:
    """The question's terms to highlight: the library's own tokens (folded, stop words removed)."""
    from ..models.lexical import question_terms as library_terms

    terms = library_terms(question)
    long_terms = [t for t in terms if len(t) >= 2]
    return long_terms or terms


def _aligned_fold(text: str) -> str:
    """The matching form of `text` with one character per original character (so positions carry over)."""
    from ..text import fold

    folded = fold(text)
    if len(folded) == len(text):
        return folded
    chars = []
    for ch in text:
        f = fold(ch)
        chars.append(f[0] if f else "\0")
    return "".join(chars)


def _match_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    if not terms or not text:
        return []
    folded = _aligned_fold(text)
    spans = []
    for term in sorted(set(terms), key=len, reverse=True):
        start = folded.find(term)
        while start != -1:
            spans.append((start, start + len(term)))
            start = folded.find(term, start + 1)
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def highlight(text: str, terms: Sequence[str]) -> str:
    """Escaped `text` with the question's terms wrapped in <mark>; matching is script/width/case-insensitive."""
    out, pos = [], 0
    for s, e in _match_spans(text, terms):
        out.append(esc(text[pos:s]))
        out.append(f"<mark>{esc(text[s:e])}</mark>")
        pos = e
    out.append(esc(text[pos:]))
    return "".join(out)


def _score_line(hit: Hit) -> str:
    parts = [messages.SCORE.format(score=hit.score)]
    if hit.dense_score is not None:
        parts.append(messages.DENSE_SCORE.format(score=hit.dense_score))
    if hit.lexical_score:
        parts.append(messages.LEXICAL_SCORE.format(score=hit.lexical_score))
    return " · ".join(parts)


def _marked_passage(text: str, said: Sequence[str], terms: Sequence[str], convert: Convert) -> str:
    """The passage with the question's terms highlighted and the answer sentences taken from it marked."""
    spans = []
    for sentence in said:
        at = text.find(sentence)
        if at >= 0:
            spans.append((at, at + len(sentence)))
    out, pos = [], 0
    for s, e in sorted(spans):
        if s < pos:
            continue
        out.append(highlight(convert(text[pos:s]), terms))
        out.append(f'<span class="qa-said">{highlight(convert(text[s:e]), terms)}</span>')
        pos = e
    out.append(highlight(convert(text[pos:]), terms))
    return "".join(out)


def _context_html(context: str | None, passage: str, terms: Sequence[str], convert: Convert) -> str:
    if not context:
        return ""
    at = context.find(passage) if passage else -1
    if at < 0:
        body = highlight(convert(context), terms)
    else:
        body = (
            highlight(convert(context[:at]), terms)
            + f'<span class="qa-self">{highlight(convert(passage), terms)}</span>'
            + highlight(convert(context[at + len(passage):]), terms)
        )
    return (
        f'<details class="qa-context"><summary>{esc(messages.CONTEXT)}</summary>'
        f'<div class="qa-context-text">{body}</div></details>'
    )


def _location_parts(hit: Hit) -> list[str]:
    """Where the passage is (article, PDF page, canonical link), escaped; the link opens in a new tab and only
    http(s) links are made clickable (a page's canonical URL is untrusted input)."""
    from ..documents.statutes import citation
    from ..pipeline.citations import safe_link

    parts = []
    if hit.article:
        parts.append(messages.CARD_ARTICLE.format(article=esc(citation(hit.title, hit.article))))
    if hit.page is not None:
        parts.append(messages.CARD_PAGE.format(page=esc(hit.page)))
    if hit.url:
        link = safe_link(hit.url)
        parts.append(messages.CARD_LINK.format(
            link=f'<a href="{esc(link)}" target="_blank" rel="noopener noreferrer">{esc(link)}</a>'
            if link else esc(hit.url)))
    return parts


def render_card(n: int, hit: Hit, terms: Sequence[str], context: str | None = None, *,
                said: Sequence[str] = (), convert: Convert = _same) -> str:
    """One numbered passage card: title, file (never converted: it is the citation), heading, scores, text."""
    heading = " › ".join(hit.heading)
    meta = [messages.CARD_FILE.format(source=f"<code>{esc(hit.source)}</code>")]
    if heading:
        meta.append(messages.CARD_HEADING.format(heading=esc(convert(heading))))
    meta.extend(_location_parts(hit))
    meta.append(esc(_score_line(hit)))
    return (
        f'<div class="qa-card" id="qa-p{n}">'
        f'<div class="qa-card-head"><span class="qa-num">[{n}]</span>'
        f'<span class="qa-title">{esc(convert(hit.title))}</span></div>'
        f'<div class="qa-meta">{" · ".join(meta)}</div>'
        f'<div class="qa-passage">{_marked_passage(hit.text, said, terms, convert)}</div>'
        f"{_context_html(context, hit.text, terms, convert)}"
        "</div>"
    )


def render_notices(answer: Answer) -> str:
    """The notes before the answer, as the one view words them (qa.pipeline.render.notes): the lexical-only
    notice once, in Chinese; the caution marked as such."""
    return "".join(f'<div class="qa-notice{" qa-caution" if n == answer.caution else ""}">{esc(n)}</div>'
                   for n in view.notes(answer))


def render_support(message: str) -> str:
    """The calm message for someone in distress (QueryConfig.distress_message), above everything else."""
    return f'<div class="qa-support" role="alert">{esc(message)}</div>'


def render_prompt(message: str = PROMPT) -> str:
    return f'<div class="qa-prompt">{esc(message)}</div>'


def render_searching() -> str:
    return f'<div class="qa-status qa-searching">{esc(messages.SEARCHING)}</div>'


def render_waiting() -> str:
    return f'<div class="qa-status">{esc(messages.WAITING)}</div>'


def render_error(message: str) -> str:
    return f'<div class="qa-error" role="alert">{esc(message)}</div>'


plain_text = view.copy_text  # what 复制答案 copies


def render_answer(answer: Answer, contexts: Sequence[str | None] = (), *, support: str | None = None,
                  convert: Convert = _same) -> str:
    """The whole answer block: the support message if the question signals distress (the verdict's own, unless
    `support` is given), notices, the answer line (`Answer.text`'s sentences with [n] links, or its message), a copy
    button, then the numbered passage cards."""
    support = support if support is not None else answer.support
    head = f'<div class="qa-answer" data-question="{esc(answer.question)}">'
    top = (render_support(support) if support else "") + render_notices(answer)
    if not answer.found or not answer.passages:
        if support:  # 「未找到相关内容」 is the wrong thing to say to someone in distress
            return f"{head}{top}</div>"
        items = "".join(f"<li>{esc(s)}</li>" for s in SUGGESTIONS)
        return (f'{head}{top}<div class="qa-empty"><div class="qa-h">{esc(answer.text)}</div>'
                f"{esc(messages.TRY)}<ul>{items}</ul></div></div>")
    terms = question_terms(answer.question)
    contexts = list(contexts) + [None] * len(answer.passages)
    if answer.sentences:
        line = "".join(
            f'<p>{esc(convert(s.text))}<a class="qa-cite" href="#qa-p{s.citation}">[{s.citation}]</a></p>'
            for s in answer.sentences
        )
    else:  # found, but no sentence answers directly: the library's own words for it
        line = f"<p>{esc(convert(answer.text))}</p>"
    said: dict[int, list[str]] = {}
    for s in answer.sentences:
        said.setdefault(s.citation, []).append(s.text)
    cards = "".join(render_card(i, hit, terms, contexts[i - 1], said=said.get(i, ()), convert=convert)
                    for i, hit in enumerate(answer.passages, 1))
    mode = MODE_NAMES.get(answer.mode, answer.mode)
    return (
        f"{head}{top}"
        f'<div class="qa-h qa-h-row">{esc(messages.ANSWER_HEADING)}<button type="button" class="qa-copy">'
        f'{esc(messages.COPY)}</button></div>'
        f'<div class="qa-sentences">{line}</div>'
        f'<textarea class="qa-copy-text" readonly tabindex="-1" aria-hidden="true">{esc(plain_text(answer))}'
        "</textarea>"
        f'<div class="qa-h">{esc(messages.CITED_HEADING)}</div>{cards}'
        f'<div class="qa-foot">{esc(messages.FOOT.format(mode=mode))}</div></div>'
    )


def answer_dict(answer: Answer, support: str | None = None) -> dict:  # support: the verdict's own unless given
    """What the `ask` API endpoint returns: `Answer.to_dict()` (answer text with [n] markers, sentences, cited
    passages) plus `n` on each passage, `sources`, `message` (the not-found text), `support` (the distress
    message or None), and `warning`/`notice`/`caution` always present."""
    out = answer.to_dict()
    for n, passage in enumerate(out["passages"], 1):
        passage["n"] = n
    out.setdefault("warning", None)
    out.setdefault("notice", None)
    out.setdefault("caution", None)
    out["message"] = None if answer.found else answer.not_found_message
    out["support"] = support if support is not None else answer.support
    out["sources"] = list(dict.fromkeys(p["source"] for p in out["passages"]))
    return out


def display_dir(path: Path | str, base: Path | None = None) -> str:
    """A directory as the page shows it: relative to the working directory when inside it, else its name —
    never the server's absolute layout."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to((base or Path.cwd()).resolve())) + "/"
    except ValueError:
        return path.name + "/"




def _kind(entry: LibraryEntry) -> str:
    kind = entry.kind.upper()
    if entry.pages:
        return messages.KIND_PAGES.format(kind=kind, pages=entry.pages)
    if entry.documents > 1:
        return messages.KIND_RECORDS.format(kind=kind, documents=entry.documents)
    return kind


def _added(iso: str | None) -> str:
    """2026-11-24T14:31:29+0000 → 2026-11-24 14:31 (the server's local time)."""
    return iso[:16].replace("T", " ") if iso else "—"


def render_library(entries: Sequence[LibraryEntry]) -> str:
    """The 资料库 table: title, file (what removing takes), type, passages, when added — all escaped."""
    if not entries:
        return f'<div class="qa-prompt">{esc(messages.LIBRARY_EMPTY)}</div>'
    rows = "".join(
        f"<tr><td>{esc(e.title)}</td><td><code>{esc(e.source)}</code></td><td>{esc(_kind(e))}</td>"
        f'<td class="qa-num-cell">{e.chunks}</td><td>{esc(_added(e.added))}</td></tr>'
        for e in entries
    )
    total = sum(e.chunks for e in entries)
    head = "".join(f"<th>{esc(c)}</th>" for c in messages.LIBRARY_COLUMNS)
    count = messages.LIBRARY_COUNT.format(files=len(entries), chunks=total)
    return (f'<div class="qa-library-count">{esc(count)}</div>'
            '<div class="qa-table-wrap"><table class="qa-library-table"><thead><tr>'
            f"{head}</tr></thead><tbody>{rows}</tbody></table></div>")


def render_library_status(message: str, state: str = "busy") -> str:
    """The panel's one status line: "busy" (a rebuild in progress), "ok" (what changed) or "error"."""
    if state == "error":
        return render_error(message)
    css = "qa-status qa-library-busy" if state == "busy" else "qa-status qa-library-done"
    return f'<div class="{css}" role="status">{esc(message)}</div>'
