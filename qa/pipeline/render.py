"""One view of a `Verdict`: plain text (the CLI's `qa ask`, `str(verdict)`, the page's 复制答案), Markdown and HTML
(a notebook's `_repr_markdown_` / `_repr_html_`). What is said before the answer — the distress message, then the
notes — is chosen here once (`notes`) for every surface, the page's answer block included (qa/ui/render.py), so the
lexical-only notice is said once, in Chinese."""
from __future__ import annotations

import html as _html
from typing import Callable

from .. import messages

Style = Callable[..., str]


def _plain(text: str, **_style) -> str:
    return text


def notes(verdict) -> tuple[str, ...]:
    """The notes shown before the answer, in order: the warning (in lexical mode led by the lexical-only notice,
    once), the notice (question cut), the caution (weak evidence)."""
    warning = verdict.warning
    if warning and verdict.mode == "lexical" and messages.LEXICAL_ONLY not in warning:
        warning = f"{messages.LEXICAL_ONLY}（{warning}）"
    return tuple(n for n in (warning, verdict.notice, verdict.caution) if n)


def where(hit) -> str:
    from .citations import locator

    return locator(hit)


def text(verdict, *, style: Style = _plain, clean: Callable[[str], str] = str,
         notes_elsewhere: bool = False) -> str:
    """The verdict as terminal text: the support message, the notes, the answer with [n] markers (or its message),
    then each passage with its title, source, location and score. `clean` makes document text safe for the
    terminal, `style(text, bold=…, fg=…)` then colours a line (click.style); `notes_elsewhere`: the warning and
    notice are reported by the caller (the CLI: on stderr)."""
    def line(text: str, **how) -> str:
        return style(clean(text), **how) if how else clean(text)

    lines = []
    if verdict.support:
        lines += [line(verdict.support, bold=True), ""]
    for note in notes(verdict):
        if note == verdict.caution:
            lines.append(line(note, fg="yellow"))
        elif not notes_elsewhere:
            lines.append(line(note))
    lines.append(line(verdict.text))
    for i, hit in enumerate(verdict.passages, start=1):
        heading = f" › {' › '.join(hit.heading)}" if hit.heading else ""
        located = f"  {where(hit)}" if where(hit) else ""
        lines += ["", line(f"[{i}] {hit.title}{heading}", bold=True),
                  line(f"    {hit.source}{located}  score {hit.score:.4f}"),
                  line("    " + hit.text.replace("\n", "\n    "))]
    return "\n".join(lines)


def copy_text(verdict) -> str:
    """What the page's 复制答案 copies: the question, the caution if any, the answer with its [n] markers, then each
    cited source — original script."""
    lines = [verdict.question, "", *([verdict.caution] if verdict.caution else []), verdict.text]
    cited = sorted({s.citation for s in verdict.sentences}) or range(1, len(verdict.passages) + 1)
    if verdict.passages:
        lines += ["", messages.SOURCES_HEADING]
        for n in cited:
            hit = verdict.passages[n - 1]
            lines.append(f"[{n}] {hit.title}（{hit.source}）")
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return _html.escape(text, quote=False).replace("*", r"\*").replace("_", r"\_").replace("`", r"\`").replace(
        "#", r"\#")


def markdown(verdict) -> str:
    lines = [f"**{_md_escape(verdict.support)}**\n"] if verdict.support else []
    for note in notes(verdict):
        lines.append(f"> {_md_escape(note)}\n")
    lines.append(_md_escape(verdict.text) + "\n")
    for i, hit in enumerate(verdict.passages, start=1):
        located = f" — {_md_escape(where(hit))}" if where(hit) else ""
        lines.append(f"**[{i}] {_md_escape(hit.title)}** — `{hit.source}`{located} (score {hit.score:.3f})\n")
        lines.append("> " + _md_escape(hit.text).replace("\n", "\n> ") + "\n")
    return "\n".join(lines)


def html(verdict) -> str:
    """A notebook's rendering: escaped throughout; only http(s) links are made links."""
    from .citations import safe_link

    esc = _html.escape
    parts = [f"<div class='qa-answer'><p><b>{esc(verdict.question)}</b></p>"]
    if verdict.support:
        parts.append(f"<p role='alert'><b>{esc(verdict.support)}</b></p>")
    for note in notes(verdict):
        parts.append(f"<p><i>{esc(note)}</i></p>")
    parts.append(f"<p>{esc(verdict.text)}</p><ol>")
    for hit in verdict.passages:
        located = f" <span class='qa-where'>{esc(where(hit))}</span>" if where(hit) else ""
        if safe_link(hit.url):
            located += f" <a href='{esc(hit.url)}' rel='noopener noreferrer'>{messages.LINK}</a>"
        parts.append(
            f"<li><b>{esc(hit.title)}</b> <code>{esc(hit.source)}</code>{located} ({hit.score:.3f})"
            f"<blockquote style='white-space:pre-wrap'>{esc(hit.text)}</blockquote></li>"
        )
    parts.append("</ol></div>")
    return "".join(parts)
