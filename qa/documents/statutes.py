"""Statutes: documents written in 第X条 articles are chunked one article per chunk (its 款 and 项 kept with it; an
article longer than the chunk maximum split between 款), with the heading path 编 › 章 › 节 under the law's title,
so a passage cites as 「《民法典》第六百七十九条」. Questions that name an article (「民法典第680条」,
「第六百八十条」) are matched to it by number (`article_refs`), Chinese or Arabic numerals alike."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .chunk import Chunk
    from .corpus import Document
    from ..text import Cleaned

_DIGITS = "零一二三四五六七八九"
_UNITS = {"十": 10, "百": 100, "千": 1000}
NUMERAL = r"[零〇一二两三四五六七八九十百千\d]+"
# An article starts a line: 第六百七十九条 (or 第679条), then its text after a space or directly.
ARTICLE_LINE = re.compile(rf"^\s*(第({NUMERAL})条(?:之[一二三四五六七八九十]+)?)(?=[\s　]|\S)")
_STRUCTURE = re.compile(rf"^\s*第{NUMERAL}(编|分编|章|节)")
_STRUCTURE_LEVEL = {"编": 1, "分编": 2, "章": 3, "节": 4}
ARTICLE_TITLE = re.compile(rf"^(.*?)(第({NUMERAL})条(?:之[一二三四五六七八九十]+)?)\s*$")
_QUESTION_REF = re.compile(rf"第\s*({NUMERAL})\s*条")
MIN_ARTICLES = 3  # fewer article lines than this: an ordinary text that quotes an article, not a statute
ARTICLE_SHARE = 0.15  # and at least this share of its lines (the laws in ../shared/data/laws: 0.23-0.59)


def parse_number(numeral: str) -> int | None:
    """'六百七十九' → 679, '679' → 679, '十' → 10, '一千二百六十' → 1260; None when it is not a number."""
    numeral = numeral.replace("〇", "零").replace("两", "二")
    if numeral.isdigit():
        return int(numeral)
    total, digit = 0, None
    for ch in numeral:
        if ch in _DIGITS:
            digit = _DIGITS.index(ch)
        elif ch in _UNITS:
            total += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
        else:
            return None
    return total + (digit or 0)


def cn_number(n: int) -> str:
    """679 → '六百七十九', 10 → '十', 1005 → '一千零五' (the way statutes number their articles)."""
    if n == 0:
        return "零"
    out, zero = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit:
            if zero:
                out += "零"
            out += ("" if (unit == "十" and digit == 1 and not out) else _DIGITS[digit]) + unit
            zero = False
        elif out:
            zero = True
    return out


def short_law_name(title: str) -> str:
    """'中华人民共和国民法典' → '民法典': the name a citation and a question use."""
    name = re.sub(r"^中华人民共和国", "", title.strip())
    return re.sub(r"[（(]\d{4}.*?[)）]$", "", name).strip() or title


def citation(title: str, article: str | None) -> str:
    """「《民法典》第六百七十九条」 for an article; the bare title otherwise."""
    if not article:
        return title
    law = short_law_name(ARTICLE_TITLE.match(title).group(1) if ARTICLE_TITLE.match(title) else title)
    return f"《{law}》{article}" if law else article


def record_article(title: str) -> str | None:
    """A record that is one article (STARD: title '中华人民共和国民法典第四百六十五条') → '第四百六十五条'."""
    match = ARTICLE_TITLE.match(title or "")
    return match.group(2) if match and match.group(1) else None


def article_number(article: str | None) -> int | None:
    match = re.match(rf"第({NUMERAL})条", article or "")
    return parse_number(match.group(1)) if match else None


def is_statute(cleaned: "Cleaned") -> bool:
    """At least three lines start an article, and they are a good part of the text (an article quoting a few
    articles on lines of their own stays prose)."""
    lines = [line for line in cleaned.text.split("\n") if line.strip()]
    articles = sum(1 for line in lines if ARTICLE_LINE.match(line))
    return articles >= max(MIN_ARTICLES, ARTICLE_SHARE * len(lines))


def _structure_level(heading: str, markdown_level: int) -> int:
    match = _STRUCTURE.match(heading)
    if match:
        return _STRUCTURE_LEVEL[match.group(1)]
    return min(markdown_level, 4)


_LAW_NAME = re.compile(r"(法|法典|条例|规定|办法|解释|决定|规则|细则|答复|批复)$")


def law_title(doc: "Document", text: str) -> str:
    """The law's name for citations: the document's first line when it reads as one (a PDF or DOCX without a
    title of its own is otherwise named after its file), else the document's title."""
    first = next((line.strip().lstrip("#").strip() for line in text.split("\n") if line.strip()), "")
    if first != doc.title and len(first) <= 40 and _LAW_NAME.search(first) and not ARTICLE_LINE.match(first):
        return first
    return doc.title


def chunk_statute(doc: "Document", cleaned: "Cleaned", *, maximum: int, first_id: int) -> list["Chunk"]:
    """One chunk per article; text before the first article (preamble) and between structures kept in pieces."""
    from .chunk import Chunk

    text = cleaned.text
    title = law_title(doc, text)
    # line starts, the heading levels Markdown gave them, and which lines are articles
    line_starts, pos = [], 0
    for line in text.split("\n"):
        line_starts.append((pos, line))
        pos += len(line) + 1
    md_levels = {offset: level for offset, level, _ in cleaned.headings}
    # (start, kind, payload): kind "heading" (level, text) / "article" (label) / "text"
    units: list[tuple[int, str, object]] = []
    for offset, line in line_starts:
        if not line.strip():
            continue
        article = ARTICLE_LINE.match(line)
        if article:
            units.append((offset, "article", article.group(1)))
        elif line.strip().lstrip("#").strip() == title:
            units.append((offset, "skip", None))  # the law's own title line: it is the chunk title already
        elif offset in md_levels:
            units.append((offset, "heading", (_structure_level(line.strip(), md_levels[offset]), line.strip())))
        else:
            units.append((offset, "text", None))
    chunks: list[Chunk] = []
    stack: list[tuple[int, str]] = []

    def emit(a: int, b: int, article: str | None, heading: tuple[str, ...]) -> None:
        while b > a and text[b - 1].isspace():
            b -= 1
        if b <= a:
            return
        start, end = cleaned.span(a, b)
        chunks.append(Chunk(chunk_id=first_id + len(chunks), doc_id=doc.doc_id, source=doc.source, title=title,
                            heading=heading, start=start, end=end, text=text[a:b], clean_start=a, clean_end=b,
                            line=doc.line, article=article))

    i = 0
    while i < len(units):
        offset, kind, payload = units[i]
        if kind == "heading":
            level, name = payload
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, name))
            i += 1
            continue
        if kind == "skip":
            i += 1
            continue
        # an article runs until the next article or heading; loose text until the next of either
        j = i + 1
        while j < len(units) and units[j][1] == "text":
            j += 1
        end = units[j][0] if j < len(units) else len(text)
        path = tuple(name for _, name in stack)
        article = payload if kind == "article" else None
        paragraphs = [u[0] for u in units[i:j]] + [end]
        pieces = _split_at_paragraphs(paragraphs, maximum)
        for n, (a, b) in enumerate(pieces):
            # a continuation names its article in the heading, so it is still found and cited as that article
            emit(a, b, article, path + ((f"{article}（续）",) if n and article else ()))
        i = j
    return chunks


def _split_at_paragraphs(bounds: list[int], maximum: int) -> list[tuple[int, int]]:
    """Group consecutive paragraphs [bounds[k], bounds[k+1]) into pieces of at most `maximum` characters
    (a single longer paragraph stays whole: cutting a 款 mid-sentence would lose its meaning)."""
    pieces, start = [], bounds[0]
    for k in range(1, len(bounds) - 1):
        if bounds[k + 1] - start > maximum and bounds[k] > start:
            pieces.append((start, bounds[k]))
            start = bounds[k]
    pieces.append((start, bounds[-1]))
    return pieces


def article_refs(question: str) -> list[int]:
    """Article numbers a question names: '民法典第680条' → [680], '第六百八十条' → [680]."""
    out = []
    for match in _QUESTION_REF.finditer(question):
        number = parse_number(match.group(1))
        if number:
            out.append(number)
    return out


# the law a question names before an article: 「《个人信息保护法》第八十条」, 「请问民法典第99999条」
_LAW_BEFORE = re.compile(r"(?:《([^》]{1,30})》|([\u4e00-\u9fff]{1,20}?(?:法典|法|条例|规定|解释|办法)))\s*$")
_ASKING = re.compile(r"^.*(?:请问|根据|依据|按照|依照|关于|想问|问下|问问|查询|查)")
# 第N条 in running text, Simplified or Traditional (a document quoting 「《民法典》第148條」 holds that article)
_MENTION = re.compile(rf"第\s*({NUMERAL})\s*[条條]")


def named_articles(question: str) -> list[tuple[int, str]]:
    """The articles a question names, as (number, how to cite it): 「民法典第99999条」 → [(99999, '《民法典》第99999条')]."""
    out = []
    for match in _QUESTION_REF.finditer(question):
        number = parse_number(match.group(1))
        if not number:
            continue
        law = _LAW_BEFORE.search(question, 0, match.start())
        name = (law.group(1) or _ASKING.sub("", law.group(2))).strip() if law else ""
        out.append((number, (f"《{short_law_name(name)}》" if name else "") + f"第{match.group(1)}条"))
    return out


def named_laws(question: str, titles: set[str]) -> set[str]:
    """The index's law titles whose short name (or full name) the question contains."""
    from ..text import fold

    folded = fold(question)
    return {t for t in titles if fold(short_law_name(t)) in folded or fold(t) in folded}


def law_of(title: str) -> str:
    """The law a passage belongs to: the title, less a trailing article of a one-article record."""
    match = ARTICLE_TITLE.match(title or "")
    return match.group(1) if match and match.group(1) else title


class ArticleTable:
    """Article number → the chunks that are that article, over one loaded index (built once, on first use)."""

    def __init__(self, chunks) -> None:
        self.by_number: dict[int, list[int]] = {}
        self.laws: set[str] = set()
        for i, chunk in enumerate(chunks):
            number = article_number(chunk.article)
            if number is not None:
                self.by_number.setdefault(number, []).append(i)
                self.laws.add(law_of(chunk.title))
        self.chunks = chunks
        self.mentioned: set[int] | None = None

    def lookup(self, question: str, ranked: list[int], limit: int) -> list[int]:
        """Chunks of the articles the question names, best first: of the law it names if it names one;
        else, when many laws have that article, only those retrieval ranked anyway (brought to the top)."""
        numbers = article_refs(question)
        if not numbers or not self.by_number:
            return []
        laws = named_laws(question, self.laws)
        found = []
        for number in numbers:
            ids = [i for i in self.by_number.get(number, ()) if not laws or law_of(self.chunks[i].title) in laws]
            if not laws and len({law_of(self.chunks[i].title) for i in ids}) > 3:
                ids = [i for i in ids if i in ranked]
            position = {i: n for n, i in enumerate(ranked)}
            found.extend(sorted(ids, key=lambda i: position.get(i, len(ranked) + i)))
        return list(dict.fromkeys(found))[:limit]

    def absent(self, question: str) -> list[str]:
        """Citations of the articles the question names that no document holds — neither as an article passage
        nor quoted in running text (「《民法典》第148條規定…」) — when it names no article they do hold: a question
        about 「民法典第99999条」 must not be answered with another article as if it were that one."""
        named = named_articles(question)
        if not named:
            return []
        held = set(self.by_number) | self._mentioned()
        if any(number in held for number, _ in named):
            return []
        return list(dict.fromkeys(cite for _, cite in named))

    def _mentioned(self) -> set[int]:
        """Article numbers quoted anywhere in the passages (read once, on the first question that needs it)."""
        if self.mentioned is None:
            self.mentioned = {n for chunk in self.chunks for m in _MENTION.finditer(chunk.text)
                              if (n := parse_number(m.group(1)))}
        return self.mentioned
