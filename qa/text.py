"""Text normalisation: scraping-noise removal with offsets kept, and script/width folding for matching.

`clean()` removes noise from a document but keeps its script and wording, and returns a map from each kept
character to its offset in the original text. `fold()` is the matching form of any text (question or passage):
Traditional→Simplified (OpenCC), full→half width (NFKC), lower case.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Ruby pinyin after a Han character: 協(xié)商, 時(shí)間, also with full-width parentheses.
# At least one tone-marked vowel is required, so "(如support@…)" or "(APP)" are never touched.
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü"
RUBY_RE = re.compile(
    r"(?<=[\u3400-\u9fff])[(（]"
    rf"(?=[a-z{_TONED}]*[{_TONED}])[a-z{_TONED}]{{1,7}}"
    r"[)）]"
)

# Line-level boilerplate, matched on the folded (Simplified, half-width, lower-case) line.
_BOILERPLATE_LINE = re.compile(
    r"|".join(
        [
            r"copyright|all rights reserved|版权所有|©",
            r"icp备|icp证|公安备|公网安备|[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]b2-\d",
            r"^(时间|来源|作者|发布时间|日期)\s*[:：]",
            r"关于我们|联系我们|网站地图|免责声明|友情链接|广告服务",
            r"我要纠错|【纠错】|责任编辑|阅读下一篇|上一篇|下一篇[:：]|分享本页|返回顶部|分享到|扫一扫",
            r"^字体\s*[:：]",
            r"内容侵权|删帖举报",
            r"正文\s*$",
            r"^\(\d+\)$",
            r"^[\d\s:/\-年月日.]+$",  # bare dates and times
        ]
    )
)
# A heading that starts a block of links to unrelated articles: the rest of the document is dropped.
_RELATED_BLOCK = re.compile(r"^(大家还在看|相关推荐|相关阅读|相关文章|猜你喜欢|热门推荐|推荐阅读|延伸阅读)\s*[:：]?\s*$")
_SENTENCE_PUNCT = re.compile(r"[。！？；：，,.!?;:、“”\"（）()]")


def _is_link_list(folded_line: str) -> bool:
    """'短信验证码 酒店vi设计 NBA直播 币安下载': short space-separated items and no punctuation."""
    parts = folded_line.split()
    return len(parts) >= 3 and all(len(p) <= 10 for p in parts) and not _SENTENCE_PUNCT.search(folded_line)


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    return _t2s().convert(text)


def fold(text: str) -> str:
    """Matching form: Simplified script, half width, lower case. Length may change; never shown."""
    return to_simplified(unicodedata.normalize("NFKC", text)).lower()


CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")
# Terminal control sequences a document may carry (a pasted terminal log, or planted to rewrite the screen):
# OSC `ESC ] … BEL|ESC \`, CSI `ESC [ … final`, other ESC sequences, C0/C1 controls except tab and newline.
TERMINAL_RE = re.compile(
    r"\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]?|\x1b[ -~]?|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def strip_control(text: str) -> str:
    return CONTROL_RE.sub("", _SURROGATE.sub("\ufffd", text))


def strip_terminal(text: str) -> str:
    """Text safe to print on a terminal: escape sequences and control characters (but tab and newline) removed."""
    return TERMINAL_RE.sub("", _SURROGATE.sub("\ufffd", text))


def decode_line(raw: bytes) -> tuple[str, bool]:
    """One line of unknown bytes → (text, whether it was not UTF-8). UTF-8, else GB18030 (GBK, GB2312), else UTF-8
    with U+FFFD for the bytes that are neither."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), True


def repair_surrogates(text: str) -> tuple[str, bool]:
    """A str holding undecodable bytes as lone surrogates (argv, file names: surrogateescape) → (decoded text, changed)."""
    if not _SURROGATE.search(text):
        return text, False
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that are not escaped bytes
        return _SURROGATE.sub("\ufffd", text), True
    return decode_line(raw)[0], True


_MARKUP_RE = re.compile(r"^\s*(#{1,6}\s*|>\s*)|\*\*")
_MD_HEADING = re.compile(r"^\s*(#{1,6})\s")
_CN_SECTION = re.compile(r"^[一二三四五六七八九十]+[、.．]")
_SUBSECTION = re.compile(r"^\d+\.\d+\s*\S")
_NUMBERED = re.compile(r"^\d+\s*[.、．]\s*\S")
_PART = re.compile(r"^第[一二三四五六七八九十百千零\d]+[编章节]")
_BOLD_LINE = re.compile(r"^\s*\*\*[^*]+\*\*\s*$")


def heading_level(raw_line: str, visible: str) -> int:
    """0 for body text; 1-6 for a section heading (Markdown #, 一、, 1.1, 1. short, 第X章, bold line)."""
    md = _MD_HEADING.match(raw_line)
    if len(visible) > 40 or (not md and visible.endswith(("。", "，", ",", "；", ";"))):
        return 0
    # Numbering decides the level before Markdown does: scraped pages put "#### 一、" above "**1.**".
    if _PART.match(visible) or _CN_SECTION.match(visible):
        return 1
    if _SUBSECTION.match(visible):
        return 2
    if len(visible) <= 24 and _NUMBERED.match(visible) and not _SENTENCE_PUNCT.search(visible[3:]):
        return 3
    if md:
        return len(md.group(1))
    if _BOLD_LINE.match(raw_line):
        return 3
    return 0


@dataclass(frozen=True)
class Cleaned:
    text: str  # noise removed, original script and wording
    offsets: tuple[int, ...]  # offsets[i] = index in the original of text[i]; one extra entry = end
    headings: tuple[tuple[int, int, str], ...] = ()  # (cleaned offset, level, heading text)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original-text offsets of the cleaned slice [start, end)."""
        if end <= start:
            return self.offsets[start], self.offsets[start]
        return self.offsets[start], self.offsets[end - 1] + 1


def clean(original: str) -> Cleaned:
    """Drop ruby pinyin, markup, boilerplate lines and related-link blocks; collapse whitespace; keep offsets."""
    out_chars: list[str] = []
    out_offsets: list[int] = []
    headings: list[tuple[int, int, str]] = []
    pos = 0
    for raw_line in original.splitlines(keepends=True):
        line_start = pos
        pos += len(raw_line)
        line = raw_line.rstrip("\r\n")
        kept = _kept_spans(line)
        visible = "".join(line[s:e] for s, e in kept).strip()
        if not visible:
            continue
        folded = fold(visible)
        if _RELATED_BLOCK.match(folded):
            break
        if _BOILERPLATE_LINE.search(folded) or _is_link_list(folded):
            continue
        if out_chars:
            out_chars.append("\n")
            out_offsets.append(line_start - 1 if line_start else 0)
        level = heading_level(line, visible)
        if level:
            headings.append((len(out_chars), level, visible))
        last_was_space = True
        for start, end in kept:
            for i in range(start, end):
                ch = line[i]
                if ch.isspace():
                    if last_was_space:
                        continue
                    ch = " "
                    last_was_space = True
                else:
                    last_was_space = False
                out_chars.append(ch)
                out_offsets.append(line_start + i)
        while out_chars and out_chars[-1] == " ":
            out_chars.pop()
            out_offsets.pop()
    end = (out_offsets[-1] + 1) if out_offsets else 0
    return Cleaned("".join(out_chars), tuple(out_offsets) + (end,), tuple(headings))


def _kept_spans(line: str) -> list[tuple[int, int]]:
    """Spans of the line left after removing ruby pinyin and Markdown emphasis/heading markers."""
    cuts = sorted(
        [(m.start(), m.end()) for m in RUBY_RE.finditer(line)]
        + [(m.start(), m.end()) for m in TERMINAL_RE.finditer(line)]
        + [(m.start(), m.end()) for m in _MARKUP_RE.finditer(line) if m.end() > m.start()]
    )
    spans, pos = [], 0
    for start, end in cuts:
        if start > pos:
            spans.append((pos, start))
        pos = max(pos, end)
    spans.append((pos, len(line)))
    return [(s, e) for s, e in spans if e > s]


def remove_ruby(text: str) -> str:
    return RUBY_RE.sub("", text)
